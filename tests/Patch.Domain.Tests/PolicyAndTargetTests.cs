using Patch.Domain.Catalog;
using Patch.Domain.Computers;
using Patch.Domain.Policies;
using Patch.Domain.Settings;
using Patch.Domain.Targets;

namespace Patch.Domain.Tests;

public class when_staging_and_making_policies
{
    private static readonly DateTimeOffset Now = new(2024, 1, 10, 12, 0, 0, TimeSpan.Zero);
    private static readonly string ShaA = new('a', 64);

    private static UpdateFacts Update(string id, string? sha = null, string? excluded = null, string? commandLine = null, string file = "x.msu") =>
        new(id, "Windows 10 Version 22H2 for x64-based Systems", "p", "neutral", file, "https://vendor.test/" + file, 10, sha, RestartBehavior.Required, commandLine, null, null, null, null, [], excluded);

    private static Bulletin Bulletin(params UpdateFacts[] updates) =>
        new("microsoft:KB1", new BulletinFacts("Microsoft", "KB1", "January", Severity.Critical, null, null, "Vendor text", null, [], [], []), updates, null, "test");

    private static Bulletin Downloaded(Bulletin b, string updateId) => Catalog.Bulletin.Apply(new UpdateDownloaded(b.Id, updateId, ShaA, 10, "https://vendor.test/x", true, 1, Now), b);

    /// <summary>A download that finished after an import revised the update's package is the old package's: not recorded as the update's.</summary>
    [Fact]
    public void a_download_is_not_recorded_when_the_update_changed_while_it_ran()
    {
        var then = Bulletin(Update("a", sha: ShaA));
        Assert.Null(FileResolution.ChangedWhileDownloading(then, then, then.Updates[0]));
        var revised = Catalog.Bulletin.Apply(new SoftwareUpdateRevised(then.Id, Update("a", sha: new string('b', 64)), [new FieldChange("sha256", ShaA, new string('b', 64))], "s2"), then);
        Assert.Contains("changed this update's package while it downloaded", FileResolution.ChangedWhileDownloading(revised, then, then.Updates[0]));
        var renamed = Catalog.Bulletin.Apply(new SoftwareUpdateRevised(then.Id, Update("a", sha: ShaA, file: "y.msu"), [new FieldChange("fileName", "x.msu", "y.msu")], "s2"), then);
        Assert.NotNull(FileResolution.ChangedWhileDownloading(renamed, then, then.Updates[0]));
    }

    [Fact]
    public void staging_downloads_only_what_is_missing_and_skips_excluded_updates()
    {
        var b = Bulletin(Update("a"), Update("b"), Update("c", excluded: "culture 'de-DE' is not a managed language"));
        Assert.Equal(["a", "b"], StagingRules.Missing(b).Select(u => u.UpdateId));
        b = Downloaded(b, "a");
        Assert.Equal(["b"], StagingRules.Missing(b).Select(u => u.UpdateId));
        Assert.False(StagingRules.IsStaged(b));
        b = Downloaded(b, "b");
        Assert.True(StagingRules.IsStaged(b));
    }

    [Fact]
    public void a_failed_download_is_still_missing_and_a_revised_package_must_be_staged_again()
    {
        var b = Catalog.Bulletin.Apply(new UpdateDownloadFailed("microsoft:KB1", "a", "HTTP 404", "https://vendor.test/x", 1, Now), Bulletin(Update("a")));
        Assert.Equal(["a"], StagingRules.Missing(b).Select(u => u.UpdateId));
        b = Downloaded(b, "a");
        Assert.True(StagingRules.IsStaged(b));
        var revised = Catalog.Bulletin.Apply(new SoftwareUpdateRevised(b.Id, Update("a", sha: new string('b', 64)), [new FieldChange("sha256", null, new string('b', 64))], "s"), b);
        Assert.False(StagingRules.IsStaged(revised));
        var retitled = Catalog.Bulletin.Apply(new SoftwareUpdateRevised(b.Id, Update("a") with { SubType = "Security Only" }, [new FieldChange("subType", null, "Security Only")], "s"), b);
        Assert.True(StagingRules.IsStaged(retitled));
    }

    [Fact]
    public void verify_authenticity_refuses_an_update_without_a_hash_before_downloading()
    {
        Assert.NotNull(StagingRules.RefuseBeforeDownload(Update("a"), verifyAuthenticity: true));
        Assert.Null(StagingRules.RefuseBeforeDownload(Update("a"), verifyAuthenticity: false));
        Assert.Null(StagingRules.RefuseBeforeDownload(Update("a", sha: ShaA), verifyAuthenticity: true));
    }

    [Fact]
    public void the_deletion_interval_keeps_what_enabled_policies_need()
    {
        Assert.True(PackageRetention.Expired(ShaA, new HashSet<string>(), 7, Now, Now.AddDays(7)));
        Assert.False(PackageRetention.Expired(ShaA, new HashSet<string>(), 7, Now, Now.AddDays(6.9)));
        Assert.False(PackageRetention.Expired(ShaA, new HashSet<string> { ShaA }, 7, Now, Now.AddDays(30)));
        Assert.False(PackageRetention.Expired(ShaA, new HashSet<string>(), 0, Now, Now.AddDays(3000)));
    }

