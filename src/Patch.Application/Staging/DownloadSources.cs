using System.Text.RegularExpressions;
using Patch.Domain.Catalog;

namespace Patch.Application.Staging;

/// <summary>
/// Where an update's package can be fetched, in order: the staging location (mirror) first, then the vendor URL.
/// Mirror naming convention (docs/staging.md): <c>{mirror}/{fileName}</c>, then <c>{mirror}/sha256/{sha256}</c>, and
/// for a folder mirror any file whose name carries the KB number and the product's architecture the way Microsoft's
/// own file names do (<c>windows10.0-kb5034122-x64_…msu</c>) — which is how CVRF updates, which have neither file
/// name nor hash, find their files.
/// </summary>
public static partial class DownloadSources
{
    /// <summary>
    /// The sources to try, in order: the staging location's (by file name, by SHA-256, by the KB naming convention in a
    /// folder), then the vendor's file. A mirror folder the service account may not list is passed over (its reason kept
    /// in <paramref name="unreadable"/>), so the vendor's file is still tried.
    /// </summary>
    public static IReadOnlyList<Uri> For(string bulletinNumber, UpdateFacts update, string? stagingLocation, List<string>? unreadable = null)
    {
        var candidates = new List<Uri>();
        if (!string.IsNullOrWhiteSpace(stagingLocation))
        {
            try
            {
                candidates.AddRange(Mirror(bulletinNumber, update, stagingLocation.Trim()).ToList());
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                unreadable?.Add($"{stagingLocation.Trim()}: the staging location could not be read ({e.Message})");
            }
        }
        if (VendorFile(update.DownloadUrl) is { } vendor) candidates.Add(vendor);
        return candidates.Distinct().ToList();
    }

    /// <summary>One listed file: the staging location's copy by file name, then by SHA-256 (when known), then its own URL.</summary>
    public static IReadOnlyList<Uri> ForFile(UpdateFile file, string? stagingLocation)
    {
        var candidates = new List<Uri>();
        if (!string.IsNullOrWhiteSpace(stagingLocation))
        {
            var (root, _) = MirrorRoot(stagingLocation.Trim());
            if (SafeName(file.FileName) is { } name) candidates.Add(new Uri(root + Uri.EscapeDataString(name)));
            if (file.Sha256 is { } sha) candidates.Add(new Uri(root + "sha256/" + sha.ToLowerInvariant()));
        }
        if (VendorFile(file.Url) is { } vendor) candidates.Add(vendor);
        return candidates.Distinct().ToList();
    }

    /// <summary>A vendor URL that names a file; Microsoft Update Catalog search pages do not.</summary>
    public static Uri? VendorFile(string? url)
    {
        if (!Domain.AbsoluteUrl.TryCreate(url, out var found, "http", "https", "file") || found is not { } uri) return null;
        return uri.AbsolutePath.EndsWith(".aspx", StringComparison.OrdinalIgnoreCase) || uri.Query.Contains("q=", StringComparison.OrdinalIgnoreCase) ? null : uri;
    }

    /// <summary>The staging location as a URL prefix, and as a local folder when it is one (to look for files by name).</summary>
    private static (string Root, string? Folder) MirrorRoot(string location)
    {
        var isUrl = Uri.TryCreate(location, UriKind.Absolute, out var baseUri) && baseUri.Scheme is "http" or "https" or "file";
        var folder = isUrl ? (baseUri!.IsFile ? baseUri.LocalPath : null) : Path.GetFullPath(location);
        return (isUrl ? baseUri!.AbsoluteUri.TrimEnd('/') + "/" : new Uri(folder!.TrimEnd('/') + "/").AbsoluteUri, folder);
    }

    private static IEnumerable<Uri> Mirror(string bulletinNumber, UpdateFacts update, string location)
    {
        var (root, folder) = MirrorRoot(location);
        if (SafeName(update.FileName) is { } file) yield return new Uri(root + Uri.EscapeDataString(file));
        if (update.Sha256 is { } sha) yield return new Uri(root + "sha256/" + sha.ToLowerInvariant());
        if (folder is null || !Directory.Exists(folder)) yield break;
        var kb = KbNumber().Match(bulletinNumber);
        if (!kb.Success) yield break;
        var arch = Architecture(update.Product);
        foreach (var match in Directory.EnumerateFiles(folder).Select(Path.GetFileName).Where(n => n is not null).Order(StringComparer.Ordinal))
        {
            var name = match!.ToLowerInvariant();
            if (name.Contains($"kb{kb.Groups[1].Value}") && ArchitectureTokens(arch).Any(t => name.Contains(t))) yield return new Uri(root + Uri.EscapeDataString(match));
        }
    }

    /// <summary>x64, x86 or arm64 from a Microsoft product name ("… for x64-based Systems", "… for 32-bit Systems"); servers without one are x64.</summary>
    public static string Architecture(string product)
    {
        var p = product.ToLowerInvariant();
        if (p.Contains("arm64")) return "arm64";
        if (p.Contains("32-bit") || p.Contains("x86")) return "x86";
        return "x64";
    }

    private static string[] ArchitectureTokens(string arch) => arch switch
    {
        "x86" => ["-x86", "_x86", "-32bit"],
        "arm64" => ["-arm64", "_arm64"],
        _ => ["-x64", "_x64", "-amd64", "_amd64"],
    };

    private static string? SafeName(string? fileName) =>
        string.IsNullOrWhiteSpace(fileName) || fileName.Contains('/') || fileName.Contains('\\') || fileName.Contains("..") ? null : fileName.Trim();

    [GeneratedRegex(@"(?:KB)?([0-9]{6,8})", RegexOptions.IgnoreCase)]
    private static partial Regex KbNumber();
}
