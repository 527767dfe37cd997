using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http;
using Patch.Application.Common;

namespace Patch.Application.Compliance;

public sealed record ReportPage<T>(IReadOnlyList<T> Items, long Total, int Page, int PageSize);

/// <summary>Paging, sorting and CSV shared by the reports: unknown values are 400s that name the parameter.</summary>
public sealed record ReportQuery(int Page, int PageSize, string Sort, bool Descending, bool Csv)
{
    public long Offset => (long)(Page - 1) * PageSize;

    public static (ReportQuery? Query, IResult? Problem) Parse(HttpContext http, IReadOnlyDictionary<string, string> sortColumns, string defaultSort)
    {
        var q = http.Request.Query;
        var csv = ReadSql.CsvRequested(http);
        int Int(string name, int fallback, int max, List<string> errors)
        {
            var text = q[name].ToString();
            if (text.Length == 0) return fallback;
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max) return n;
            errors.Add($"{name}: '{text}' must be a whole number from 1 to {max}");
            return fallback;
        }
        var errors = new List<string>();
        var page = Int("page", 1, int.MaxValue / 1000, errors);
        var pageSize = Int("pageSize", csv ? 100_000 : 50, csv ? 1_000_000 : 1000, errors);
        var sortText = q["sort"].ToString().Trim();
        if (sortText.Length == 0) sortText = defaultSort;
        var descending = sortText.StartsWith('-');
        var sort = sortText.TrimStart('-', '+');
        if (!sortColumns.ContainsKey(sort)) errors.Add($"sort: '{sort}' is not one of {string.Join(", ", sortColumns.Keys)} ('-' for descending)");
        return errors.Count > 0
            ? (null, Problems.Invalid("Invalid query", string.Join("; ", errors)))
            : (new ReportQuery(page, pageSize, sort, descending, csv), null);
    }

    public string OrderBy(IReadOnlyDictionary<string, string> sortColumns, string tieBreak) =>
        $"{sortColumns[Sort]} {(Descending ? "desc" : "asc")} nulls last, {tieBreak}";

    public IResult Answer<T>(ReportPage<T> page) => Csv ? Results.Text(ToCsv(page.Items), "text/csv; charset=utf-8") : Results.Ok(page);

    public static string ToCsv<T>(IEnumerable<T> rows)
    {
        var props = typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.PropertyType == typeof(string) || !typeof(System.Collections.IEnumerable).IsAssignableFrom(p.PropertyType) || p.PropertyType == typeof(string)).ToList();
        var sb = new StringBuilder();
        sb.AppendJoin(',', props.Select(p => char.ToLowerInvariant(p.Name[0]) + p.Name[1..])).Append("\r\n");
        foreach (var row in rows)
            sb.AppendJoin(',', props.Select(p => Common.Csv.Cell(Format(p.GetValue(row))))).Append("\r\n");
        return sb.ToString();
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        bool b => b ? "true" : "false",
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
