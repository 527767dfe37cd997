using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Inventory.Products;

namespace Patch.Domain.Tests;

public class when_analysing_a_computer
{
    private const string Win10 = "Windows 10 Version 22H2 for x64-based Systems";

    private static CatalogUpdate Cu(string kb, string fixedBuild, string? supersedes = null, string product = Win10, string culture = "neutral", string? applicability = null, string? installed = null) =>
        new($"microsoft:{kb}", kb, new UpdateFacts($"{kb}-x64", product, null, culture, null, null, null, null, RestartBehavior.Required, null, "Security Update",
            fixedBuild, applicability, installed, supersedes is null ? [] : [supersedes], null));

    private static ComputerFacts Pc(string version = "10.0.19045", string[]? kbs = null, string[]? releases = null, string[]? cultures = null) =>
        new(version, "x64", cultures ?? ["en-US"], releases ?? [Win10], (kbs ?? []).ToHashSet());

    private static readonly CatalogUpdate Dec = Cu("KB5033372", "10.0.19045.3803");
    private static readonly CatalogUpdate Jan = Cu("KB5034122", "10.0.19045.3930", "KB5033372");
    private static readonly CatalogUpdate Feb = Cu("KB5034763", "10.0.19045.4046", "KB5034122");
    private static readonly CatalogUpdate Server = Cu("KB5034129", "10.0.20348.2227", product: "Windows Server 2022");

    private static Dictionary<string, UpdateState> States(ComputerFacts pc, params CatalogUpdate[] catalog) =>
        UpdateStates.For(catalog, pc).ToDictionary(p => p.Key.BulletinNumber, p => p.Value);

    [Fact]
    public void only_the_newest_of_a_chain_is_missing_and_other_products_do_not_apply()
    {
        var states = States(Pc(), Dec, Jan, Feb, Server);
        Assert.Equal(UpdateState.Superseded, states["KB5033372"]);
        Assert.Equal(UpdateState.Superseded, states["KB5034122"]);
        Assert.Equal(UpdateState.Missing, states["KB5034763"]);
        Assert.Equal(UpdateState.NotApplicable, states["KB5034129"]);
    }

    [Fact]
    public void the_chain_holds_through_a_link_that_was_never_imported_by_build()
    {
        // January is not in the catalog: February's chain names it, not December. The later fixed build still tells.
        var states = States(Pc(), Dec, Feb);
        Assert.Equal(UpdateState.Superseded, states["KB5033372"]);
        Assert.Equal(UpdateState.Missing, states["KB5034763"]);
    }

    [Fact]
    public void a_kb_in_the_inventory_or_a_build_at_the_fixed_build_is_installed()
    {
        var withJan = States(Pc(kbs: ["KB5034122"]), Dec, Jan, Feb);
        Assert.Equal(UpdateState.Installed, withJan["KB5034122"]);
        Assert.Equal(UpdateState.Superseded, withJan["KB5033372"]);
        Assert.Equal(UpdateState.Missing, withJan["KB5034763"]);

        var atFeb = States(Pc(version: "10.0.19045.4046"), Dec, Jan, Feb);
        Assert.All(atFeb.Values, s => Assert.Equal(UpdateState.Installed, s));

        // Without the revision the build alone cannot say: not installed, never guessed.
        Assert.Equal(UpdateState.Missing, States(Pc(version: "10.0.19045"), Feb)["KB5034763"]);
        // A build of another line is not past the fix for being a higher build: the package is that line's, not this one's.
        Assert.Equal(UpdateState.NotApplicable, States(Pc(version: "10.0.19046"), Feb)["KB5034763"]);
        Assert.Equal(UpdateState.NotApplicable, States(Pc(version: "10.0.19046.5000"), Feb)["KB5034763"]);
    }

