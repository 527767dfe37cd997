using Patch.Domain.AgentConfigurations;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Cycle;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Policies;
using Patch.Domain.Settings;
using static Patch.Domain.Cycle.UpdateStatus;

namespace Patch.Domain.Tests;

public class when_planning_an_install_cycle
{
    private const string W10 = "Windows 10 Version 22H2 for x64-based Systems";
    private static readonly DateTimeOffset Noon = new(2024, 3, 5, 12, 0, 0, TimeSpan.Zero);

    private static AssignedUpdate Update(string id, string kb, RestartBehavior restart = RestartBehavior.NotRequired, string product = W10, int revision = 1,
        bool reinstall = false, string? fixedBuild = null, params string[] supersedes) =>
        new($"ms:{kb}", kb, id, product, "neutral", null, restart, new string('a', 64), 10, $"{kb}.msu", "/agent/v1/packages/x", $"wusa {kb}.msu", fixedBuild, null, null, supersedes,
            revision, reinstall);

    private static Assignments Assign(IReadOnlyList<AssignedUpdate> updates, IReadOnlyList<SupersedingUpdate>? superseders = null, ScheduleMode mode = ScheduleMode.AgentDefault) =>
        new("computer:a", AgentConfiguration.DefaultId, AgentConfiguration.DefaultName, AgentConfigurationSettings.Defaults, [],
            [new AssignedPolicy("policy:1", "P", mode, null, false, new AssignedProgram(RunWithRights.System, null, null, ProgramCanRun.WhetherOrNotUserLoggedOn, 60), updates)],
            superseders ?? []);

    private static ComputerFacts Facts(params string[] kbs) => new("10.0.19045.3930", "x64", ["en-US"], [W10], kbs.ToHashSet(StringComparer.OrdinalIgnoreCase));

    private static LedgerEntry Entry(string id, string status, DateTimeOffset? lastApplied = null, int failures = 0, int revision = 1, int? installedRevision = null) =>
        new(id, "ms:x", "x", "policy:1", status, lastApplied, failures, revision, installedRevision, Noon);

    private static Dictionary<string, LedgerEntry> Ledger(params LedgerEntry[] entries) => entries.ToDictionary(e => e.UpdateId);

    [Fact]
    public void chaining_puts_updates_that_need_no_restart_first_and_keeps_the_order_within_each_kind()
    {
        var updates = new[]
        {
            Update("r1", "KB1", RestartBehavior.Required), Update("n1", "KB2"), Update("m1", "KB3", RestartBehavior.Maybe), Update("n2", "KB4"),
            Update("u1", "KB5", RestartBehavior.Unknown), Update("r2", "KB6", RestartBehavior.Required),
        };
        var evaluated = InstallCycle.Evaluate(Assign(updates), Facts(), Ledger());
        Assert.All(evaluated, e => Assert.True(e.NeedsInstall));
        Assert.Equal(["n1", "n2", "u1", "m1", "r1", "r2"], InstallCycle.Chain(evaluated).Select(e => e.Update.UpdateId));
    }

    [Fact]
    public void evaluation_gives_the_seed_statuses_with_the_shared_rule_engine()
    {
        var updates = new[]
        {
            Update("mine", "KB100"),
            Update("other-os", "KB200", product: "Windows 11 Version 23H2 for x64-based Systems"),
            Update("already", "KB300"),
            Update("old", "KB400"),
        };
        // KB500 supersedes KB400 and applies here, so KB400 is superseded, not missing.
        var superseder = new SupersedingUpdate("ms:KB500", "KB500", "newer", W10, "neutral", null, null, null, null, ["KB400"]);
        var byId = InstallCycle.Evaluate(Assign(updates, [superseder]), Facts("KB300"), Ledger()).ToDictionary(e => e.Update.UpdateId);
        Assert.Equal(InstallationScheduled, byId["mine"].Status);
        Assert.Equal(NotApplicable, byId["other-os"].Status);
        Assert.Equal(Installed, byId["already"].Status);
        Assert.Null(byId["already"].LastApplied);   // another source installed it: Last Applied "Never"
        Assert.Equal(Superseded, byId["old"].Status);
        Assert.Equal(["mine"], byId.Values.Where(e => e.NeedsInstall).Select(e => e.Update.UpdateId));
    }

