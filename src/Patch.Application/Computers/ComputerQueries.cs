using Microsoft.AspNetCore.Http;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Compliance;

namespace Patch.Application.Computers;

/// <summary>The computer list (API and console): SQL over the computer documents' fields, never their whole inventories.</summary>
public static class ComputerQueries
{
    private const string Computers = $"{PatchStore.Schema}.mt_doc_computer";

    public static readonly Dictionary<string, string> Sort = new()
    {
        ["name"] = "lower(data->>'name')", ["operatingSystem"] = "data->>'operatingSystem'", ["agentVersion"] = "data->>'agentVersion'",
        ["lastInventoryAt"] = "(data->>'lastInventoryAt')::timestamptz", ["enrolledAt"] = "(data->>'enrolledAt')::timestamptz",
    };

    public static async Task<QueryAnswer<ReportPage<ComputerView>>> ListAsync(NpgsqlDataSource db, TimeProvider time, IQueryCollection paging, bool csv, string? q, string? os,
        string? agentVersion, int? notReportingDays, CancellationToken ct)
    {
        var (query, problem) = ReportQuery.Parse(paging, csv, Sort, "name");
        if (problem is not null) return QueryAnswer<ReportPage<ComputerView>>.Invalid(problem);
        if (notReportingDays is < 1 or > 3650) return QueryAnswer<ReportPage<ComputerView>>.Invalid("notReportingDays: 1 to 3650");
        var where = new List<string> { "true" };
        var ps = new List<NpgsqlParameter>();
        if (!string.IsNullOrWhiteSpace(q)) { where.Add("data->>'name' ilike @q"); ps.Add(new("q", $"%{Like(q.Trim())}%")); }
        if (!string.IsNullOrWhiteSpace(os)) { where.Add("coalesce(data->>'operatingSystem', '') ilike @os"); ps.Add(new("os", $"%{Like(os.Trim())}%")); }
        if (!string.IsNullOrWhiteSpace(agentVersion)) { where.Add("data->>'agentVersion' = @version"); ps.Add(new("version", agentVersion.Trim())); }
        if (notReportingDays is { } days)
        {
            where.Add("coalesce((data->>'agentInstalled')::boolean, false) and (data->>'lastInventoryAt' is null or (data->>'lastInventoryAt')::timestamptz < @since)");
            ps.Add(new("since", time.GetUtcNow().AddDays(-days)));
        }
        var filter = string.Join(" and ", where);
        var sql = $"""
            select id, data->>'name', data->>'domain', data->>'operatingSystem', data->>'macAddress', coalesce((data->>'agentInstalled')::boolean, false), data->>'agentVersion',
                   data->'inventory'->>'osVersion', coalesce(array(select jsonb_array_elements_text(data->'products')), array[]::text[]),
                   (data->>'enrolledAt')::timestamptz, (data->>'lastInventoryAt')::timestamptz, coalesce(jsonb_array_length(data->'inventory'->'installedKbs'), 0)
            from {Computers} where {filter}
            order by {query!.OrderBy(Sort, "id")} limit {query.PageSize} offset {query.Offset}
            """;
        return await ReportSql.PageAsync(db, $"select count(*) from {Computers} where {filter}", sql, ps, r => new ComputerView(r.GetString(0), r.GetString(1),
            r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetBoolean(5),
            r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetFieldValue<string[]>(8),
            r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9), r.IsDBNull(10) ? null : r.GetFieldValue<DateTimeOffset>(10), r.GetInt32(11)), query, ct);
    }

    private static string Like(string text) => text.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_");
}
