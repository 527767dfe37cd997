namespace Patch.Domain.Catalog;

/// <summary>
/// What a catalog may call things that become addresses and files: a bulletin's or an update's id is a segment of an
/// API address (/api/bulletins/{id}, /api/updates/{id}), a file name is where an agent saves the package. The fourth
/// sweep (stop 54) imported "KB/../X", which no address could then reach, and "../../../etc/passwd" as a file name.
/// </summary>
public static class CatalogNames
{
    /// <summary>
    /// Null when <paramref name="id"/> can be one segment of an address: no '/', '\', '?' or '#' (a control character is
    /// refused with every catalog text, naming its place).
    /// </summary>
    public static string? IdProblem(string id) =>
        id.IndexOfAny(['/', '\\', '?', '#']) >= 0 ? $"'{Users.UserDecisions.Printable(id)}' is no id an address can name: it may hold none of '/', '\\', '?', '#'" : null;

    /// <summary>
    /// Null when <paramref name="name"/> is a bare file name Windows can save: not empty, no folder ('/', '\', '..', a
    /// drive's ':'), none of Windows' forbidden characters (&lt;&gt;"|?*), at most 255 characters (control characters are
    /// refused with every catalog text).
    /// </summary>
    public static string? FileNameProblem(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) return "a file name is required (empty here)";
        if (name.Length > 255) return $"a file name holds at most 255 characters ({name.Length} here)";
        if (name.IndexOfAny(['/', '\\', ':']) >= 0 || name.Contains("..")) return $"'{Users.UserDecisions.Printable(name)}' must be a bare file name (no folder)";
        if (name.IndexOfAny(['<', '>', '"', '|', '?', '*']) >= 0)
            return $"'{Users.UserDecisions.Printable(name)}' holds a character Windows forbids in a file name (<>\"|?*)";
        return null;
    }
}