    [Fact]
    public void an_update_removed_after_install_is_installed_again_with_a_fresh_count_of_attempts()
    {
        var installedAt = Noon.AddDays(-3);
        var e = Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100")]), Facts(), Ledger(Entry("u", Installed, installedAt, failures: 0, installedRevision: 1))));
        Assert.True(e.NeedsInstall);
        Assert.Equal(InstallationScheduled, e.Status);
        Assert.Equal(installedAt, e.LastApplied);
        Assert.Equal(0, e.Failures);
    }

    [Fact]
    public void a_revision_marked_for_reinstall_is_installed_again_though_its_kb_is_present()
    {
        var ledger = Ledger(Entry("u", Installed, Noon.AddDays(-30), installedRevision: 1));
        Assert.True(Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100", revision: 2, reinstall: true)]), Facts("KB100"), ledger)).NeedsInstall);
        // A revision without the mark, or the revision already installed, changes nothing.
        Assert.False(Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100", revision: 2)]), Facts("KB100"), ledger)).NeedsInstall);
        Assert.False(Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100", revision: 2, reinstall: true)]), Facts("KB100"),
            Ledger(Entry("u", Installed, Noon, installedRevision: 2)))).NeedsInstall);
        // Found installed by another source at revision 1: a marked revision 2 is installed too.
        Assert.True(Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100", revision: 2, reinstall: true)]), Facts("KB100"),
            Ledger(Entry("u", Installed, null, installedRevision: 1)))).NeedsInstall);
    }

    [Fact]
    public void retry_accounting_reschedules_until_the_reinstallation_attempts_are_spent()
    {
        // Two reinstallation attempts: three tries in all.
        Assert.Equal(FailedRescheduled, InstallCycle.StatusAfterFailure(1, 2));
        Assert.Equal(FailedRescheduled, InstallCycle.StatusAfterFailure(2, 2));
        Assert.Equal(FailedToInstall, InstallCycle.StatusAfterFailure(3, 2));
        Assert.Equal(FailedToInstall, InstallCycle.StatusAfterFailure(1, 0));

        var rescheduled = Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100")]), Facts(), Ledger(Entry("u", FailedRescheduled, failures: 2))));
        Assert.True(rescheduled.NeedsInstall);
        Assert.Equal(2, rescheduled.Failures);
        var spent = Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100")]), Facts(), Ledger(Entry("u", FailedToInstall, failures: 3))));
        Assert.False(spent.NeedsInstall);
        Assert.Equal(FailedToInstall, spent.Status);
        // A new revision of the update gets a fresh start.
        var revised = Assert.Single(InstallCycle.Evaluate(Assign([Update("u", "KB100", revision: 2)]), Facts(), Ledger(Entry("u", FailedToInstall, failures: 3))));
        Assert.True(revised.NeedsInstall);
        Assert.Equal(0, revised.Failures);
    }

    [Fact]
    public void a_person_or_the_default_schedule_installs_only_default_schedule_updates_and_a_policy_schedule_only_its_own()
    {
        var own = Assign([Update("u", "KB100")], mode: ScheduleMode.Own);
        var e = Assert.Single(InstallCycle.Evaluate(own, Facts(), Ledger()));
        Assert.False(InstallCycle.InScope(e, CycleTrigger.User, null));
        Assert.False(InstallCycle.InScope(e, CycleTrigger.Scheduled, null));
        Assert.True(InstallCycle.InScope(e, CycleTrigger.PolicySchedule, "policy:1"));
        Assert.False(InstallCycle.InScope(e, CycleTrigger.PolicySchedule, "policy:2"));
    }

    [Fact]
    public void installs_wait_for_a_window_and_a_restart_after_an_overrun_waits_for_the_next_one()
    {
        var nightly = new MaintenanceWindowSchedule("UTC", new TimeOnly(22, 0), TimeSpan.FromHours(2), new Recurrence(RecurrenceKind.Daily));
        IReadOnlyList<MaintenanceWindowSchedule> windows = [nightly];
        Assert.False(InstallCycle.MayInstall(Noon, windows, overrideWindows: false));
        Assert.True(InstallCycle.MayInstall(Noon, windows, overrideWindows: true));
        Assert.True(InstallCycle.MayInstall(Noon, [], overrideWindows: false));
        Assert.True(InstallCycle.MayInstall(Noon.AddHours(11), windows, overrideWindows: false));
        Assert.Equal(Noon.AddHours(10), InstallCycle.NextInstallChance(Noon, windows));

        var endOfCycle = new RebootDefaults(true, RebootMode.EndOfCycle, null);
        // Installs that ended inside the window restart at once; ones that overran it restart when the next window opens.
        Assert.Equal(Noon.AddHours(11), InstallCycle.RestartAt(Noon.AddHours(11), endOfCycle, windows, false));
        Assert.Equal(Noon.AddHours(34), InstallCycle.RestartAt(Noon.AddHours(14.5), endOfCycle, windows, false));
        Assert.Equal(Noon.AddHours(14.5), InstallCycle.RestartAt(Noon.AddHours(14.5), endOfCycle, windows, true));
        Assert.Null(InstallCycle.RestartAt(Noon, endOfCycle with { Mode = RebootMode.Never }, windows, false));
        Assert.Null(InstallCycle.RestartAt(Noon, endOfCycle with { AllowReboot = false }, [], false));
        // Scheduled: the reboot schedule's next time (03:00), moved into the window when it falls outside.
        var scheduled = new RebootDefaults(true, RebootMode.Scheduled, new PolicySchedule("UTC", new TimeOnly(3, 0), new Recurrence(RecurrenceKind.Daily)));
        Assert.Equal(Noon.AddHours(15), InstallCycle.RestartAt(Noon, scheduled, [], false));
        Assert.Equal(Noon.AddHours(34), InstallCycle.RestartAt(Noon, scheduled, windows, false));
    }

    [Fact]
    public void a_schedule_is_due_once_its_time_passed_since_the_last_check()
    {
        var daily3 = new PolicySchedule("Europe/Berlin", new TimeOnly(3, 0), new Recurrence(RecurrenceKind.Daily));
        var checkedAt = new DateTimeOffset(2024, 3, 5, 1, 0, 0, TimeSpan.Zero);   // 02:00 in Berlin
        Assert.False(InstallCycle.IsDue([daily3], checkedAt, checkedAt.AddMinutes(59)));
        Assert.True(InstallCycle.IsDue([daily3], checkedAt, checkedAt.AddMinutes(60)));
        Assert.False(InstallCycle.IsDue([], checkedAt, checkedAt.AddDays(2)));
    }

    [Fact]
    public void deferrals_are_bounded_by_the_configuration()
    {
        var n = AgentConfigurationSettings.Defaults.Notifications with { DeferralChoicesMinutes = [15, 60], MaxDeferrals = 2 };
        Assert.Null(InstallCycle.RefuseDeferral(n, 15, 0));
        Assert.Equal("Not a deferral choice", InstallCycle.RefuseDeferral(n, 30, 0)!.Title);
        Assert.Equal("No deferrals left", InstallCycle.RefuseDeferral(n, 60, 2)!.Title);
        Assert.Equal("Deferral not allowed", InstallCycle.RefuseDeferral(n with { AllowDefer = false }, 15, 0)!.Title);
    }

    [Theory]
    [InlineData(0, InstallOutcome.Succeeded)]
    [InlineData(3010, InstallOutcome.RestartRequired)]
    [InlineData(1641, InstallOutcome.RestartInitiated)]
    [InlineData(0x00240006, InstallOutcome.AlreadyInstalled)]
    [InlineData(1603, InstallOutcome.Failed)]
    [InlineData(-2145124329, InstallOutcome.Failed)]   // 0x80240017 WU_E_NOT_APPLICABLE
    [InlineData(1, InstallOutcome.Failed)]
    public void installer_exit_codes_map_to_outcomes(int code, InstallOutcome outcome) => Assert.Equal(outcome, InstallerExitCodes.Classify(code));

    [Fact]
    public void the_magic_packet_is_six_ff_bytes_and_sixteen_copies_of_the_mac()
    {
        var packet = WakeOnLan.MagicPacket("00-1a-2b-3c-4d-5e");
        Assert.Equal(102, packet.Length);
        Assert.All(packet[..6], b => Assert.Equal(0xFF, b));
        for (var i = 0; i < 16; i++) Assert.Equal([0x00, 0x1A, 0x2B, 0x3C, 0x4D, 0x5E], packet[(6 + 6 * i)..(12 + 6 * i)]);
        Assert.Throws<FormatException>(() => WakeOnLan.MagicPacket("00:1A:2B"));
        var daily = new PolicySchedule("UTC", new TimeOnly(12, 5), new Recurrence(RecurrenceKind.Daily));
        Assert.Equal(Noon.AddMinutes(5), WakeOnLan.RunToWakeFor([daily], Noon, TimeSpan.FromMinutes(10)));
        Assert.Null(WakeOnLan.RunToWakeFor([daily], Noon, TimeSpan.FromMinutes(4)));
    }
}

