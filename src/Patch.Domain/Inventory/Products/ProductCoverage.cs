using Patch.Domain.Agents;
using Patch.Domain.Applicability;

namespace Patch.Domain.Inventory.Products;

/// <summary>How many of a family's catalog names some inventory can produce, and the names none can.</summary>
public sealed record FamilyCoverage(ProductFamily Family, int Names, int Covered, IReadOnlyList<string> Uncovered);

/// <summary>
/// The coverage report: of every product name in a set of catalogs, which ones Patch can produce from some inventory.
/// The inventory side is enumerated through the same code the agent's readers use — the OS product map over every
/// known build, architecture, service pack and installation type; the registry readers' tables (.NET Framework
/// versions, SQL Server levels, Office suites and Click-to-Run ids, Exchange and SharePoint display names, Visual
/// Studio versions) — and meets the catalog names through <see cref="ProductKeys"/>.
/// </summary>
public static class ProductCoverage
{
    private static readonly Lazy<HashSet<string>> Producible = new(() => EveryInventory().ToHashSet(StringComparer.Ordinal));

    public static IReadOnlyList<FamilyCoverage> Of(IEnumerable<string> catalogNames)
    {
        var names = catalogNames.Select(n => n.Trim()).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        return names.GroupBy(ProductFamilies.Of).OrderBy(g => ProductFamilies.All.ToList().IndexOf(g.Key))
            .Select(g =>
            {
                var uncovered = g.Where(n => !CatalogKeys.Of(n).Any(Producible.Value.Contains)).Order(StringComparer.Ordinal).ToList();
                return new FamilyCoverage(g.Key, g.Count(), g.Count() - uncovered.Count, uncovered);
            }).ToList();
    }

    /// <summary>The product keys of every inventory Patch can read.</summary>
    private static IEnumerable<string> EveryInventory()
    {
        var releases = OsReleases().Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        foreach (var r in releases) yield return ProductKeys.Normalize(r);
        foreach (var p in Products())
            foreach (var k in ProductKeys.OfInstalled(p, releases))
                yield return k;
    }

    private static IEnumerable<string> OsReleases()
    {
        var versions = new List<(string Version, int Build)> { ("5.1", 2600), ("5.2", 3790), ("6.0", 6000), ("6.0", 6001), ("6.0", 6002), ("6.1", 7601), ("6.2", 9200), ("6.3", 9600) };
        versions.AddRange(ProductMap.KnownBuilds.Select(b => ("10.0", b)));
        foreach (var (version, build) in versions)
            foreach (var arch in new[] { "x64", "x86", "arm64", "ia64" })
                foreach (var server in new[] { false, true })
                    foreach (var sp in new[] { 0, 1, 2, 3 })
                        foreach (var core in new[] { null, "Server Core" })
                        {
                            var inventory = new AgentInventory("Microsoft Windows", $"{version}.{build}", arch, sp, server, [], [], [], "1.0.0", core);
                            foreach (var r in InventoryFacts.OsReleases(inventory)) yield return r;
                        }
    }

