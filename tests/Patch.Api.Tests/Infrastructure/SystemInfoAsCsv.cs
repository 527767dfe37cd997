namespace Patch.Api.Tests.Infrastructure;

/// <summary>
/// A real <c>systeminfo</c> list capture written as <c>systeminfo /fo csv</c> shows the same computer: a header of the
/// labels, a row of the values, a field's further lines joined to its cell by commas. Values start at the column where
/// the first line's value starts (how the list aligns them).
/// </summary>
public static class SystemInfoAsCsv
{
    /// <summary>A list capture as CSV, or null when its values are not aligned in one column.</summary>
    public static (string Header, string Values)? Write(string list)
    {
        var lines = list.Replace("\r\n", "\n").Split('\n').Where(l => l.Trim().Length > 0).ToList();
        var column = lines[0].IndexOf(':') + 1;
        while (column < lines[0].Length && lines[0][column] == ' ') column++;
        var fields = new List<(string Label, List<string> Lines)>();
        foreach (var line in lines)
        {
            if (char.IsWhiteSpace(line[0]) && fields.Count > 0) { fields[^1].Lines.Add(line.Trim()); continue; }
            if (line.Length < column - 1 || line[..Math.Min(column, line.Length)].TrimEnd().LastOrDefault() != ':') return null;
            fields.Add((line[..column].Trim().TrimEnd(':'), [line[Math.Min(column, line.Length)..].Trim()]));
        }
        static string Cell(string text) => "\"" + text.Replace("\"", "\"\"") + "\"";
        return (string.Join(',', fields.Select(f => Cell(f.Label))), string.Join(',', fields.Select(f => Cell(string.Join(',', f.Lines)))));
    }
}