public class when_deciding_agent_configurations
{
    private static readonly HashSet<string> Known = ["target:servers"];

    [Fact]
    public void the_default_exists_from_the_start_and_its_first_edit_begins_its_stream()
    {
        var outcome = AgentConfiguration.DecideEdit(null, AgentConfiguration.DefaultId, null, AgentConfigurationSettings.Defaults with { ReinstallationAttempts = 5 }, null, null, Known);
        Assert.IsType<AgentConfigurationCreated>(outcome.Events[0]);
        var edited = Assert.IsType<AgentConfigurationEdited>(outcome.Events[1]);
        Assert.Equal([new FieldChange("reinstallationAttempts", "3", "5")], edited.Changes);
        Assert.Same(Outcome.Nothing, AgentConfiguration.DecideEdit(null, AgentConfiguration.DefaultId, null, AgentConfigurationSettings.Defaults, null, null, Known));
    }

    [Fact]
    public void a_custom_message_holds_at_most_128_characters()
    {
        var settings = AgentConfigurationSettings.Defaults;
        Assert.Empty((settings with { Notifications = settings.Notifications with { CustomMessage = new string('x', 128) } }).Problems());
        Assert.Contains((settings with { Notifications = settings.Notifications with { CustomMessage = new string('x', 129) } }).Problems(),
            p => p.StartsWith("notifications.customMessage", StringComparison.Ordinal));
        Assert.Equal("New software update/s ready to apply", settings.Notifications.Message);
        Assert.Contains((settings with { ReinstallationAttempts = 11 }).Problems(), p => p.StartsWith("reinstallationAttempts", StringComparison.Ordinal));
        Assert.Contains((settings with { InstallSchedules = [new PolicySchedule("Mars/Base", new TimeOnly(1, 0), new Recurrence(RecurrenceKind.Daily))] }).Problems(),
            p => p.StartsWith("installSchedules[0].timeZone", StringComparison.Ordinal));
    }

