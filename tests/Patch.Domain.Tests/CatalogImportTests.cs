using Patch.Domain.Catalog;
using Patch.Domain.Settings;

namespace Patch.Domain.Tests;

/// <summary>Given a bulletin stream's events, when a vendor file says something, then these events (or none).</summary>
public class when_importing_a_bulletin
{
    private static readonly DateTimeOffset Jan = new(2024, 1, 9, 18, 0, 0, TimeSpan.Zero);

    private static BulletinFacts Facts(string title = "January CU", params string[] supersedes) =>
        new("Microsoft", "KB5034122", title, Severity.Critical, Jan, Jan, "desc", null, ["CVE-2024-20674"], supersedes, []);

    private static UpdateFacts Update(string id = "KB5034122-x64", string culture = "neutral", string product = "Windows 10 Version 22H2 for x64-based Systems", string? commandLine = "wusa.exe a.msu /quiet") =>
        new(id, product, "p1", culture, "a.msu", "https://example.test/a.msu", 10, null, RestartBehavior.Required, commandLine, "Security Update", "10.0.19045.3930", null, null, [], null);

    private static Bulletin Given(params object[] events)
    {
        var state = Bulletin.Create((BulletinImported)events[0]);
        foreach (var e in events.Skip(1))
        {
            state = e switch
            {
                BulletinRevised r => Bulletin.Apply(r, state),
                SoftwareUpdateAdded a => Bulletin.Apply(a, state),
                SoftwareUpdateRevised u => Bulletin.Apply(u, state),
                CustomSeverityAssigned c => Bulletin.Apply(c, state),
                CustomSeverityCleared c => Bulletin.Apply(c, state),
                _ => throw new ArgumentException(e.GetType().Name),
            };
        }
        return state;
    }

    private const string Id = "microsoft:KB5034122";

    [Fact]
    public void a_new_bulletin_starts_its_stream_with_its_updates()
    {
        var facts = Facts();
        var decision = CatalogImport.Decide(null, new ImportedBulletin(facts, [Update(), Update("KB5034122-x86")]), CoreSettings.Default, "cvrf:2024-Jan");

        Assert.Equal(BulletinImportKind.Added, decision.Kind);
        Assert.Collection(decision.Events,
            e => Assert.Equal(new BulletinImported(Id, facts, "cvrf:2024-Jan"), e),
            e => Assert.Equal("KB5034122-x64", Assert.IsType<SoftwareUpdateAdded>(e).Update.UpdateId),
            e => Assert.Equal("KB5034122-x86", Assert.IsType<SoftwareUpdateAdded>(e).Update.UpdateId));
        Assert.Equal(2, decision.UpdatesAdded);
    }

    [Fact]
    public void the_same_facts_again_append_nothing()
    {
        var facts = Facts();
        var state = Given(new BulletinImported(Id, facts, "s"), new SoftwareUpdateAdded(Id, Update(), "s"));

        var decision = CatalogImport.Decide(state, new ImportedBulletin(Facts(), [Update()]), CoreSettings.Default, "s2");

        Assert.Equal(BulletinImportKind.Unchanged, decision.Kind);
        Assert.Empty(decision.Events);
    }

    /// <summary>
    /// One KB in two monthly documents (as KB5066835 in October's and November's 2025): the month it was released names
    /// many vulnerabilities, the later one a few. Whatever the order: every CVE, the highest severity, and the release
    /// date and title of the month that names it most; importing either again appends nothing.
    /// </summary>
    [Fact]
    public void a_kb_in_two_monthly_documents_keeps_every_cve_and_its_own_months_date_and_title()
    {
        var oct = new DateTimeOffset(2025, 10, 14, 17, 0, 0, TimeSpan.Zero);
        var nov = new DateTimeOffset(2025, 11, 11, 18, 0, 0, TimeSpan.Zero);
        var october = new BulletinFacts("Microsoft", "KB5066835", "October CU", Severity.Critical, oct, oct.AddMonths(8), "oct", null,
            ["CVE-2025-0001", "CVE-2025-0002", "CVE-2025-0003"], ["KB5065426"], []);
        var november = new BulletinFacts("Microsoft", "KB5066835", "November CU", Severity.Important, nov, nov.AddMonths(8), "nov", null, ["CVE-2025-0009"], [], []);

        foreach (var (first, firstSource, second, secondSource) in new[] { (october, "cvrf:2025-Oct", november, "cvrf:2025-Nov"), (november, "cvrf:2025-Nov", october, "cvrf:2025-Oct") })
        {
            var state = Bulletin.Create(new BulletinImported("microsoft:KB5066835", first, firstSource));
            var decision = CatalogImport.Decide(state, new ImportedBulletin(second, []), CoreSettings.Default, secondSource);
            state = Bulletin.Apply(Assert.IsType<BulletinRevised>(Assert.Single(decision.Events)), state);
            Assert.Equal(["CVE-2025-0001", "CVE-2025-0002", "CVE-2025-0003", "CVE-2025-0009"], state.Facts.Cves.Order());
            Assert.Equal((Severity.Critical, "October CU", oct), (state.Facts.Severity, state.Facts.Title, state.Facts.Released!.Value));
            Assert.Equal(["KB5065426"], state.Facts.Supersedes);
            Assert.Empty(CatalogImport.Decide(state, new ImportedBulletin(october, []), CoreSettings.Default, "cvrf:2025-Oct").Events);
            Assert.Empty(CatalogImport.Decide(state, new ImportedBulletin(november, []), CoreSettings.Default, "cvrf:2025-Nov").Events);
        }
    }

