using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// SQL Server: a catalog name ("Microsoft SQL Server 2022 for x64-based Systems (CU 15)", "… 2016 for x64-based Systems
/// Service Pack 3 Azure Connect Feature Pack") is keyed by release, service pack, architecture and servicing branch
/// (GDR, CU, QFE, Azure Connect Feature Pack). A CU package of a release installs on any CU level of it, so "(CU 15)"
/// and "(CU 16)" share the branch key and the later fixed build supersedes the earlier one. An instance's branch
/// comes from its build (its <c>PatchLevel</c>): GDR builds of a release are numbered below its first CU build.
/// </summary>
public static partial class SqlServerProducts
{
    private static readonly Dictionary<(int Major, int Minor), string> Releases = new()
    {
        [(16, 0)] = "2022", [(15, 0)] = "2019", [(14, 0)] = "2017", [(13, 0)] = "2016", [(12, 0)] = "2014", [(11, 0)] = "2012", [(10, 50)] = "2008 r2", [(10, 0)] = "2008",
    };

    /// <summary>
    /// Per release and service pack: the first build of that service pack, the first CU-branch build (below it, GDR),
    /// and whether the service pack is serviced by QFE only. From Microsoft Learn's "latest updates and version
    /// history" page of each release; 2016 SP3 builds from 13.0.7000 are the Azure Connect Feature Pack.
    /// </summary>
    private static readonly (int Major, int Minor, int ServicePack, int FirstBuild, int FirstCuBuild, bool QfeOnly)[] Levels =
    [
        (16, 0, 0, 1000, 4000, false), (15, 0, 0, 2000, 4000, false), (14, 0, 0, 1000, 3000, false),
        (13, 0, 0, 1601, 2100, false), (13, 0, 1, 4001, 4400, false), (13, 0, 2, 5026, 5149, false), (13, 0, 3, 6300, int.MaxValue, false),
        (12, 0, 0, 2000, 2400, false), (12, 0, 1, 4100, 4400, false), (12, 0, 2, 5000, 5500, false), (12, 0, 3, 6024, 6200, false),
        (11, 0, 2, 5058, 5500, false), (11, 0, 3, 6020, 6500, false), (11, 0, 4, 7001, 0, true),
        (10, 50, 3, 6000, 0, true), (10, 0, 4, 6000, 0, true),
    ];

    internal static IReadOnlyList<string>? CatalogKeys(string normalized)
    {
        var m = CatalogName().Match(normalized);
        if (!m.Success) return null;
        var sp = m.Groups["sp1"].Success ? m.Groups["sp1"].Value : m.Groups["sp2"].Success ? m.Groups["sp2"].Value : "0";
        var branch = m.Groups["acfp"].Success ? "acfp" : m.Groups["branch"].Value.Split(' ')[0];
        return [Key(m.Groups["year"].Value, sp, m.Groups["arch"].Value == "x64-based" ? "x64" : m.Groups["arch"].Value == "32-bit" ? "x86" : "ia64", branch)];
    }

    /// <summary>The release name ("2022") of an instance version, or null.</summary>
    public static string? Release(Version v) => Releases.GetValueOrDefault((v.Major, v.Minor));

    internal static IReadOnlyList<string> InstalledKeys(InstalledProduct product) =>
        InstalledProduct.ParseVersion(product.Version) is { } v && Level(v) is { } level
            ? [Key(level.Year, level.ServicePack.ToString(System.Globalization.CultureInfo.InvariantCulture), product.Architecture ?? "x64", level.Branch)]
            : [];

    /// <summary>The release, service pack and servicing branch (gdr, cu, qfe, acfp) of an instance build, or null for a build the table does not know.</summary>
    public static (string Year, int ServicePack, string Branch)? Level(Version v)
    {
        if (Release(v) is not { } year) return null;
        var level = Levels.Where(l => l.Major == v.Major && l.Minor == v.Minor && v.Build >= l.FirstBuild).OrderByDescending(l => l.FirstBuild).FirstOrDefault();
        if (level == default) return null;
        var branch = level.QfeOnly ? "qfe"
            : v.Major == 13 && level.ServicePack == 3 ? (v.Build >= 7000 ? "acfp" : "gdr")
            : v.Build >= level.FirstCuBuild ? "cu" : "gdr";
        return (year, level.ServicePack, branch);
    }

    /// <summary>How an instance build reads: "SQL Server 2022 RTM, CU branch", "SQL Server 2016 SP3, Azure Connect Feature Pack".</summary>
    public static string? Describe(Version v) => Level(v) is not { } l ? null
        : $"SQL Server {l.Year.ToUpperInvariant()} {(l.ServicePack == 0 ? "RTM" : $"SP{l.ServicePack}")}, " + l.Branch switch
        {
            "gdr" => "GDR branch", "cu" => "CU branch", "qfe" => "QFE branch", _ => "Azure Connect Feature Pack",
        };

    /// <summary>Every key an instance of some build can have, for the coverage report.</summary>
    public static IEnumerable<InstalledProduct> Examples() =>
        Levels.SelectMany(l => new[] { l.FirstBuild, l.FirstCuBuild, 7000 }.Where(b => b >= l.FirstBuild && b < int.MaxValue).Distinct()
            .SelectMany(b => new[] { "x64", "x86" }.Select(arch => new InstalledProduct(ProductFamilies.SqlServer.Id, $"SQL Server {l.Major}.{l.Minor}.{b}",
                $"{l.Major}.{l.Minor}.{b}.0", "example", Architecture: arch))));

    private static string Key(string year, string sp, string arch, string branch) => $"sql|{year}|sp{sp}|{arch}|{branch}";

    [GeneratedRegex(@"^microsoft sql server (?<year>20\d\d( r2)?)( service pack (?<sp1>\d))? for (?<arch>x64-based|32-bit|itanium-based) systems( service pack (?<sp2>\d))?( ?\((?<branch>(cu|gdr|qfe)( \d+)?)\)| (?<acfp>azure connect feature pack))$")]
    private static partial Regex CatalogName();
}
