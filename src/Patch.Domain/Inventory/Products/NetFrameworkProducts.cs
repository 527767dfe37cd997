using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// .NET Framework: catalog names ("Microsoft .NET Framework 3.5 AND 4.8.1 on Windows 11 Version 24H2 for x64-based
/// Systems"), the versions the registry's NDP keys read as, and the versions each Windows release ships with.
/// </summary>
public static partial class NetFrameworkProducts
{
    /// <summary>
    /// The .NET Framework 4.x version of a <c>Release</c> value under NDP\v4\Full (Microsoft Learn, "How to: Determine
    /// which .NET Framework versions are installed": the minimum release of each version).
    /// </summary>
    private static readonly (int MinRelease, string Version)[] Releases =
    [
        (533320, "4.8.1"), (528040, "4.8"), (461808, "4.7.2"), (461308, "4.7.1"), (460798, "4.7"), (394802, "4.6.2"), (394254, "4.6.1"), (393295, "4.6"),
        (379893, "4.5.2"), (378675, "4.5.1"), (378389, "4.5"),
    ];

    public static string? VersionOfRelease(int release) => Releases.FirstOrDefault(r => release >= r.MinRelease).Version;

    /// <summary>
    /// The .NET Framework each Windows release ships turned on, by build (Microsoft Learn, ".NET Framework versions and
    /// dependencies", "included in" per OS): what a systeminfo capture lets Patch infer. Later versions installed on top
    /// and 3.5 turned on as a feature are only seen in the registry.
    /// </summary>
    public static string? BuiltInVersion(string osVersion, int build, bool isServer) => osVersion.StartsWith("6.1", StringComparison.Ordinal)
        ? (isServer ? null : "3.5.1")
        : isServer
            ? build switch { >= 26100 => "4.8.1", >= 18362 => "4.8", >= 17134 => "4.7.2", >= 16299 => "4.7.1", >= 14393 => "4.6.2", >= 9600 => "4.5.1", >= 9200 => "4.5", _ => null }
            : build switch
            {
                >= 22621 => "4.8.1", >= 18362 => "4.8", >= 17134 => "4.7.2", >= 16299 => "4.7.1", >= 15063 => "4.7", >= 14393 => "4.6.2", >= 10586 => "4.6.1", >= 10240 => "4.6",
                >= 9600 => "4.5.1", >= 9200 => "4.5", _ => null,
            };

    /// <summary>"2.0 Service Pack 2" → "2.0 sp2"; "4.8.1" stays.</summary>
    public static string NormalizeVersion(string version) => ServicePack().Replace(ProductKeys.Normalize(version), " sp$1");

    internal static IReadOnlyList<string>? CatalogKeys(string normalized)
    {
        var m = CatalogName().Match(normalized);
        if (!m.Success) return null;
        // "3.5 AND 4.8.1" is one package for a computer with 4.8.1 (3.5 rides along): the 4.x part decides.
        var versions = m.Groups["versions"].Value.Split(" and ").Last().Split('/');
        var platform = m.Groups["platform"].Value;
        return versions.Select(v => Key(NormalizeVersion(v), platform)).ToList();
    }

    internal static IReadOnlyList<string> InstalledKeys(InstalledProduct product, IReadOnlyList<string> osReleases) =>
        product.Version is null ? [] : osReleases.Select(r => Key(NormalizeVersion(product.Version), ProductKeys.Normalize(r))).ToList();

    private static string Key(string version, string platform) => $"netfx|{version}|{platform}";

    [GeneratedRegex(@"^microsoft \.net framework (?<versions>.+?) on (microsoft )?(?<platform>windows .+)$")]
    private static partial Regex CatalogName();

    [GeneratedRegex(@" service pack (\d)")]
    private static partial Regex ServicePack();
}
