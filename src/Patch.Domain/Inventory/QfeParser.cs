namespace Patch.Domain.Inventory;

/// <summary>
/// Parses <c>wmic qfe</c> output (Win32_QuickFixEngineering as a fixed-width table; the column names are WMI's and the
/// same in every language), PowerShell's <c>Get-HotFix</c> table, their CSV forms (<c>wmic qfe list /format:csv</c>,
/// <c>Get-HotFix | Export-Csv</c>), their list forms (<c>wmic qfe list /format:list</c>: <c>HotFixID=KB…</c>;
/// <c>Get-HotFix | Format-List</c>: <c>HotFixID : KB…</c>) and JSON (<c>Get-HotFix | ConvertTo-Json</c>). Returns the
/// distinct hotfix ids: KB numbers, and Q numbers on the oldest systems.
/// </summary>
public static partial class QfeParser
{
    public static IReadOnlyList<string> Parse(byte[] bytes) => Parse(InventoryText.Decode(bytes));

    public static IReadOnlyList<string> Parse(string text)
    {
        // wmic prints nothing when there is no instance ("No Instance(s) Available." goes to stderr).
        if (string.IsNullOrWhiteSpace(text)) return [];
        if (text.TrimStart('\uFEFF', ' ', '\t', '\r', '\n') is ['[' or '{', ..] json) return Json(json);
        // The first run of wmic on XP writes this notice in front of the header, on the same line.
        var lines = InventoryText.Lines(text.Replace("Please wait while WMIC is being installed.", "", StringComparison.Ordinal)).ToList();
        var headerIndex = lines.FindIndex(l => l.Contains("HotFixID", StringComparison.Ordinal));
        if (headerIndex < 0) throw new FormatException("not wmic qfe output: no header with a HotFixID column");
        var header = lines[headerIndex];
        // A list names the property on every instance's line (its first line is no header: cutting the others at its
        // columns read nothing, in silence).
        if (ListLine().IsMatch(header)) return Ids(lines.Select(l => ListLine().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value));
        var delimiter = InventoryText.CsvDelimiter(header);
        if (CsvColumn(header, delimiter) is { } column) return Csv(string.Join('\n', lines.Skip(headerIndex)), column, delimiter);
        var start = header.IndexOf("HotFixID", StringComparison.Ordinal);
        var end = start + "HotFixID".Length;
        while (end < header.Length && header[end] == ' ') end++;
        var lastColumn = end >= header.Length;

        return Ids(lines.Skip(headerIndex + 1).Where(line => line.Length > start).Select(line => lastColumn ? line[start..] : line[start..Math.Min(end, line.Length)]));
    }

    /// <summary>The distinct KB and Q ids of the cells given, in order (a cell's first word; blank cells and XP's "File 1" are none).</summary>
    private static List<string> Ids(IEnumerable<string> cells)
    {
        var ids = new List<string>();
        foreach (var raw in cells)
        {
            var cell = raw.Trim();
            if (cell.Length == 0 || cell.Equals("File 1", StringComparison.OrdinalIgnoreCase)) continue;
            if (SystemInfoParser.Normalize(cell.Split(' ')[0]) is { } id && !ids.Contains(id)) ids.Add(id);
        }
        return ids;
    }

    /// <summary>PowerShell's JSON of the hotfixes: an array of objects (or one object) with a HotFixID each.</summary>
    private static List<string> Json(string text)
    {
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(text, new System.Text.Json.JsonDocumentOptions { MaxDepth = 32 });
            var root = json.RootElement;
            var items = root.ValueKind == System.Text.Json.JsonValueKind.Array ? root.EnumerateArray().ToList() : [root];
            var cells = new List<string>();
            foreach (var item in items)
            {
                if (item.ValueKind != System.Text.Json.JsonValueKind.Object) continue;
                var property = item.EnumerateObject().FirstOrDefault(p => p.Name.Equals("HotFixID", StringComparison.OrdinalIgnoreCase));
                if (property.Value.ValueKind == System.Text.Json.JsonValueKind.String) cells.Add(property.Value.GetString()!);
                else if (property.Value.ValueKind is not (System.Text.Json.JsonValueKind.Undefined or System.Text.Json.JsonValueKind.Null))
                    throw new FormatException($"not Get-HotFix output: a HotFixID in the JSON is {property.Value.ValueKind.ToString().ToLowerInvariant()}, not text");
            }
            if (cells.Count == 0 && items.Count > 0) throw new FormatException("not Get-HotFix output: the JSON has no object with a HotFixID property");
            return Ids(cells);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new FormatException($"not Get-HotFix output: malformed JSON at line {(e.LineNumber ?? 0) + 1} ({e.Message.Split(" Path:")[0]})");
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\s*HotFixID\s*[=:]\s*(.*)$", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex ListLine();

    /// <summary>The HotFixID column of a delimited header (quoted or not: commas, or Export-Csv -UseCulture's semicolons), or null for a fixed-width one.</summary>
    private static int? CsvColumn(string header, char delimiter)
    {
        if (!header.Contains(delimiter)) return null;
        // The header's cells as the CSV reader sees them (a quoted name may hold the delimiter).
        List<string> names;
        try
        {
            using var csv = Sylvan.Data.Csv.CsvDataReader.Create(new StringReader(header), new Sylvan.Data.Csv.CsvDataReaderOptions { Delimiter = delimiter });
            names = [.. Enumerable.Range(0, csv.FieldCount).Select(i => csv.GetName(i).Trim())];
        }
        catch (Sylvan.Data.Csv.CsvFormatException)
        {
            return null;
        }
        var at = names.IndexOf("HotFixID");
        return at < 0 ? null : at;
    }

    private static List<string> Csv(string text, int column, char delimiter)
    {
        var cells = new List<string>();
        try
        {
            using var csv = Sylvan.Data.Csv.CsvDataReader.Create(new StringReader(text), new Sylvan.Data.Csv.CsvDataReaderOptions { Delimiter = delimiter });
            for (var row = 2; csv.Read(); row++)
            {
                if (csv.RowFieldCount == 0 || Enumerable.Range(0, csv.RowFieldCount).All(i => csv.GetString(i).Trim().Length == 0)) continue;
                if (column >= csv.RowFieldCount) throw new FormatException($"not wmic qfe output: CSV row {row} has {csv.RowFieldCount} cells and no HotFixID (column {column + 1})");
                cells.Add(csv.GetString(column));
            }
        }
        catch (Sylvan.Data.Csv.CsvFormatException e)
        {
            throw new FormatException($"not wmic qfe output: CSV row {e.RowNumber} is not valid CSV ({e.Message})");
        }
        return Ids(cells);
    }
}