    private static IEnumerable<InstalledProduct> Products()
    {
        InstalledProduct P(ProductFamily f, string name, string? version = null, string? arch = null) => new(f.Id, name, version, "coverage", Architecture: arch);
        foreach (var v in new[] { "2.0", "3.0", "2.0 Service Pack 2", "3.0 Service Pack 2", "3.5", "3.5 Service Pack 1", "3.5.1" }
                     .Concat(Enumerable.Range(378389, 533320 - 378389 + 1).Select(NetFrameworkProducts.VersionOfRelease).OfType<string>().Distinct()))
            yield return P(ProductFamilies.NetFramework, $"Microsoft .NET Framework {v}", v);
        foreach (var p in SqlServerProducts.Examples()) yield return p;
        foreach (var arch in new[] { "x64", "x86" })
        {
            foreach (var year in new[] { "2007", "2010", "2013", "2016" })
            {
                foreach (var edition in new[] { "Professional Plus", "Standard", "Home and Business" })
                    foreach (var n in OfficeProducts.FromUninstallName($"Microsoft Office {edition} {year}", arch) ?? []) yield return P(ProductFamilies.Office, n);
                foreach (var app in OfficeProducts.Applications)
                    foreach (var n in OfficeProducts.FromUninstallName($"Microsoft {app} Professional {year}", arch) ?? []) yield return P(ProductFamilies.Office, n);
            }
            foreach (var viewer in new[] { "Microsoft Office Excel Viewer", "Microsoft PowerPoint Viewer", "Microsoft Office PowerPoint Viewer 2007", "Microsoft Office Word Viewer 2003",
                         "Microsoft Visio Viewer 2010", "Microsoft Visio Viewer 2007", "Compatibility Pack for the 2007 Office system" })
                foreach (var n in OfficeProducts.FromUninstallName(viewer, arch) ?? []) yield return P(ProductFamilies.Office, n);
            foreach (var id in new[] { "O365ProPlusRetail", "ProPlus2019Volume", "ProPlus2021Volume", "ProPlus2024Volume", "ProPlusRetail", "VisioProRetail" })
                foreach (var n in OfficeProducts.FromClickToRun(id, arch)) yield return P(ProductFamilies.Office, n);
            foreach (var major in new[] { 14, 15 })
                foreach (var n in OfficeProducts.FromClickToRun("ProPlusRetail", arch, major)) yield return P(ProductFamilies.Office, n);
        }
        foreach (var p in InferredProducts.For(new AgentInventory("Windows RT 8.1", "6.3.9600", "arm64", 0, false, [], [], [], "1.0.0"))) yield return p;
        yield return P(ProductFamilies.Edge, "Microsoft Edge (Chromium-based)", "142.0.3595.53");
        yield return P(ProductFamilies.Edge, "Microsoft Edge (EdgeHTML-based)");
        foreach (var (major, minor) in new[] { (1, 0), (1, 1), (2, 0), (2, 1), (2, 2), (2, 3), (3, 0), (3, 1), (5, 0), (6, 0), (7, 0), (8, 0), (9, 0), (10, 0) })
        {
            yield return P(ProductFamilies.DotNet, $"{(major < 5 ? ".NET Core" : ".NET")} {major}.{minor}", $"{major}.{minor}.0");
            yield return P(ProductFamilies.DotNet, $"ASP.NET Core {major}.{minor}", $"{major}.{minor}.0");
        }
        foreach (var minor in Enumerable.Range(0, 7)) yield return P(ProductFamilies.PowerShell, $"PowerShell 7.{minor}", $"7.{minor}.0");
        yield return P(ProductFamilies.Defender, "Microsoft Malware Protection Engine", "1.1.24090.11");
        foreach (var n in ServerProducts.AllSharePointNames) yield return P(ProductFamilies.SharePoint, n);
        var exchange = new List<string?> { ServerProducts.ExchangeName("Microsoft Exchange Server Subscription Edition", "15.2.2562.17", null),
            ServerProducts.ExchangeName("Microsoft Exchange Server 2013 Service Pack 1", "15.0.847.32", null),
            ServerProducts.ExchangeName("Microsoft Exchange Server 2010", "14.0.639.21", null),
            ServerProducts.ExchangeName("Microsoft Exchange Server 2007", "8.3.83.6", null) };
        exchange.AddRange(new[] { "2013", "2016", "2019" }.SelectMany(y => Enumerable.Range(1, 30).Select(cu => ServerProducts.ExchangeName($"Microsoft Exchange Server {y} Cumulative Update {cu}", null, null))));
        exchange.AddRange(Enumerable.Range(0, 41).Select(ur => ServerProducts.ExchangeName("Microsoft Exchange Server 2010", "14.3.123.4", ur == 0 ? null : ur)));
        foreach (var n in exchange.OfType<string>()) yield return P(ProductFamilies.Exchange, n);
        foreach (var (major, minors) in new[] { (15, 9), (16, 11), (17, 14), (18, 9) })
            foreach (var minor in Enumerable.Range(0, minors + 1))
                yield return P(ProductFamilies.VisualStudio, VisualStudioProducts.NameOf(new Version(major, minor)), $"{major}.{minor}");
        foreach (var build in new[] { "10.0.40219.1", "11.0.61219.0", "12.0.40629.0", "14.0.25420.1" })
            if (VisualStudioProducts.LegacyName(Version.Parse(build)) is { } legacy) yield return P(ProductFamilies.VisualStudio, legacy, build);
    }
}
