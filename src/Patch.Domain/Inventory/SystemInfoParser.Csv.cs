using System.Text.RegularExpressions;
using Sylvan.Data.Csv;

namespace Patch.Domain.Inventory;

/// <summary>
/// <c>systeminfo /fo csv</c>: one header row of labels (absent with <c>/nh</c>) and one row of values for the computer.
/// A field of several values (hotfixes, processors, network cards) is one cell whose lines are joined by commas
/// (<c>5 Hotfix(s) Installed.,[01]: KB4100347,[02]: KB4338832</c>): split back before each <c>[nn]:</c>, as the list
/// form shows them on lines of their own.
/// </summary>
public static partial class SystemInfoParser
{
    /// <summary>The first line is a row of quoted cells: <c>"Host Name","OS Name",…</c>.</summary>
    private static bool LooksLikeCsv(string text)
    {
        var start = text.AsSpan().TrimStart();
        var end = start.IndexOfAny('\r', '\n');
        var line = end < 0 ? start : start[..end];
        return line.StartsWith("\"") && line.Contains("\",\"", StringComparison.Ordinal);
    }

    /// <summary>The fields of a CSV capture, as <see cref="Fields"/> reads them from a list.</summary>
    private static List<Field> CsvFields(string text)
    {
        List<string[]> rows = [];
        try
        {
            using var csv = CsvDataReader.Create(new StringReader(text.TrimStart()), new CsvDataReaderOptions { HasHeaders = false, Delimiter = ',' });
            while (csv.Read())
                if (Enumerable.Range(0, csv.RowFieldCount).Any(i => csv.GetString(i).Trim().Length > 0))
                    rows.Add([.. Enumerable.Range(0, csv.RowFieldCount).Select(csv.GetString)]);
        }
        catch (CsvFormatException e)
        {
            throw new FormatException($"not systeminfo output: a CSV capture whose row {e.RowNumber} is not valid CSV ({e.Message})");
        }
        // With a header, the values are the second row; without one (/nh), the first row already holds the OS version.
        var headed = rows.Count > 0 && !rows[0].Any(c => OsVersion().IsMatch(c.Trim()));
        var values = rows.Skip(headed ? 1 : 0).ToList();
        if (values.Count == 0) throw new FormatException("not systeminfo output: a CSV capture with a header and no computer's row");
        if (values.Count > 1) throw new FormatException($"a systeminfo CSV capture of {values.Count} computers (systeminfo /s): one capture per computer");
        var labels = headed ? rows[0] : [];
        return [.. values[0].Select((cell, i) =>
        {
            var parts = CsvLines().Split(cell);
            return new Field(i < labels.Length ? labels[i].Trim() : "", parts[0].Trim(), [.. parts.Skip(1).Select(p => p.Trim())]);
        })];
    }

    /// <summary>The commas that joined a multi-valued field's lines: each before a "[nn]:" entry.</summary>
    [GeneratedRegex(@",(?=\s*\[[0-9]+\]\s*:)")]
    private static partial Regex CsvLines();
}
