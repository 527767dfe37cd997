using Patch.Agent.Inventory;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Agents;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Settings;
using Patch.Domain.Inventory;
using Patch.Domain.Inventory.Products;

namespace Patch.Api.Tests.Inventory;

/// <summary>
/// Products beyond the OS on real data: every real systeminfo capture gets the components its release ships with,
/// and against every real CVRF document of ../shared/data a Windows 11 23H2 capture has the latest .NET Framework 3.5
/// AND 4.8.1 cumulative update Missing and every older one Superseded, whatever order the documents come in.
/// </summary>
public class when_analysing_real_captures_for_products_beyond_the_os
{
    private static readonly Lazy<IReadOnlyList<CatalogDocument>> Documents = new(() =>
    {
        return SharedData.CvrfFiles().AsParallel().AsOrdered().Select(file =>
        {
            using var stream = SharedData.OpenCvrf(file);
            return CvrfCatalogReader.Read(stream);
        }).ToList();
    });

    private static readonly Lazy<IReadOnlyList<CatalogUpdate>> AllCatalogs = new(() => Import(Documents.Value));

    /// <summary>The documents imported in this order through the catalog's own decisions (no database): the bulletins as the store would hold them.</summary>
    private static IReadOnlyList<CatalogUpdate> Import(IEnumerable<CatalogDocument> documents)
    {
        var bulletins = new Dictionary<string, Bulletin>(StringComparer.Ordinal);
        foreach (var doc in documents)
            foreach (var incoming in doc.Bulletins)
            {
                var current = bulletins.GetValueOrDefault(incoming.StreamId);
                foreach (var e in CatalogImport.Decide(current, incoming, CoreSettings.Default, $"cvrf:{doc.DocumentId}").Events)
                    current = e switch
                    {
                        BulletinImported i => Bulletin.Create(i),
                        BulletinRevised r => Bulletin.Apply(r, current!),
                        SoftwareUpdateAdded a => Bulletin.Apply(a, current!),
                        SoftwareUpdateRevised u => Bulletin.Apply(u, current!),
                        _ => current,
                    };
                bulletins[incoming.StreamId] = current!;
            }
        return bulletins.Values.SelectMany(b => b.Updates.Select(u => new CatalogUpdate(b.Id, b.Facts.Number, u, b.Facts.Released))).ToList();
    }

    private static AgentInventory Capture(string name) =>
        new FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/" + name)).Read();

    public static TheoryData<string> Captures() => new(Directory.GetFiles(Path.Combine(SharedData.Root, "windows-inventory", "wesng-validation"), "*systeminfo*.txt")
        .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Captures))]
    public void every_real_capture_gets_the_components_its_release_ships_with_marked_inferred(string capture)
    {
        var inventory = Capture(capture);
        var products = InventoryFacts.Products(inventory);
        var version = Version.Parse(inventory.OsVersion);
        var expected = NetFrameworkProducts.BuiltInVersion($"{version.Major}.{version.Minor}", version.Build, inventory.IsServer);
        var netfx = products.Where(p => p.Family == ProductFamilies.NetFramework.Id).ToList();
        if (expected is null) Assert.Empty(netfx);
        else
        {
            var p = Assert.Single(netfx);
            Assert.Equal(expected, p.Version);
            Assert.True(p.Inferred);
            Assert.StartsWith("inferred from Windows ", p.Source, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("11_23H2_x64_enterprise_systeminfo.txt", "4.8.1")]
    [InlineData("11_22H2_x64_home-single-language_systeminfo.txt", "4.8.1")]
    [InlineData("11_21H2_x64_enterprise_systeminfo.txt", "4.8")]
    [InlineData("10_22H2_x64_enterprise_en-us_systeminfo.txt", "4.8")]
    [InlineData("srv_2019_rtm_datacenter_en-us_systeminfo.txt", "4.7.2")]
    [InlineData("srv_2016_1607_datacenter_en-us_systeminfo.txt", "4.6.2")]
    [InlineData("srv_2012r2_u1_systeminfo.txt", "4.5.1")]
    [InlineData("7_sp1_x64_enterprise_en-us_A_systeminfo.txt", "3.5.1")]
    public void the_inferred_dotnet_framework_follows_the_documented_table(string capture, string version) =>
        Assert.Equal(version, InventoryFacts.Products(Capture(capture)).Single(p => p.Family == ProductFamilies.NetFramework.Id).Version);

    [Fact]
    public void a_windows_11_23H2_capture_misses_only_the_latest_dotnet_cumulative_update_and_the_older_are_superseded()
    {
        const string product = "Microsoft .NET Framework 3.5 AND 4.8.1 on Windows 11 Version 23H2 for x64-based Systems";
        var facts = InventoryFacts.Of(Capture("11_23H2_x64_enterprise_systeminfo.txt"));
        var states = UpdateStates.Applicable(new PreparedCatalog(AllCatalogs.Value), facts).ToList();

        var netfx = states.Where(s => ProductKeys.Normalize(s.Update.Update.Product) == ProductKeys.Normalize(product) && s.Update.Update.SubType != "Security Only").ToList();
        Assert.True(netfx.Count >= 5, $"only {netfx.Count} .NET Framework updates applied");
        var latest = netfx.Max(s => s.Update.Released);
        Assert.Equal(2025, latest!.Value.Year);
        Assert.All(netfx, s => Assert.Equal(s.Update.Released == latest ? UpdateState.Missing : UpdateState.Superseded, s.State));
        Assert.Contains(states, s => s.Update.Update.Product == "Windows 11 Version 23H2 for x64-based Systems" && s.State == UpdateState.Missing);
    }

    [Fact]
    public void the_order_the_documents_come_in_never_changes_the_states()
    {
        var facts = InventoryFacts.Of(Capture("11_23H2_x64_enterprise_systeminfo.txt"));
        var forward = UpdateStates.Applicable(new PreparedCatalog(AllCatalogs.Value), facts).ToDictionary(s => s.Update.Update.UpdateId + s.Update.BulletinId, s => s.State);
        var backward = UpdateStates.Applicable(new PreparedCatalog(Import(Documents.Value.Reverse())), facts).ToDictionary(s => s.Update.Update.UpdateId + s.Update.BulletinId, s => s.State);
        Assert.Contains(forward.Values, s => s == UpdateState.Superseded);
        Assert.Equal(forward.OrderBy(k => k.Key, StringComparer.Ordinal), backward.OrderBy(k => k.Key, StringComparer.Ordinal));
    }
}
