using System.Text;
using Patch.Application.Common;
using Patch.Domain.Vulnerabilities;
using Sylvan.Data.Csv;

namespace Patch.Application.Catalog.Formats;

public static partial class KevCatalogReader
{
    /// <summary>
    /// CISA's KEV CSV (known_exploited_vulnerabilities.csv): RFC 4180 (or semicolons, as Excel re-saves it in many locales) with a header naming the JSON's fields (any order;
    /// columns it does not know, such as notes and cwes, are read past). Rows are numbered as a spreadsheet shows them, the
    /// header being row 1. The CSV carries no catalog version: the latest dateAdded stands for it, written as CISA writes
    /// its catalogVersion (2025.08.25), so the CSV of a day and the JSON of that day describe the same catalog.
    /// </summary>
    public static KevDocument ReadCsv(ReadOnlyMemory<byte> utf8)
    {
        var text = Encoding.UTF8.GetString(utf8.Span);
        try
        {
            using var csv = CsvDataReader.Create(new StringReader(text), new CsvDataReaderOptions
            {
                // CISA's commas; a copy re-saved by Excel where the decimal mark is a comma has semicolons, as its header shows.
                Delimiter = Patch.Domain.Inventory.InventoryText.CsvDelimiter(text),
                // A record as long as the file is still read (a description may be long); the file's size is bounded upstream.
                MaxBufferSize = Math.Max(0x10000, text.Length + 1),
            });
            var header = Enumerable.Range(0, csv.FieldCount).Select(i => csv.GetName(i).Trim()).ToArray();
            for (var c = 0; c < header.Length; c++)
            {
                if (RequestText.ControlAt(header[c]) is var at and >= 0) throw CatalogText.Refusal($"column {c + 1}", header[c], at, $"row 1, column {c + 1}");
                if (Array.FindIndex(header, h => h.Equals(header[c], StringComparison.OrdinalIgnoreCase)) is var other && other != c)
                    throw Invalid($"row 1, column {c + 1}", $"the header names '{header[c]}' twice (also column {other + 1})");
            }
            var column = header.Select((h, i) => (h, i)).ToDictionary(c => c.h, c => c.i, StringComparer.OrdinalIgnoreCase);
            if (Required.FirstOrDefault(f => !column.ContainsKey(f)) is { } missing)
                throw Invalid("row 1", $"the header has no '{missing}' column: neither CISA's KEV JSON nor its CSV (header {string.Join(",", Required)},…)");

            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var items = new List<KnownExploitedFacts>();
            for (var row = 2; csv.Read(); row++)
            {
                if (Enumerable.Range(0, csv.RowFieldCount).All(i => csv.GetString(i).Trim().Length == 0)) continue;
                if (csv.RowFieldCount != header.Length)
                    throw Invalid($"row {row}", $"{csv.RowFieldCount} cells where the header has {header.Length}");
                for (var c = 0; c < header.Length; c++)
                    if (RequestText.ControlAt(csv.GetString(c)) is var at and >= 0) throw CatalogText.Refusal(header[c], csv.GetString(c), at, $"row {row}, {header[c]}");
                var place = row;
                var facts = Entry(name => column.TryGetValue(name, out var c) && csv.GetString(c).Trim() is { Length: > 0 } cell ? cell : null, name => $"row {place}, {name}");
                if (!seen.TryAdd(facts.Cve, row)) throw Invalid($"row {row}, cveID", $"duplicate CVE '{facts.Cve}' (also at row {seen[facts.Cve]})");
                items.Add(facts);
            }
            if (items.Count == 0) throw Invalid("row 2", "the CSV has a header but no entries");
            return new KevDocument(items.Max(v => v.DateAdded).ToString("yyyy.MM.dd", System.Globalization.CultureInfo.InvariantCulture), items);
        }
        catch (CsvFormatException e)
        {
            throw new CatalogFormatException("Malformed CSV", e.Message, $"row {e.RowNumber}");
        }
    }
}
