namespace Patch.Domain.Inventory.Products;

/// <summary>
/// A Microsoft product found on a computer, with where it was read. <see cref="Name"/> is written the way Microsoft's
/// catalogs name the product where the family has one name per install ("Microsoft Excel 2016 (64-bit edition)",
/// "Microsoft Exchange Server 2019 Cumulative Update 14"); .NET Framework, SQL Server and Visual Studio carry their
/// version instead and are matched through <see cref="ProductKeys"/>. <see cref="Inferred"/> marks a product deduced
/// from the operating system's build rather than read from the computer.
/// </summary>
public sealed record InstalledProduct(
    string Family,
    string Name,
    string? Version,
    string Source,
    bool Inferred = false,
    string? Architecture = null,
    string? Detail = null)
{
    public const int MaxProducts = 500;

    /// <summary>Every problem with one reported product, as "products[i].field: problem".</summary>
    public IEnumerable<string> Problems(int index)
    {
        var at = $"products[{index}]";
        if (!ProductFamilies.IsKnown(Family)) yield return $"{at}.family: '{Family}' is not one of {string.Join(", ", ProductFamilies.All.Select(f => f.Id))}";
        if (string.IsNullOrWhiteSpace(Name) || Name.Length > 256) yield return $"{at}.name: 1 to 256 characters";
        if (Version is { Length: > 64 } || (Version is not null && string.IsNullOrWhiteSpace(Version))) yield return $"{at}.version: 1 to 64 characters when present";
        if (string.IsNullOrWhiteSpace(Source) || Source.Length > 512) yield return $"{at}.source: 1 to 512 characters (where the product was read)";
        if (Architecture is not (null or "x64" or "x86" or "arm64")) yield return $"{at}.architecture: '{Architecture}' is not one of x64, x86, arm64";
        if (Detail is { Length: > 256 }) yield return $"{at}.detail: at most 256 characters";
        foreach (var (field, text) in new[] { ("name", Name), ("version", Version), ("source", Source), ("detail", Detail) })
            if (text?.Any(char.IsControl) == true) yield return $"{at}.{field}: control characters (NUL and the like) are not allowed";
    }

    /// <summary>The version as a comparable <see cref="System.Version"/> (leading zeros and a "v" prefix tolerated), or null.</summary>
    public static Version? ParseVersion(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var t = text.Trim().TrimStart('v', 'V');
        var dash = t.IndexOfAny(['-', '+', ' ']);
        if (dash > 0) t = t[..dash];
        return System.Version.TryParse(t, out var v) ? v : null;
    }
}
