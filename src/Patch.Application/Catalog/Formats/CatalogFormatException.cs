namespace Patch.Application.Catalog.Formats;

/// <summary>
/// A vendor file that cannot be imported. <see cref="Place"/> names where (a line and column, or a JSON path),
/// so the administrator can find the fault; nothing of the file is imported.
/// </summary>
public sealed class CatalogFormatException(string title, string detail, string? place = null) : Exception($"{title}: {detail}" + (place is null ? "" : $" (at {place})"))
{
    public string Title { get; } = title;
    public string Detail { get; } = detail;
    public string? Place { get; } = place;
}
