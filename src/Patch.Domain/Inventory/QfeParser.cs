namespace Patch.Domain.Inventory;

/// <summary>
/// Parses <c>wmic qfe</c> output (Win32_QuickFixEngineering as a fixed-width table; the column names are WMI's and the
/// same in every language), PowerShell's <c>Get-HotFix</c> table, and their CSV forms (<c>wmic qfe list /format:csv</c>,
/// <c>Get-HotFix | Export-Csv</c>). Returns the distinct hotfix ids: KB numbers, and Q numbers on the oldest systems.
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
        if (CsvColumn(header) is { } column) return Csv(string.Join('\n', lines.Skip(headerIndex)), column);
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

    /// <summary>The HotFixID column of a comma-separated header (quoted or not), or null for a fixed-width one.</summary>
    private static int? CsvColumn(string header)
    {
        if (!header.Contains(',')) return null;
        var names = header.Split(',').Select(n => n.Trim().Trim('"')).ToList();
        var at = names.IndexOf("HotFixID");
        return at < 0 ? null : at;
    }

    private static List<string> Csv(string text, int column)
    {
        var ids = new List<string>();
        try
        {
            using var csv = Sylvan.Data.Csv.CsvDataReader.Create(new StringReader(text), new Sylvan.Data.Csv.CsvDataReaderOptions { Delimiter = ',' });
            for (var row = 2; csv.Read(); row++)
            {
                if (csv.RowFieldCount == 0 || Enumerable.Range(0, csv.RowFieldCount).All(i => csv.GetString(i).Trim().Length == 0)) continue;
                if (column >= csv.RowFieldCount) throw new FormatException($"not wmic qfe output: CSV row {row} has {csv.RowFieldCount} cells and no HotFixID (column {column + 1})");
                var cell = csv.GetString(column).Trim();
                if (cell.Length == 0 || cell.Equals("File 1", StringComparison.OrdinalIgnoreCase)) continue;
                var id = SystemInfoParser.Normalize(cell.Split(' ')[0]);
                if ((id.StartsWith("KB", StringComparison.Ordinal) || id.StartsWith('Q')) && !ids.Contains(id)) ids.Add(id);
            }
        }
        catch (Sylvan.Data.Csv.CsvFormatException e)
        {
            throw new FormatException($"not wmic qfe output: CSV row {e.RowNumber} is not valid CSV ({e.Message})");
        }
        return ids;
    }
}