    [Fact]
    public void a_kb_replaced_for_one_of_its_products_is_replaced_for_all_of_them()
    {
        // 2025-Aug's KB5002758 (Excel 2016) supersedes July's KB5002749, which MSRC lists for Excel 2016 and Office 2016.
        const string excel = "Microsoft Excel 2016 (32-bit edition)", office = "Microsoft Office 2016 (32-bit edition)";
        var julyExcel = Cu("KB5002749", "16.0.5508.1001", product: excel);
        var julyOffice = julyExcel with { Update = julyExcel.Update with { UpdateId = "KB5002749-office", Product = office } };
        var august = Cu("KB5002758", "16.0.5513.1001", "KB5002749", product: excel);
        var states = UpdateStates.For([julyExcel, julyOffice, august], Pc(releases: [Win10, excel, office])).ToDictionary(s => s.Key.Update.UpdateId, s => s.Value);
        Assert.Equal(UpdateState.Missing, states["KB5002758-x64"]);
        Assert.Equal(UpdateState.Superseded, states["KB5002749-x64"]);
        Assert.Equal(UpdateState.Superseded, states["KB5002749-office"]);

        // An MBSA bulletin holds several KBs, each its own package: one superseded leaves the other Missing.
        var windows = Cu("MS16-001", "10.0.19045.1", product: Win10) is var w ? w with { Update = w.Update with { UpdateId = "ms16-001-os", Kb = "KB3124266" } } : w;
        var ie = windows with { Update = windows.Update with { UpdateId = "ms16-001-ie", Kb = "KB3124275", FixedBuild = null } };
        var later = Cu("KB3124280", "10.0.19045.2", "KB3124266");
        var mbsa = UpdateStates.For([windows, ie, later], Pc(version: "10.0.19045.0")).ToDictionary(s => s.Key.Update.UpdateId, s => s.Value);
        Assert.Equal(UpdateState.Superseded, mbsa["ms16-001-os"]);
        Assert.Equal(UpdateState.Missing, mbsa["ms16-001-ie"]);
    }

    [Fact]
    public void a_later_internet_explorer_cumulative_update_contains_the_earlier_ones()
    {
        // Windows Server 2012 R2's IE cumulative updates of 2024-Aug and 2025-Oct: no supersedence between them, fixed builds "1.001" and "1".
        const string server = "Windows Server 2012 R2";
        CatalogUpdate Ie(string kb, string fixedBuild, string released) => Cu(kb, fixedBuild, product: server) is var c
            ? c with { Update = c.Update with { SubType = "IE Cumulative" }, Released = DateTimeOffset.Parse(released) } : c;
        var august = Ie("KB5041770", "1.001", "2024-08-13T00:00:00Z");
        var october = Ie("KB5066840", "1", "2025-10-14T00:00:00Z");
        var pc = Pc(version: "6.3.9600.22920", releases: [server]);
        var states = States(pc, august, october);
        Assert.Equal(UpdateState.Superseded, states["KB5041770"]);
        Assert.Equal(UpdateState.Missing, states["KB5066840"]);
        Assert.Equal(UpdateState.Superseded, States(pc with { InstalledKbs = new HashSet<string> { "KB5066840" } }, august, october)["KB5041770"]);
    }

    [Fact]
    public void a_later_runtime_release_of_the_same_line_contains_the_earlier_ones()
    {
        // .NET 8.0 servicing releases (2024-Jul 8.0.7, 2025-Oct 8.0.21): MSRC gives no supersedence; each is the whole runtime.
        var runtime = new InstalledProduct(ProductFamilies.DotNet.Id, ".NET 8.0", "8.0.6", "test");
        var pc = new ComputerFacts("10.0.22631.4460", "x64", ["en-US"], [Win10], new HashSet<string>(), [runtime]);
        var july = Cu("KB5041081", "8.0.7", product: ".NET 8.0");
        var october = Cu("KB5068331", "8.0.21", product: ".NET 8.0 installed on Windows");
        var states = UpdateStates.For([july, october], pc).ToDictionary(s => s.Key.BulletinNumber, s => s.Value);
        Assert.Equal(UpdateState.Superseded, states["KB5041081"]);
        Assert.Equal(UpdateState.Missing, states["KB5068331"]);
    }