    private static readonly CreatePolicy FromBulletin = new(["microsoft:KB1"], null, null, null, true, null, null, null);

    [Fact]
    public void a_bulletin_not_fully_staged_is_refused_listing_the_missing_downloads()
    {
        var b = Downloaded(Bulletin(Update("a"), Update("b")), "a");
        var outcome = PolicyDecisions.Create("policy:1", FromBulletin, [b], VendorSettingsValues.Defaults, new HashSet<string>());
        Assert.Equal(RejectionKind.Conflict, outcome.Rejection!.Kind);
        Assert.Contains("KB1/b (Windows 10 Version 22H2 for x64-based Systems): not downloaded", outcome.Rejection.Detail);
        Assert.DoesNotContain("KB1/a", outcome.Rejection.Detail);
    }

    [Fact]
    public void a_policy_gets_every_update_defaults_and_the_vendor_program_settings()
    {
        var b = Downloaded(Downloaded(Bulletin(Update("a", commandLine: "wusa.exe a.msu /quiet"), Update("b", file: "b.msp")), "a"), "b");
        var vendor = VendorSettingsValues.Defaults with { Program = VendorSettingsValues.Defaults.Program with { TerminateAfterMinutes = 30 } };
        var created = Assert.IsType<SoftwareUpdatePolicyCreated>(Assert.Single(PolicyDecisions.Create("policy:1", FromBulletin, [b], vendor, new HashSet<string>()).Events));
        Assert.Equal("KB1", created.Name);
        Assert.Equal("Vendor text", created.Description);
        Assert.Equal(["wusa.exe a.msu /quiet", "msiexec.exe /p \"b.msp\" /qn /norestart"], created.Updates.Select(u => u.CommandLine));
        Assert.All(created.Updates, u => Assert.Equal(ShaA, u.PackageSha256));
        Assert.Equal([Targets.Targets.RequiringUpdates], created.Targets);
        Assert.Equal(30, created.Program.TerminateAfterMinutes);
    }

    /// <summary>
    /// Disable Superseded: a replacement in another language reaches other computers — an en-US update does not replace a
    /// de-DE one, nor a de-DE one a neutral one — while a language-neutral replacement, or one in the same language, does.
    /// </summary>
    [Theory]
    [InlineData("de-DE", "en-US", false)]
    [InlineData("neutral", "de-DE", false)]
    [InlineData("de-DE", "de-DE", true)]
    [InlineData("de-DE", "neutral", true)]
    public void a_replacement_disables_an_advertisement_only_for_the_same_language(string oldCulture, string newCulture, bool disabled)
    {
        static Bulletin Of(string number, UpdateFacts update) => Catalog.Bulletin.Apply(new UpdateDownloaded($"microsoft:{number}", update.UpdateId, ShaA, 10, "https://vendor.test/x", true, 1, Now),
            new Bulletin($"microsoft:{number}", new BulletinFacts("Microsoft", number, "t", Severity.Critical, null, null, null, null, [], [], []), [update], null, "test"));
        var old = Of("KB1", Update("old") with { Culture = oldCulture });
        var replacement = Of("KB2", Update("new") with { Culture = newCulture, Supersedes = ["KB1"] });
        SoftwareUpdatePolicy Policy(string id, Bulletin b) => SoftwareUpdatePolicy.Create((SoftwareUpdatePolicyCreated)PolicyDecisions.Create(id,
            FromBulletin with { BulletinIds = [b.Id] }, [b], VendorSettingsValues.Defaults, new HashSet<string>()).Events[0]);
        var oldPolicy = Policy("policy:old", old);
        var bulletins = new Dictionary<string, Bulletin> { [old.Id] = old, [replacement.Id] = replacement };
        var found = PolicyMaintenance.Superseded(oldPolicy, [oldPolicy, Policy("policy:new", replacement)], bulletins);
        Assert.Equal(disabled, found.Count == 1);
    }

