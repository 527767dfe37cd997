using System.Xml;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Inventory.Products;

namespace Patch.Api.Tests.Inventory;

/// <summary>
/// The coverage report over every real CVRF document in ../shared/data/msrc-cvrf (raw and archive/): every Windows,
/// .NET Framework, Office, SQL Server, Exchange, SharePoint and Visual Studio name is produced by some inventory, and
/// the number of names covered never falls below the recorded figure.
/// </summary>
public class when_measuring_product_coverage_over_the_real_catalogs(ITestOutputHelper output)
{
    /// <summary>Names covered when this was recorded (docs/products.md); raise it when coverage grows.</summary>
    private const int RecordedCovered = 886;

    /// <summary>Catalog names of no product any Windows computer has, with the reason (docs/products.md lists them too).</summary>
    private static readonly Dictionary<string, string> NoSuchInstall = new()
    {
        ["Microsoft Publisher 2013 Service Pack 1 RT"] = "Office 2013 RT (Windows RT 8.1) has Word, Excel, PowerPoint, OneNote and Outlook, never Publisher",
    };

    public static IReadOnlyList<string> CatalogProductNames()
    {
        var files = SharedData.CvrfFiles();
        Assert.Equal(181, files.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            using var stream = SharedData.OpenCvrf(file);
            using var reader = XmlReader.Create(stream, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit });
            while (reader.ReadToFollowing("FullProductName", "http://www.icasi.org/CVRF/schema/prod/1.1"))
                names.Add(reader.ReadElementContentAsString().Trim());
        }
        return names.ToList();
    }

    [Fact]
    public void every_name_of_the_covered_families_is_produced_by_some_inventory()
    {
        var report = ProductCoverage.Of(CatalogProductNames());
        foreach (var f in report)
        {
            output.WriteLine($"{f.Family.DisplayName,-32} {f.Covered,5} of {f.Names,5}");
            if (ProductFamilies.Covered.Contains(f.Family))
                foreach (var n in f.Uncovered) output.WriteLine($"    not produced: {n}{(NoSuchInstall.TryGetValue(n, out var why) ? $" ({why})" : "")}");
        }
        var covered = report.Sum(f => f.Covered);
        output.WriteLine($"covered {covered} of {report.Sum(f => f.Names)} names");
        var missing = report.Where(f => ProductFamilies.Covered.Contains(f.Family)).SelectMany(f => f.Uncovered).Except(NoSuchInstall.Keys).ToList();
        Assert.True(missing.Count == 0, $"not produced by any inventory: {string.Join("; ", missing)}");
        Assert.True(covered >= RecordedCovered, $"coverage fell: {covered} names covered, {RecordedCovered} recorded");
    }
}