    [Fact]
    public void a_package_of_another_windows_line_filed_under_this_release_does_not_apply()
    {
        // 2024-Aug (revised) lists KB5055528 — Windows 11 22H2/23H2's April 2025 update, 22621.5189 — for Windows 11 24H2 too.
        const string win11 = "Windows 11 Version 24H2 for x64-based Systems";
        var april = Cu("KB5055528", "10.0.22621.5189", product: win11);
        var ours = Cu("KB5055523", "10.0.26100.3775", product: win11);
        var states = States(Pc(version: "10.0.26100.8246", releases: [win11]), april, ours);
        Assert.Equal(UpdateState.NotApplicable, states["KB5055528"]);
        Assert.Equal(UpdateState.Installed, states["KB5055523"]);
    }

    [Fact]
    public void a_build_of_a_sibling_release_counts_by_its_revision_only()
    {
        // 2025-Aug gives KB5062552's Windows 11 23H2 update the 22H2 line's build (22621.5624; July says 22631.5624):
        // a 23H2 computer of November 2024 (22631.4460) does not have it; one at 22631.5624 or later does.
        const string win11 = "Windows 11 Version 23H2 for x64-based Systems";
        var july = Cu("KB5062552", "10.0.22621.5624", product: win11);
        Assert.Equal(UpdateState.Missing, States(Pc(version: "10.0.22631.4460", releases: [win11]), july)["KB5062552"]);
        Assert.Equal(UpdateState.Installed, States(Pc(version: "10.0.22631.5624", releases: [win11]), july)["KB5062552"]);
        Assert.Equal(UpdateState.Installed, States(Pc(version: "10.0.22631.5768", releases: [win11]), july)["KB5062552"]);
        // Windows 10 2004…22H2 share one branch too; without a revision nothing is decided.
        Assert.Equal(UpdateState.Installed, States(Pc(version: "10.0.19044.4046"), Feb)["KB5034763"]);
        Assert.Equal(UpdateState.Missing, States(Pc(version: "10.0.19044.4045"), Feb)["KB5034763"]);
        Assert.Equal(UpdateState.Missing, States(Pc(version: "10.0.19044"), Feb)["KB5034763"]);
    }

    [Fact]
    public void a_fixed_build_that_is_no_build_of_this_windows_decides_nothing()
    {
        // 2024-Jan's IE cumulative update for Windows Server 2012 R2 (KB5034120) gives "1.001"; IE 11's versions are 11.0.….
        const string server = "Windows Server 2012 R2";
        foreach (var fixedBuild in new[] { "1.001", "11.0.9600.21615", "6.3" })
            Assert.Equal(UpdateState.Missing, States(Pc(version: "6.3.9600.19000", releases: [server]), Cu("KB5034120", fixedBuild, product: server))["KB5034120"]);
        Assert.Equal(UpdateState.Installed, States(Pc(version: "6.3.9600.21620", releases: [server]), Cu("KB5034119", "6.3.9600.21620", product: server))["KB5034119"]);
    }

    [Fact]
    public void cultures_and_rules_of_patch_catalogs_decide_applicability_and_installation()
    {
        var german = Cu("KB1000001", "", culture: "de-DE");
        Assert.Equal(UpdateState.NotApplicable, States(Pc(), german)["KB1000001"]);
        Assert.Equal(UpdateState.Missing, States(Pc(cultures: ["en-US", "de-DE"]), german)["KB1000001"]);

        var office = Cu("KB1000002", "", product: "Microsoft Office 2016", applicability: """{"all":[{"product":"Microsoft Office 2016"},{"architecture":"x64"}]}""",
            installed: """{"any":[{"kbInstalled":"KB1000002"},{"kbInstalled":"KB1000009"}]}""");
        Assert.Equal(UpdateState.NotApplicable, States(Pc(), office)["KB1000002"]);
        Assert.Equal(UpdateState.Missing, States(Pc(releases: [Win10, "Microsoft Office 2016"]), office)["KB1000002"]);
        Assert.Equal(UpdateState.Installed, States(Pc(releases: [Win10, "Microsoft Office 2016"], kbs: ["KB1000009"]), office)["KB1000002"]);
    }