    [Fact]
    public void edits_are_checked_and_a_repeat_is_a_no_op_and_a_delivered_policy_is_retired()
    {
        var b = Downloaded(Bulletin(Update("a")), "a");
        var created = (SoftwareUpdatePolicyCreated)PolicyDecisions.Create("policy:1", FromBulletin, [b], VendorSettingsValues.Defaults, new HashSet<string>()).Events[0];
        var policy = SoftwareUpdatePolicy.Create(created);
        Assert.True(PolicyDecisions.Edit(policy, "policy:1", new EditPolicy(null, null, null, ["target:unknown"], null), new HashSet<string>()).IsRejected);
        Assert.True(PolicyDecisions.Edit(policy, "policy:1", new EditPolicy(null, null, null, null, [new PolicyUpdateChoice("a", Enabled: false)]), new HashSet<string>()).IsRejected);
        Assert.Empty(PolicyDecisions.Edit(policy, "policy:1", new EditPolicy(policy.Name, null, null, null, null), new HashSet<string>()).Events);
        Assert.Empty(PolicyDecisions.SetEnabled(policy, "policy:1", true).Events);
        Assert.IsType<SoftwareUpdatePolicyDeleted>(Assert.Single(PolicyDecisions.Delete(policy, "policy:1", everDelivered: false).Events));
        Assert.IsType<SoftwareUpdatePolicyRetired>(Assert.Single(PolicyDecisions.Delete(policy, "policy:1", everDelivered: true).Events));
        var deleted = SoftwareUpdatePolicy.Apply(new SoftwareUpdatePolicyDeleted("policy:1"), policy);
        Assert.False(deleted.Distributes);
        Assert.Equal(RejectionKind.NotFound, PolicyDecisions.SetEnabled(deleted, "policy:1", true).Rejection!.Kind);
    }
}

public class when_computing_target_membership
{
    private static Computer Pc(string name, string os = "Windows 10 Enterprise", bool agent = false, string? version = null, string[]? products = null, string[]? required = null) =>
        new(Computer.StreamId(name), name, "corp", os, null, agent, version, products ?? [], required ?? []);

    private static readonly Computer[] Fleet =
    [
        Pc("WS-001", agent: true, version: "0.1.0", required: ["u1"]),
        Pc("WS-002", agent: true, version: "0.0.9", products: ["Microsoft Office 2016"]),
        Pc("WS-003", os: "Windows 11 Pro"),
        Pc("SRV-01", os: "Windows Server 2022", agent: true, version: "0.1.0", required: ["u2"]),
    ];

    private static IEnumerable<string> Members(string target, Target? custom = null, string[]? policyUpdates = null, string[]? exclusions = null) =>
        Targets.Targets.Members([target], custom is null ? new Dictionary<string, Target>() : new() { [custom.Id] = custom }, Fleet, policyUpdates ?? [], "0.1.0", exclusions ?? []).Select(c => c.Name);

    [Fact]
    public void built_in_targets_follow_the_agent_and_the_requirements()
    {
        Assert.Equal(["SRV-01", "WS-001", "WS-002"], Members(Targets.Targets.AllWithAgent));
        Assert.Equal(["WS-003"], Members(Targets.Targets.WithoutAgent));
        Assert.Equal(["WS-002"], Members(Targets.Targets.AgentNeedsUpgrade));
        Assert.Equal(["SRV-01", "WS-001"], Members(Targets.Targets.RequiringUpdates, policyUpdates: ["u1", "u2"]));
        Assert.Equal(["SRV-01"], Members(Targets.Targets.RequiringUpdatePrefix + "u2"));
    }

    [Fact]
    public void custom_rules_combine_criteria_and_exclusions_win()
    {
        var target = new Target("target:1", "Clients", [new TargetRule(NamePattern: "ws-00?"), new TargetRule(OperatingSystemContains: "server")], [new TargetRule(Product: "Microsoft Office 2016")], false);
        Assert.Equal(["SRV-01", "WS-001", "WS-003"], Members("target:1", target));
        Assert.Equal(["SRV-01", "WS-003"], Members("target:1", target, exclusions: ["ws-001"]));
        Assert.Empty(Members("target:1", target with { Deleted = true }));
        Assert.Equal(["WS-003"], Members("target:2", new Target("target:2", "Explicit", [new TargetRule(Computers: ["ws-003", "nobody"])], [], false)));
    }

    [Fact]
    public void a_target_needs_a_name_and_real_rules()
    {
        Assert.True(Target.DecideDefine(null, "target:1", "", [new TargetRule(NamePattern: "*")], null).IsRejected);
        Assert.True(Target.DecideDefine(null, "target:1", "All", [], null).IsRejected);
        Assert.True(Target.DecideDefine(null, "target:1", "All", [new TargetRule()], null).IsRejected);
        Assert.IsType<TargetDefined>(Assert.Single(Target.DecideDefine(null, "target:1", "All", [new TargetRule(NamePattern: "*")], null).Events));
    }

    [Fact]
    public void discovered_computers_are_validated()
    {
        Assert.True(Computer.Decide(null, "bad name!", null, null, null).IsRejected);
        Assert.True(Computer.Decide(null, "WS-9", null, null, "00:11").IsRejected);
        var discovered = Assert.IsType<ComputerDiscovered>(Assert.Single(Computer.Decide(null, "WS-9", "corp", "Windows 10", "00-1a-2b-3c-4d-5e").Events));
        Assert.Equal("00:1A:2B:3C:4D:5E", discovered.MacAddress);
        Assert.Empty(Computer.Decide(Computer.Create(discovered), "WS-9", "corp", "Windows 10", "00:1A:2B:3C:4D:5E").Events);
    }
}
