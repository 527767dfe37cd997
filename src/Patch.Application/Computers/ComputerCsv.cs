using Patch.Application.Catalog.Formats;
using Patch.Application.Common;

namespace Patch.Application.Computers;

/// <summary>
/// The CSV of discovered computers: RFC 4180 (quoted cells may hold commas, quotes and line breaks; separated by commas,
/// or by the semicolons or tabs a header shows, as Excel writes them in many locales), UTF-8, a header
/// naming the columns — Patch's own <c>name,domain,os,mac</c>, or what a directory export writes (PowerShell's
/// <c>Get-ADComputer … | Export-Csv</c>: its <c>#TYPE</c> line, Name, DNSHostName, OperatingSystem; MACAddress).
/// A cell with a control character other than tab, LF or CR is refused naming its row and column.
/// </summary>
public static class ComputerCsv
{
    public sealed record Result(IReadOnlyList<RegisterComputer> Rows, IReadOnlyList<string> IgnoredColumns, string? Error);

    /// <summary>The names each field is known by, Patch's first.</summary>
    private static readonly (string Field, string[] Names)[] Columns =
    [
        ("name", ["name", "computername", "cn", "hostname"]),
        ("domain", ["domain"]),
        ("dnshostname", ["dnshostname"]),
        ("os", ["os", "operatingsystem"]),
        ("mac", ["mac", "macaddress"]),
    ];

    /// <summary>The body as text: UTF-8 (a byte order mark allowed), or the reason it is not.</summary>
    public static (string? Text, string? Error) Decode(Stream body)
    {
        try
        {
            return (System.Text.Encoding.UTF8.GetString(CatalogJson.Utf8(body, "a computer CSV", "(Excel: save as \"CSV UTF-8\")").Span), null);
        }
        catch (CatalogFormatException e)
        {
            return (null, $"{e.Detail} (at {e.Place})");
        }
    }

    public static Result Parse(string text)
    {
        if (text.Trim().Length == 0) return Refused("the file is empty");
        // Blank lines before the header are no header; PowerShell's Export-Csv writes a "#TYPE …" line before it.
        text = text.TrimStart('\r', '\n', ' ', '\t', '\uFEFF');
        if (text.StartsWith("#TYPE", StringComparison.OrdinalIgnoreCase)) text = text[(text.IndexOf('\n') is var nl and >= 0 ? nl + 1 : text.Length)..];
        try
        {
            // Excel writes semicolons where the decimal mark is a comma (German, French… "CSV UTF-8" included).
            var delimiter = Domain.Inventory.InventoryText.CsvDelimiter(text);
            using var csv = Sylvan.Data.Csv.CsvDataReader.Create(new StringReader(text), new Sylvan.Data.Csv.CsvDataReaderOptions { Delimiter = delimiter });
            var header = Enumerable.Range(0, csv.FieldCount).Select(i => csv.GetName(i).Trim()).ToList();
            if (header.Select((h, i) => (h, i)).FirstOrDefault(c => RequestText.ControlAt(c.h) >= 0) is { h: not null } bad)
                return Refused($"line 1: a control character in the header's column {bad.i + 1}");
            var lower = header.Select(h => h.ToLowerInvariant()).ToList();
            if (lower.Select((h, i) => (h, i)).FirstOrDefault(c => c.h.Length > 0 && lower.IndexOf(c.h) != c.i) is { h: not null } twice)
                return Refused($"line 1: the header names '{header[twice.i]}' twice (columns {lower.IndexOf(twice.h) + 1} and {twice.i + 1})");
            var column = Columns.ToDictionary(c => c.Field, c => c.Names.Select(n => lower.IndexOf(n)).FirstOrDefault(i => i >= 0, -1));
            // The DNS name is read only for the domain it names: beside a domain column it is a column not read.
            if (column["domain"] >= 0) column["dnshostname"] = -1;
            if (column["name"] < 0) return Refused("line 1: the header needs a 'name' column (and optionally domain, os, mac; or a directory export's Name, DNSHostName, OperatingSystem, MACAddress)");
            // Named back, never dropped in silence (a column without a name by its number: Excel's trailing commas).
            var ignored = header.Select((h, i) => (h, i)).Where(c => !column.ContainsValue(c.i)).Select(c => c.h.Length > 0 ? c.h : $"column {c.i + 1}").ToList();
            var rows = new List<RegisterComputer>();
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var row = 1; csv.Read(); row++)
            {
                if (Enumerable.Range(0, csv.RowFieldCount).All(i => csv.GetString(i).Trim().Length == 0)) continue;
                if (csv.RowFieldCount != header.Count) return Refused($"row {row}: {csv.RowFieldCount} cells where the header has {header.Count}");
                var cells = Enumerable.Range(0, header.Count).Select(i => csv.GetString(i).Trim()).ToArray();
                for (var c = 0; c < cells.Length; c++)
                    if (RequestText.ControlAt(cells[c]) is var at and >= 0)
                        return Refused($"row {row}: {lower[c]}: a control character (U+{(int)cells[c][at]:X4}) in the cell");
                string? Cell(string field) => column[field] is >= 0 and var c && cells[c].Length > 0 ? cells[c] : null;
                // A directory export names the domain in the computer's DNS name (ws-001.corp.example.com).
                var domain = Cell("domain") ?? (Cell("dnshostname") is { } dns && dns.IndexOf('.') is var dot and > 0 && dot < dns.Length - 1 ? dns[(dot + 1)..] : null);
                // One computer per name (names compare as the computer's stream does: trimmed, any case).
                if (Cell("name") is { } name && !seen.TryAdd(Domain.Computers.Computer.StreamId(name), row))
                    return Refused($"row {row}: name: the computer '{name}' is listed twice (also row {seen[Domain.Computers.Computer.StreamId(name)]})");
                rows.Add(new RegisterComputer(Cell("name"), domain, Cell("os"), Cell("mac")));
            }
            return new Result(rows, ignored, null);
        }
        catch (Sylvan.Data.Csv.CsvRecordTooLargeException e)
        {
            // A computer's row is a name, a domain, an operating system and a MAC address: never tens of thousands of characters.
            return Refused($"row {e.RowNumber}: longer than 65,536 characters; a computer's cells are far shorter");
        }
        catch (Sylvan.Data.Csv.CsvFormatException e)
        {
            return Refused($"row {e.RowNumber}: not valid CSV ({e.Message})");
        }
    }

    private static Result Refused(string error) => new([], [], error);
}
