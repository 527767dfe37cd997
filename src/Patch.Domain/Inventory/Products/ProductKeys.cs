using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// Where a catalog's product names and a computer's products meet. A catalog name becomes one or more keys (a .NET
/// Framework name for "4.6.2/4.7/4.7.1/4.7.2" is four keys, one per version it patches; a SQL Server name keeps its
/// release, service pack, architecture and branch; a Visual Studio name with "includes 16.0 - 16.10" covers every
/// version in the range); every other name is its own key, compared without case or repeated spaces (the catalogs
/// write "Server 2016  (Server Core installation)" and "version"/"Version" both). A computer's products become keys
/// the same way, so an update applies when its product's keys meet the computer's.
/// </summary>
public static partial class ProductKeys
{
    /// <summary>Lower case, one space between words, en dashes as hyphens (a plain loop: it runs for every computer's releases).</summary>
    public static string Normalize(string name)
    {
        var sb = new System.Text.StringBuilder(name.Length);
        var space = false;
        foreach (var ch in name)
        {
            if (char.IsWhiteSpace(ch)) { space = sb.Length > 0; continue; }
            if (space) { sb.Append(' '); space = false; }
            sb.Append(ch == '\u2013' ? '-' : char.ToLowerInvariant(ch));
        }
        return sb.ToString();
    }

    /// <summary>The keys of one catalog product name.</summary>
    public static IReadOnlyList<string> OfCatalogName(string name)
    {
        var n = Normalize(name);
        return NetFrameworkProducts.CatalogKeys(n) ?? SqlServerProducts.CatalogKeys(n) ?? VisualStudioProducts.CatalogKeys(n) ?? [n];
    }

    /// <summary>The keys of one installed product; <paramref name="osReleases"/> are the computer's operating system release names.</summary>
    public static IReadOnlyList<string> OfInstalled(InstalledProduct product, IReadOnlyList<string> osReleases) => product.Family switch
    {
        "netfx" => NetFrameworkProducts.InstalledKeys(product, osReleases),
        "sqlserver" => SqlServerProducts.InstalledKeys(product),
        "visualstudio" => VisualStudioProducts.InstalledKeys(product),
        "exchange" => [Normalize(product.Name), Normalize(ExchangeBase().Replace(product.Name, ""))],
        // The OS-bound parts of Edge are named per release: legacy Edge "on" it, Chromium Edge's IE mode "in IE Mode on" it.
        "edge" when product.Name.Contains("EdgeHTML", StringComparison.OrdinalIgnoreCase) => osReleases.Select(r => Normalize($"{product.Name} on {r}")).ToList(),
        "edge" => [Normalize(product.Name), .. osReleases.Select(r => Normalize($"{product.Name} in IE Mode on {r}"))],
        "dotnet" => [Normalize(product.Name), Normalize(product.Name + " installed on Windows")],
        _ => [Normalize(product.Name)],
    };

    [GeneratedRegex(@"\s+(Cumulative Update \d+|Service Pack \d+( Update Rollup \d+)?|RTM)$", RegexOptions.IgnoreCase)]
    private static partial Regex ExchangeBase();
}
