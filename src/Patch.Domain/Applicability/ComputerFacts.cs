using Patch.Domain.Inventory.Products;

namespace Patch.Domain.Applicability;

/// <summary>
/// What the rule engine evaluates on: the same on the server (from reported inventory) and on the agent (from the
/// live system). <see cref="OsVersion"/> is the full version when known (10.0.19045.3930, with the update build
/// revision), else major.minor.build. <see cref="SoftwareReleases"/> are names (the operating system's release and
/// any the agent reported); <see cref="Products"/> are the Microsoft products found beside it (.NET Framework, Office,
/// SQL Server…). Both meet the catalog through <see cref="ProductKeys"/>.
/// </summary>
public sealed record ComputerFacts(
    string OsVersion,
    string Architecture,
    IReadOnlyList<string> Cultures,
    IReadOnlyCollection<string> SoftwareReleases,
    IReadOnlyCollection<string> InstalledKbs,
    IReadOnlyList<InstalledProduct>? Products = null)
{
    private (IReadOnlyCollection<string> Releases, IReadOnlyList<InstalledProduct>? Products, IReadOnlyDictionary<string, InstalledProduct?> Keys)? _keys;

    /// <summary>Every product key of the computer, with the installed product it comes from (null for a release name).</summary>
    public IReadOnlyDictionary<string, InstalledProduct?> Keys
    {
        get
        {
            // Computed once for these releases and products (a copy made with "with" that changes them computes its own).
            if (_keys is { } k && ReferenceEquals(k.Releases, SoftwareReleases) && ReferenceEquals(k.Products, Products)) return k.Keys;
            var keys = KeysOf(SoftwareReleases, Products ?? []);
            _keys = (SoftwareReleases, Products, keys);
            return keys;
        }
    }

    public Version Version => Version.TryParse(OsVersion, out var v) ? v : new Version(0, 0);

    /// <summary>Whether the version carries the update build revision, so "at or past a fixed build" can be decided.</summary>
    public bool KnowsRevision => Version.Revision >= 0;

    public bool HasKb(string kb) => InstalledKbs.Contains(kb.ToUpperInvariant());

    /// <summary>Whether the computer has the product a catalog name describes.</summary>
    public bool HasProduct(string catalogName) => CatalogKeys.Of(catalogName).Any(Keys.ContainsKey);

    /// <summary>The installed product a catalog name describes (null when it is the OS release, or the computer lacks it).</summary>
    public InstalledProduct? ProductFor(string catalogName) =>
        CatalogKeys.Of(catalogName).Select(k => Keys.GetValueOrDefault(k)).FirstOrDefault(p => p is not null);

    private static Dictionary<string, InstalledProduct?> KeysOf(IReadOnlyCollection<string> releases, IReadOnlyList<InstalledProduct> products)
    {
        var keys = new Dictionary<string, InstalledProduct?>(StringComparer.Ordinal);
        foreach (var r in releases) keys.TryAdd(ProductKeys.Normalize(r), null);
        var names = releases as IReadOnlyList<string> ?? releases.ToList();
        foreach (var p in products)
            foreach (var k in ProductKeys.OfInstalled(p, names))
                if (!keys.TryGetValue(k, out var existing) || existing is null) keys[k] = p;
        return keys;
    }
}

/// <summary>The keys of catalog product names, computed once per name (a catalog holds a few thousand names).</summary>
public static class CatalogKeys
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyList<string>> Cache = new(StringComparer.Ordinal);

    public static IReadOnlyList<string> Of(string catalogName) =>
        Cache.Count < 100_000 ? Cache.GetOrAdd(catalogName, ProductKeys.OfCatalogName) : ProductKeys.OfCatalogName(catalogName);
}
