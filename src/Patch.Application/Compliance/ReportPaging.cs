using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http;
using Patch.Application.Common;

namespace Patch.Application.Compliance;

/// <summary>
/// One page of a report. <c>Next</c>: where a report pages by cursor (the drill-downs in name order), the <c>after=</c>
/// value of the page after this one; null on the last page and in the other reports.
/// </summary>
public sealed record ReportPage<T>(IReadOnlyList<T> Items, long Total, int Page, int PageSize, string? Next = null)
{
    public long Pages => Total == 0 ? 1 : (Total + PageSize - 1) / PageSize;
}

/// <summary>
/// A read's answer: the value, or the problem with the request (400), or what was not found (404). The API answers it
/// as JSON, CSV or ProblemDetails; the console renders it; both ran the same query.
/// </summary>
public sealed record QueryAnswer<T>(T? Value, string? Problem, bool NotFound = false)
{
    public static QueryAnswer<T> Ok(T value) => new(value, null);

    public static QueryAnswer<T> Invalid(string problem) => new(default, problem);

    public static QueryAnswer<T> Missing(string what) => new(default, what, NotFound: true);

    public static implicit operator QueryAnswer<T>(T value) => Ok(value);

    public QueryAnswer<TOther> Fail<TOther>() => new(default, Problem, NotFound);

    public IResult ToResult(Func<T, IResult> ok) =>
        Problem is null ? ok(Value!) : NotFound ? Common.Problems.NotFound(Problem) : Common.Problems.Invalid("Invalid query", Problem);
}

/// <summary>Paging, sorting and CSV shared by the reports: unknown values are 400s that name the parameter.</summary>
public sealed record ReportQuery(int Page, int PageSize, string Sort, bool Descending, bool Csv)
{
    public long Offset => (long)(Page - 1) * PageSize;

    /// <summary>The deepest page any list answers: its offset stays within a 32-bit row count for pages of up to 1,000 rows.</summary>
    public const int MaxPage = int.MaxValue / 1000;

    public static (ReportQuery? Query, IResult? Problem) Parse(HttpContext http, IReadOnlyDictionary<string, string> sortColumns, string defaultSort)
    {
        var (query, problem) = Parse(http.Request.Query, ReadSql.CsvRequested(http), sortColumns, defaultSort);
        return (query, problem is null ? null : Problems.Invalid("Invalid query", problem));
    }

    /// <summary>Paging and sort from a query string (the API's or the console's); CSV exports take bigger pages.</summary>
    public static (ReportQuery? Query, string? Problem) Parse(IQueryCollection q, bool csv, IReadOnlyDictionary<string, string> sortColumns, string defaultSort)
    {
        int Int(string name, int fallback, int max, List<string> errors)
        {
            var text = q[name].ToString();
            if (text.Length == 0) return fallback;
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max) return n;
            errors.Add($"{name}: '{text}' must be a whole number from 1 to {max}");
            return fallback;
        }
        var errors = new List<string>();
        var page = Int("page", 1, MaxPage, errors);
        var pageSize = Int("pageSize", csv ? 100_000 : 50, csv ? 1_000_000 : 1000, errors);
        var sortText = q["sort"].ToString().Trim();
        if (sortText.Length == 0) sortText = defaultSort;
        var descending = sortText.StartsWith('-');
        // One sign at most: "--name" or "-" names no column (before, every leading sign was dropped).
        var sort = sortText is ['-' or '+', .. var column] ? column : sortText;
        if (!sortColumns.ContainsKey(sort)) errors.Add($"sort: '{sort}' is not one of {string.Join(", ", sortColumns.Keys)} ('-' for descending)");
        return errors.Count > 0 ? (null, string.Join("; ", errors)) : (new ReportQuery(page, pageSize, sort, descending, csv), null);
    }

    public string OrderBy(IReadOnlyDictionary<string, string> sortColumns, string tieBreak) =>
        $"{sortColumns[Sort]} {(Descending ? "desc" : "asc")} nulls last, {tieBreak}";

    public IResult Answer<T>(ReportPage<T> page) => Csv ? Results.Text(ToCsv(page.Items), "text/csv; charset=utf-8") : Results.Ok(page);

    /// <summary>A report page as JSON, or CSV when asked for ("Save As").</summary>
    public static IResult Answer<T>(QueryAnswer<ReportPage<T>> answer, HttpContext http) =>
        answer.ToResult(page => ReadSql.CsvRequested(http) ? CsvPage(page, http) : Results.Ok(page));

    /// <summary>
    /// A page as CSV (up to 100,000 rows unless pageSize says otherwise): the total in <c>X-Total-Count</c> and, when rows
    /// follow, the next page's address in a <c>Link</c> header (rel="next") — a file cut at its page size is never taken
    /// for the whole report.
    /// </summary>
    private static IResult CsvPage<T>(ReportPage<T> page, HttpContext http)
    {
        http.Response.Headers["X-Total-Count"] = page.Total.ToString(CultureInfo.InvariantCulture);
        if ((long)(page.Page - 1) * page.PageSize + page.Items.Count < page.Total)
        {
            var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(http.Request.QueryString.Value)
                .Where(kv => kv.Key is not ("page" or "after" or "format")).SelectMany(kv => kv.Value.Select(v => new KeyValuePair<string, string?>(kv.Key, v)))
                .Append(page.Next is { } next ? new("after", next) : new("page", (page.Page + 1).ToString(CultureInfo.InvariantCulture)))
                // CSV asked by Accept: the next page's address says so itself, so that following it gives CSV too.
                .Append(new("format", "csv"));
            http.Response.Headers.Link = $"<{Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(http.Request.Path, query)}>; rel=\"next\"";
        }
        return Results.Text(ToCsv(page.Items), "text/csv; charset=utf-8");
    }

    public static IResult Answer<T>(QueryAnswer<IReadOnlyList<T>> answer, HttpContext http) =>
        answer.ToResult(rows => ReadSql.CsvRequested(http) ? Results.Text(ToCsv(rows), "text/csv; charset=utf-8") : Results.Ok(rows));

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
