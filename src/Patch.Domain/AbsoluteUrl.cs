namespace Patch.Domain;

/// <summary>
/// An absolute URL as written: its scheme and "://" spelled out. .NET on Linux also reads a bare path ("/etc/passwd") as
/// an absolute file URL, which no one wrote as one.
/// </summary>
public static class AbsoluteUrl
{
    public static bool TryCreate(string? text, out Uri? uri, params string[] schemes)
    {
        uri = null;
        if (text is null || !Uri.TryCreate(text, UriKind.Absolute, out var parsed) || !schemes.Contains(parsed.Scheme)
            || !text.StartsWith(parsed.Scheme + "://", StringComparison.OrdinalIgnoreCase)) return false;
        uri = parsed;
        return true;
    }

    /// <summary>An http, https or file URL (a catalog's file, a source to import from).</summary>
    public static bool IsWebOrFile(string? text) => TryCreate(text, out _, "http", "https", "file");
}
