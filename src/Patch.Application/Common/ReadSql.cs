using Microsoft.AspNetCore.Http;
using Patch.Projections;

namespace Patch.Application.Common;

/// <summary>Pieces the read-side queries share.</summary>
public static class ReadSql
{
    /// <summary>
    /// A lateral join that marks a bulletin row known-exploited (CISA KEV) with the earliest due date of its CVEs:
    /// <c>{alias}.listed</c> (null when none is listed) and <c>{alias}.due</c>; as it stood at <c>@asOf</c> when asked.
    /// </summary>
    public static string KnownExploited(string rowAlias, string alias, bool asOf = false) => $"""
        left join lateral (
          select true as listed, min((kev_doc.data->'facts'->>'dueDate')::date) as due
          from jsonb_array_elements_text({rowAlias}.data->'cves') kev_cve(cve)
          join {Projections.History.ReadModelHistory.Relation(PatchProjections.KnownExploitedTable, asOf)} kev_doc on kev_doc.id = 'cve:' || upper(kev_cve.cve)
          having count(*) > 0) {alias} on true
        """;

    /// <summary>A read-model table (in schema patch), or its rows as they stood at <c>@asOf</c> (ADR 0019): give it an alias.</summary>
    public static string At(string table, DateTimeOffset? asOf) => Projections.History.ReadModelHistory.Relation(table, asOf is not null);

    /// <summary>The same, for a read that keeps to some keys: <paramref name="keys"/> narrows a keyed history's probes (alias <c>b</c>).</summary>
    public static string At(string table, DateTimeOffset? asOf, string keys) => Projections.History.ReadModelHistory.Relation(table, asOf is not null, keys: keys);

    /// <summary>The <c>@asOf</c> parameter when asked, else none.</summary>
    public static List<Npgsql.NpgsqlParameter> AsOfParameters(DateTimeOffset? asOf) => asOf is { } at ? [new("asOf", at)] : [];

    /// <summary>"Save As": CSV when asked with format=csv or Accept: text/csv.</summary>
    public static bool CsvRequested(HttpContext http) =>
        // The parameter as its check reads it (trimmed), and it decides over the Accept header when given (format=json answers JSON).
        http.Request.Query["format"].ToString().Trim() is { Length: > 0 } format
            ? string.Equals(format, "csv", StringComparison.OrdinalIgnoreCase)
            // text/csv accepted at a quality above 0 (q=0 says "not this one", RFC 9110 §12.4.2).
            : Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParseList(http.Request.Headers.Accept, out var accepted)
              && accepted.Any(a => a.MediaType.Equals("text/csv", StringComparison.OrdinalIgnoreCase) && (a.Quality ?? 1) > 0);
}