    [Fact]
    public void a_changed_title_is_a_revision_that_names_the_field()
    {
        var state = Given(new BulletinImported(Id, Facts(), "s"));

        var decision = CatalogImport.Decide(state, new ImportedBulletin(Facts("January CU (re-released)"), []), CoreSettings.Default, "s2");

        var revised = Assert.IsType<BulletinRevised>(Assert.Single(decision.Events));
        Assert.Equal([new FieldChange("title", "January CU", "January CU (re-released)")], revised.Changes);
        Assert.Equal(BulletinImportKind.Revised, decision.Kind);
    }

    [Fact]
    public void new_supersedence_is_a_revision_of_the_superseding_bulletin()
    {
        var state = Given(new BulletinImported(Id, Facts(), "s"));

        var decision = CatalogImport.Decide(state, new ImportedBulletin(Facts("January CU", "KB5033372"), []), CoreSettings.Default, "s2");

        var revised = Assert.IsType<BulletinRevised>(Assert.Single(decision.Events));
        Assert.Equal([new FieldChange("supersedes", "", "KB5033372")], revised.Changes);
        Assert.Equal(["KB5033372"], Bulletin.Apply(revised, state).Facts.Supersedes);
    }

    [Fact]
    public void a_changed_update_is_revised_and_a_new_one_added_and_none_removed()
    {
        var state = Given(new BulletinImported(Id, Facts(), "s"), new SoftwareUpdateAdded(Id, Update(), "s"), new SoftwareUpdateAdded(Id, Update("KB5034122-arm64"), "s"));

        var decision = CatalogImport.Decide(state, new ImportedBulletin(Facts(), [Update(commandLine: "wusa.exe a.msu /quiet /norestart"), Update("KB5034122-x86")]), CoreSettings.Default, "s2");

        Assert.Collection(decision.Events,
            e =>
            {
                var revised = Assert.IsType<SoftwareUpdateRevised>(e);
                Assert.Equal([new FieldChange("commandLine", "wusa.exe a.msu /quiet", "wusa.exe a.msu /quiet /norestart")], revised.Changes);
            },
            e => Assert.Equal("KB5034122-x86", Assert.IsType<SoftwareUpdateAdded>(e).Update.UpdateId));
        var after = decision.Events.Aggregate(state, (s, e) => e is SoftwareUpdateRevised r ? Bulletin.Apply(r, s) : Bulletin.Apply((SoftwareUpdateAdded)e, s));
        Assert.Equal(3, after.Updates.Count);
        Assert.Equal(1, decision.UpdatesRevised);
        Assert.Equal(1, decision.UpdatesAdded);
    }

    [Fact]
    public void updates_outside_the_core_settings_are_kept_and_marked_excluded()
    {
        var settings = CoreSettings.Default with { ExcludedSoftwareReleases = ["Windows 10 Version 21H2 for x64-based Systems"] };

        var decision = CatalogImport.Decide(null, new ImportedBulletin(Facts(),
            [Update("a", "en-US"), Update("b", "de-DE"), Update("c"), Update("d", product: "Windows 10 Version 21H2 for x64-based Systems")]), settings, "s");

        var updates = decision.Events.OfType<SoftwareUpdateAdded>().ToDictionary(e => e.Update.UpdateId, e => e.Update.Excluded);
        Assert.Null(updates["a"]);
        Assert.Equal("culture 'de-DE' is not a managed language", updates["b"]);
        Assert.Null(updates["c"]);
        Assert.Equal("software release 'Windows 10 Version 21H2 for x64-based Systems' is excluded in core settings", updates["d"]);
        Assert.Equal(2, decision.UpdatesExcluded);
        var state = decision.Events.Skip(1).Aggregate(Bulletin.Create((BulletinImported)decision.Events[0]), (s, e) => Bulletin.Apply((SoftwareUpdateAdded)e, s));
        Assert.Equal(2, state.UpdateCount);
        Assert.Equal(2, state.ExcludedUpdateCount);
    }

    [Fact]
    public void a_settings_change_turns_into_an_update_revision_on_the_next_import()
    {
        var excluded = Update("b", "de-DE") with { Excluded = "culture 'de-DE' is not a managed language" };
        var state = Given(new BulletinImported(Id, Facts(), "s"), new SoftwareUpdateAdded(Id, excluded, "s"));

        var decision = CatalogImport.Decide(state, new ImportedBulletin(Facts(), [Update("b", "de-DE")]), CoreSettings.Default with { ManagedCultures = ["en-US", "de-DE"] }, "s");

        var revised = Assert.IsType<SoftwareUpdateRevised>(Assert.Single(decision.Events));
        Assert.Equal("excluded", Assert.Single(revised.Changes).Field);
        Assert.Null(revised.Update.Excluded);
    }
}
