using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// Visual Studio: "Microsoft Visual Studio 2019 version 16.11 (includes 16.0 - 16.10)" patches every install from 16.0
/// to 16.11 (it updates them to 16.11); "… 2017 version 15.7.5" patches 15.7; a bare "Microsoft Visual Studio 2017"
/// any 2017; "… 2015 Update 3" is matched by name. An install is keyed by its major.minor version.
/// </summary>
public static partial class VisualStudioProducts
{
    private static readonly Dictionary<string, int> Majors = new() { ["2017"] = 15, ["2019"] = 16, ["2022"] = 17, ["2026"] = 18 };

    internal static IReadOnlyList<string>? CatalogKeys(string normalized)
    {
        var m = CatalogName().Match(normalized);
        if (!m.Success || !Majors.TryGetValue(m.Groups["year"].Value, out var major)) return null;
        if (!m.Groups["minor"].Success) return [$"vs|{major}"];
        // A name no catalog writes (a minor version past any Visual Studio's, a range of hundreds) names no product.
        if (!int.TryParse(m.Groups["minor"].Value, System.Globalization.CultureInfo.InvariantCulture, out var minor) || minor > 99) return null;
        var from = minor;
        if (m.Groups["from"].Success && (!int.TryParse(m.Groups["from"].Value, System.Globalization.CultureInfo.InvariantCulture, out from) || from > minor)) return null;
        return Enumerable.Range(from, minor - from + 1).Select(x => $"vs|{major}.{x}").ToList();
    }

    internal static IReadOnlyList<string> InstalledKeys(InstalledProduct product)
    {
        if (InstalledProduct.ParseVersion(product.Version) is not { } v) return [ProductKeys.Normalize(product.Name)];
        return [$"vs|{v.Major}.{v.Minor}", $"vs|{v.Major}", ProductKeys.Normalize(product.Name)];
    }

    /// <summary>The catalog-style name of an install of a version ("Microsoft Visual Studio 2022 version 17.10").</summary>
    public static string NameOf(Version v) =>
        Majors.FirstOrDefault(x => x.Value == v.Major).Key is { } year ? $"Microsoft Visual Studio {year} version {v.Major}.{v.Minor}" : $"Microsoft Visual Studio {v.Major}.{v.Minor}";

    /// <summary>
    /// The catalog name of a Visual Studio 2010–2015 install from its version: the catalogs patch only the last update
    /// of each (2010 SP1 is 10.0.40219, 2012 Update 5 11.0.61219, 2013 Update 5 12.0.40629, 2015 Update 3 14.0.25420;
    /// Microsoft Learn, the release notes of each). An earlier build has no catalog name but its own.
    /// </summary>
    public static string? LegacyName(Version v) => (v.Major, v.Build) switch
    {
        (10, >= 40219) => "Microsoft Visual Studio 2010 Service Pack 1",
        (11, >= 61219) => "Microsoft Visual Studio 2012 Update 5",
        (12, >= 40629) => "Microsoft Visual Studio 2013 Update 5",
        (14, >= 25420) => "Microsoft Visual Studio 2015 Update 3",
        (10 or 11 or 12 or 14, _) => $"Microsoft Visual Studio {v.Major switch { 10 => "2010", 11 => "2012", 12 => "2013", _ => "2015" }}",
        _ => null,
    };

    [GeneratedRegex(@"^microsoft visual studio (?<year>20\d\d)( version (?<major>\d+)\.(?<minor>\d+)(\.\d+)?( \(includes \d+\.(?<from>\d+) - \d+\.\d+\))?)?$")]
    private static partial Regex CatalogName();
}