    [Fact]
    public void the_clone_with_the_lowest_priority_that_targets_the_computer_wins_else_the_default()
    {
        var a = new AgentConfiguration("agent-config:a", "A", false, AgentConfigurationSettings.Defaults, ["target:servers"], 20, false);
        var b = new AgentConfiguration("agent-config:b", "B", false, AgentConfigurationSettings.Defaults, ["builtin:all-with-agent"], 10, false);
        var all = new[] { AgentConfiguration.Default, a, b };
        Assert.Equal("B", AgentConfiguration.EffectiveFor(all, _ => true).Name);
        Assert.Equal("A", AgentConfiguration.EffectiveFor(all, t => t == "target:servers").Name);
        Assert.True(AgentConfiguration.EffectiveFor(all, _ => false).IsDefault);
        Assert.True(AgentConfiguration.EffectiveFor([a with { Deleted = true }], _ => true).IsDefault);
        // Equal priorities: the name decides, so the choice never depends on load order.
        Assert.Equal("A", AgentConfiguration.EffectiveFor([b with { Priority = 20 }, a], _ => true).Name);
    }

    [Fact]
    public void the_default_cannot_be_retargeted_renamed_or_deleted_and_clones_need_targets()
    {
        Assert.Equal("The default policy cannot be retargeted",
            AgentConfiguration.DecideEdit(null, AgentConfiguration.DefaultId, null, null, ["target:servers"], null, Known).Rejection!.Title);
        Assert.Contains("keeps its name", AgentConfiguration.DecideEdit(null, AgentConfiguration.DefaultId, "Mine", null, null, null, Known).Rejection!.Detail);
        Assert.Equal(RejectionKind.Conflict, AgentConfiguration.DecideDelete(null, AgentConfiguration.DefaultId).Rejection!.Kind);
        Assert.Contains("unknown target 'target:nope'", AgentConfiguration.DecideClone(null, AgentConfiguration.DefaultId, "agent-config:c", "C", null, ["target:nope"], 1, Known).Rejection!.Detail);
        var clone = Assert.IsType<AgentConfigurationCreated>(Assert.Single(AgentConfiguration.DecideClone(null, AgentConfiguration.DefaultId, "agent-config:c", null, null, ["target:servers"], null, Known).Events));
        Assert.Equal("Copy of Default Software Update Agent Configuration Policy", clone.Name);
        Assert.Equal(100, clone.Priority);
        Assert.Equal(AgentConfiguration.DefaultId, clone.ClonedFrom);
    }
}

