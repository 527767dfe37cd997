using System.Globalization;
using Microsoft.AspNetCore.Http;
using Patch.Domain.Catalog;

namespace Patch.Application.Bulletins;

/// <summary>The Remediation Center's query string, parsed and checked. Unknown values are errors, never ignored.</summary>
public sealed record BulletinQuery(
    string? Q,
    IReadOnlyList<string> Vendors,
    IReadOnlyList<Severity> Severities,
    IReadOnlyList<string> CustomSeverities,
    bool? Staged,
    bool? KnownExploited,
    bool? Superseded,
    DateTimeOffset? ReleasedFrom,
    DateTimeOffset? ReleasedTo,
    DateTimeOffset? RevisedFrom,
    DateTimeOffset? RevisedTo,
    string? View,
    string Sort,
    bool Descending,
    int Page,
    int PageSize,
    bool Paged,
    string? GroupBy,
    IReadOnlyList<string>? Families = null)
{
    public const int MaxPageSize = 1000;

    /// <summary>A CSV export's largest page, as every report's ("Save As" asks for pageSize=1000000).</summary>
    public const int MaxCsvPageSize = 1_000_000;

    /// <summary>Columns that can be sorted and grouped on, as the API names them.</summary>
    public static readonly string[] Columns =
        ["bulletin", "vendor", "severity", "customSeverity", "staged", "policies", "updates", "downloaded", "released", "revised", "title", "cveCount", "knownExploited", "superseded"];

    public static (BulletinQuery? Query, string? Error) Parse(IQueryCollection q, bool csv = false)
    {
        var errors = new List<string>();
        var severities = new List<Severity>();
        foreach (var s in List(q, "severity"))
        {
            if (SeverityNames.TryParseStrict(s, out var sev)) severities.Add(sev);
            else errors.Add($"severity: '{s}' is not one of Critical, Important, Moderate, Low, None");
        }

        var sortText = q["sort"].ToString().Trim();
        var descending = sortText.StartsWith('-');
        // One sign at most: "--severity" or "-" names no column.
        var sort = sortText is ['-' or '+', .. var column] ? column : sortText;
        if (sortText.Length == 0) { sort = "released"; descending = true; }
        if (!Columns.Contains(sort)) errors.Add($"sort: '{sort}' is not one of {string.Join(", ", Columns)} (prefix '-' for descending)");

        var groupBy = q["groupBy"].ToString().Trim();
        if (groupBy.Length > 0 && !Columns.Contains(groupBy)) errors.Add($"groupBy: '{groupBy}' is not one of {string.Join(", ", Columns)}");

        var view = q["view"].ToString().Trim();
        if (view.Length > 0 && view is not ("latest" or "lastMonth")) errors.Add($"view: '{view}' is not one of latest, lastMonth");

        var families = List(q, "family");
        foreach (var f in families.Where(f => !Domain.Inventory.Products.ProductFamilies.IsKnown(f)))
            errors.Add($"family: '{f}' is not one of {string.Join(", ", Domain.Inventory.Products.ProductFamilies.All.Select(x => x.Id))}");

        // format=csv (or Accept: text/csv) asks for CSV, format=json for JSON; anything else is no format this list has.
        if (q.TryGetValue("format", out var format) && !(format.ToString().ToLowerInvariant() is "csv" or "json"))
            errors.Add($"format: '{Domain.Users.UserDecisions.Printable(format.ToString())}' is not one of csv, json");
        var paged = q.ContainsKey("page") || q.ContainsKey("pageSize");
        var page = Int(q, "page", 1, 1, int.MaxValue, errors);
        var pageSize = Int(q, "pageSize", 50, 1, csv ? MaxCsvPageSize : MaxPageSize, errors);
        var query = new BulletinQuery(
            NullIfEmpty(q["q"].ToString()), List(q, "vendor"), severities, List(q, "customSeverity"),
            Bool(q, "staged", errors), Bool(q, "knownExploited", errors), Bool(q, "superseded", errors),
            Date(q, "releasedFrom", errors), Date(q, "releasedTo", errors), Date(q, "revisedFrom", errors), Date(q, "revisedTo", errors),
            NullIfEmpty(view), sort, descending, page, pageSize, paged, NullIfEmpty(groupBy), families);
        // A range that ends before it begins holds nothing: a question asked wrong, not an empty answer.
        if (query.ReleasedFrom > query.ReleasedTo) errors.Add("releasedFrom is after releasedTo");
        if (query.RevisedFrom > query.RevisedTo) errors.Add("revisedFrom is after revisedTo");
        return errors.Count == 0 ? (query, null) : (null, string.Join("; ", errors));
    }

    private static string? NullIfEmpty(string s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();

    private static IReadOnlyList<string> List(IQueryCollection q, string name) =>
        q[name].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();

    private static bool? Bool(IQueryCollection q, string name, List<string> errors)
    {
        var text = q[name].ToString();
        if (text.Length == 0) return null;
        if (bool.TryParse(text, out var b)) return b;
        errors.Add($"{name}: '{text}' is not true or false");
        return null;
    }

    private static int Int(IQueryCollection q, string name, int fallback, int min, int max, List<string> errors)
    {
        var text = q[name].ToString();
        if (text.Length == 0) return fallback;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max) return n;
        errors.Add($"{name}: '{text}' must be a whole number from {min} to {max}");
        return fallback;
    }

    private static DateTimeOffset? Date(IQueryCollection q, string name, List<string> errors)
    {
        var text = q[name].ToString();
        if (text.Length == 0) return null;
        if (Common.IsoInstant.TryParse(text, out var d)) return d;
        errors.Add(Common.IsoInstant.Refusal(name, text));
        return null;
    }
}