    [Fact]
    public void an_excluded_update_never_applies()
    {
        var excluded = Jan with { Update = Jan.Update with { Excluded = "culture 'de-DE' is not a managed language" } };
        Assert.Equal(UpdateState.NotApplicable, States(Pc(), excluded)["KB5034122"]);
    }

    [Fact]
    public void rules_compare_builds_only_as_far_as_the_facts_know()
    {
        Assert.Equal(1, RuleEngine.Compare(Pc(version: "10.0.22631"), "10.0.19045.4046"));
        Assert.Null(RuleEngine.Compare(Pc(version: "10.0.19045"), "10.0.19045.4046"));
        Assert.Equal(-1, RuleEngine.Compare(Pc(version: "10.0.19045.3930"), "10.0.19045.4046"));
        Assert.True(RuleEngine.Evaluate("""{"not":{"osBuildAtLeast":"10.0.19045.4046"}}""", Pc(version: "10.0.19045.3930")));
        Assert.False(RuleEngine.Evaluate("""{"osBuildBelow":"10.0.19045.4046"}""", Pc(version: "10.0.19045")));
        // Not of an undecidable comparison stays undecided: never "installed" by a guess.
        Assert.False(RuleEngine.Evaluate("""{"not":{"osBuildBelow":"10.0.19045.3803"}}""", Pc(version: "10.0.19045")));
        Assert.True(RuleEngine.Evaluate("""{"any":[{"osBuildBelow":"10.0.19045.3803"},{"kbInstalled":"KB1"}]}""", Pc(version: "10.0.19045", kbs: ["KB1"])));
        Assert.False(RuleEngine.Evaluate("""{"all":[{"osBuildBelow":"10.0.19045.3803"},{"kbInstalled":"KB1"}]}""", Pc(version: "10.0.19045", kbs: ["KB1"])));
    }

    [Fact]
    public void an_update_installed_under_its_own_number_is_installed()
    {
        var hotfix = Cu("MS01-050", "", product: Win10) with { Update = Cu("MS01-050", "", product: Win10).Update with { Kb = "Q305999" } };
        Assert.Equal(UpdateState.Installed, States(Pc(kbs: ["Q305999"]), hotfix)["MS01-050"]);
        Assert.Equal(UpdateState.Missing, States(Pc(kbs: ["MS01-050"]), hotfix)["MS01-050"]);
    }
}

public class when_mapping_server_installations
{
    private static Agents.AgentInventory Server(string version, string? installation) =>
        new("Microsoft Windows Server", version, "x64", 0, true, ["en-US"], [], [], "0.1.0", installation);

    [Fact]
    public void a_server_core_installation_maps_to_the_core_release_and_23h2_is_core_only()
    {
        Assert.Contains("Windows Server 2019", Agents.InventoryFacts.SoftwareReleases(Server("10.0.17763.5329", null)));
        Assert.Contains("Windows Server 2019 (Server Core installation)", Agents.InventoryFacts.SoftwareReleases(Server("10.0.17763.5329", "Server Core")));
        Assert.DoesNotContain("Windows Server 2019", Agents.InventoryFacts.SoftwareReleases(Server("10.0.17763.5329", "Server Core")));
        Assert.Equal(["Windows Server 2022, 23H2 Edition (Server Core installation)"], Agents.InventoryFacts.SoftwareReleases(Server("10.0.25398.643", "Server Core")));
    }
}