public class when_a_revision_reinstall_keeps_failing
{
    [Fact]
    public void it_follows_the_same_retry_limit_as_any_install()
    {
        var update = new AssignedUpdate("ms:KB100", "KB100", "u", "Windows 10 Version 22H2 for x64-based Systems", "neutral", null, RestartBehavior.NotRequired, new string('a', 64), 1,
            "a.msu", "/x", "wusa a.msu", null, null, null, [], Revision: 2, ReinstallOnRevision: true);
        var assignments = new Assignments("computer:a", AgentConfiguration.DefaultId, AgentConfiguration.DefaultName, AgentConfigurationSettings.Defaults, [],
            [new AssignedPolicy("policy:1", "P", ScheduleMode.AgentDefault, null, false, new AssignedProgram(RunWithRights.System, null, null, ProgramCanRun.WhetherOrNotUserLoggedOn, 60), [update])], []);
        var facts = new ComputerFacts("10.0.19045.3930", "x64", ["en-US"], ["Windows 10 Version 22H2 for x64-based Systems"], new HashSet<string> { "KB100" });
        LedgerEntry Entry(string status, int failures) => new("u", "ms:KB100", "KB100", "policy:1", status, DateTimeOffset.UnixEpoch, failures, 2, 1, DateTimeOffset.UnixEpoch);
        var rescheduled = Assert.Single(InstallCycle.Evaluate(assignments, facts, new Dictionary<string, LedgerEntry> { ["u"] = Entry(FailedRescheduled, 1) }));
        Assert.True(rescheduled.NeedsInstall);
        Assert.Equal(1, rescheduled.Failures);
        var spent = Assert.Single(InstallCycle.Evaluate(assignments, facts, new Dictionary<string, LedgerEntry> { ["u"] = Entry(FailedToInstall, 4) }));
        Assert.False(spent.NeedsInstall);
        Assert.Equal(FailedToInstall, spent.Status);
    }
}

public class when_a_restart_is_announced
{
    [Fact]
    public void the_pending_restart_warning_delays_it_by_its_minutes_and_the_windows_still_hold()
    {
        var noon = new DateTimeOffset(2024, 3, 5, 12, 0, 0, TimeSpan.Zero);
        var settings = AgentConfigurationSettings.Defaults;   // end of cycle, warn 15 minutes before
        Assert.Equal(noon.AddMinutes(15), InstallCycle.RestartAfterWarning(noon, settings, [], false));
        Assert.Equal(noon, InstallCycle.RestartAfterWarning(noon, settings with { Notifications = settings.Notifications with { PendingRestartWarningMinutes = null } }, [], false));
        // A window that closes in ten minutes: the warned restart waits for the next one.
        var window = new MaintenanceWindowSchedule("UTC", new TimeOnly(11, 10), TimeSpan.FromHours(1), new Recurrence(RecurrenceKind.Daily));
        Assert.Equal(noon.AddHours(23).AddMinutes(10), InstallCycle.RestartAfterWarning(noon, settings, [window], false));
    }
}
