namespace Patch.Domain.Inventory;

/// <summary>
/// Parses <c>wmic qfe</c> output (Win32_QuickFixEngineering as a fixed-width table; the column names are WMI's and the
/// same in every language). Returns the distinct hotfix ids: KB numbers, and Q numbers on the oldest systems.
/// </summary>
public static class QfeParser
{
    public static IReadOnlyList<string> Parse(byte[] bytes) => Parse(InventoryText.Decode(bytes));

    public static IReadOnlyList<string> Parse(string text)
    {
        // wmic prints nothing when there is no instance ("No Instance(s) Available." goes to stderr).
        if (string.IsNullOrWhiteSpace(text)) return [];
        // The first run of wmic on XP writes this notice in front of the header, on the same line.
        var lines = InventoryText.Lines(text.Replace("Please wait while WMIC is being installed.", "", StringComparison.Ordinal)).ToList();
        var headerIndex = lines.FindIndex(l => l.Contains("HotFixID", StringComparison.Ordinal));
        if (headerIndex < 0) throw new FormatException("not wmic qfe output: no header with a HotFixID column");
        var header = lines[headerIndex];
        var start = header.IndexOf("HotFixID", StringComparison.Ordinal);
        var end = start + "HotFixID".Length;
        while (end < header.Length && header[end] == ' ') end++;
        var lastColumn = end >= header.Length;

        var ids = new List<string>();
        foreach (var line in lines.Skip(headerIndex + 1))
        {
            if (line.Length <= start) continue;
            var cell = (lastColumn ? line[start..] : line[start..Math.Min(end, line.Length)]).Trim();
            if (cell.Length == 0 || cell.Equals("File 1", StringComparison.OrdinalIgnoreCase)) continue;
            var id = SystemInfoParser.Normalize(cell.Split(' ')[0]);
            if ((id.StartsWith("KB", StringComparison.Ordinal) || id.StartsWith('Q')) && !ids.Contains(id)) ids.Add(id);
        }
        return ids;
    }
}
