using System.Text;
using Marten;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.Settings;
using Patch.Projections;

namespace Patch.Application.Bulletins;

public sealed record BulletinListItem(
    string Id,
    string Bulletin,
    string Vendor,
    string Severity,
    string? CustomSeverityId,
    string? CustomSeverity,
    bool Staged,
    int Policies,
    int Updates,
    int Downloaded,
    int ExcludedUpdates,
    int FailedDownloads,
    DateTimeOffset? Released,
    DateTimeOffset? Revised,
    string Title,
    string? Description,
    int CveCount,
    bool KnownExploited,
    DateOnly? KnownExploitedDueDate,
    IReadOnlyList<string> SupersededBy,
    IReadOnlyList<string>? Families = null,
    int UnresolvedUpdates = 0);

public sealed record GroupCount(string? Key, long Count);

public sealed record BulletinPage(IReadOnlyList<BulletinListItem> Items, long Total, int Page, int PageSize, IReadOnlyList<GroupCount>? Groups);

/// <summary>
/// The Patch Remediation Center list (C2): one SQL statement over the inline bulletin rows, joined with the
/// known-exploited CVEs and the rows that supersede each bulletin, so derived columns are always current.
/// </summary>
/// <summary>A list question naming something the server has none of (a custom severity level): answered 400, never an empty list.</summary>
public sealed class BulletinQueryRefused(string detail) : Exception(detail);

public sealed class ListBulletins(NpgsqlDataSource db, IQuerySession session, TimeProvider time)
{
    private const string Schema = PatchStore.Schema;

    private static readonly Dictionary<string, string> ColumnSql = new()
    {
        ["bulletin"] = "bulletin", ["vendor"] = "vendor", ["severity"] = "severity", ["customSeverity"] = "custom_rank",
        ["staged"] = "staged", ["policies"] = "policies", ["updates"] = "updates", ["downloaded"] = "downloaded",
        ["released"] = "released", ["revised"] = "revised", ["title"] = "title", ["cveCount"] = "cve_count",
        ["knownExploited"] = "known_exploited", ["superseded"] = "superseded",
    };

    /// <summary>
    /// The rows now: the Remediation Center's own narrow list (<see cref="Projections.Catalog.BulletinList"/>), whose
    /// derived columns are kept as their facts change. Or (<paramref name="asOf"/>) every read model they join as it
    /// stood at <c>@asOf</c>, the derived columns joined from those versions (the same columns, by the same names).
    /// </summary>
    private static string Rows(bool asOf)
    {
        string At(string table) => Projections.History.ReadModelHistory.Relation(table, asOf);
        var levels = $"with levels as (select coalesce(array(select jsonb_array_elements(l.data->'levels')->>'id' from {At(PatchProjections.CustomSeverityLevelsTable)} l), array[]::text[]) as ids),";
        if (!asOf)
            return $"""
                {levels}
                r as (select d.*, array_position((select ids from levels), d.custom_severity) as custom_rank from {Schema}.{Projections.Catalog.BulletinList.Table} d),
                newest as (select released from {Schema}.{Projections.Catalog.BulletinList.Table} where released is not null order by released desc limit 1)
                """;
        return $"""
        {levels}
        r as (
          select d.id, d.data->>'number' as bulletin, d.data->>'vendor' as vendor, (d.data->>'severityRank')::int as severity,
                 d.data->>'customSeverityId' as custom_severity, array_position((select ids from levels), d.data->>'customSeverityId') as custom_rank,
                 (d.data->>'staged')::boolean as staged,
                 (select count(*)::int from {At(PatchProjections.PolicyTable)} p where p.data @> jsonb_build_object('bulletins', jsonb_build_array(d.id), 'status', 'Active')) as policies, (d.data->>'updates')::int as updates,
                 (d.data->>'downloaded')::int as downloaded, (d.data->>'excludedUpdates')::int as excluded_updates,
                 (d.data->>'failedDownloads')::int as failed_downloads, coalesce((d.data->>'unresolved')::int, 0) as unresolved,
                 (d.data->>'released')::timestamptz as released, (d.data->>'revised')::timestamptz as revised,
                 d.data->>'title' as title, d.data->>'description' as description,
                 coalesce((select jsonb_agg(upper(btrim(c))) from jsonb_array_elements_text(d.data->'cves') c), '[]'::jsonb) as cves, (d.data->>'cveCount')::int as cve_count,
                 coalesce(kev.listed, false) as known_exploited, kev.due as kev_due,
                 coalesce(sb.ids, array[]::text[]) as superseded_by, sb.ids is not null as superseded,
                 coalesce(array(select jsonb_array_elements_text(d.data->'families')), array[]::text[]) as families
          from {At(PatchProjections.BulletinRowTable)} d
          {ReadSql.KnownExploited("d", "kev", asOf)}
          left join lateral (
            select array_agg(s.data->>'number' order by s.data->>'number') as ids
            from {At(PatchProjections.BulletinRowTable)} s
            where s.data @> jsonb_build_object('supersedes', jsonb_build_array(d.data->>'number'), 'vendor', d.data->>'vendor')
            having count(*) > 0) sb on true
        ),
        newest as (select released from r)
        """;
    }

    public async Task<BulletinPage> ExecuteAsync(BulletinQuery query, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var levels = (asOf is { } at
            ? await session.Events.AggregateStreamAsync<CustomSeverityLevels>(StreamIds.CustomSeverityLevels, timestamp: at, token: ct)
            : await session.LoadAsync<CustomSeverityLevels>(StreamIds.CustomSeverityLevels, ct)) ?? CustomSeverityLevels.Empty;
        var names = levels.Levels.ToDictionary(l => l.Id, l => l.Name);
        // A level that is none (a typo, a level deleted) answers no question: refused, not answered "no bulletins".
        if (query.CustomSeverities.FirstOrDefault(c => c != "none" && !levels.Levels.Any(l => l.Id == c || string.Equals(l.Name, c, StringComparison.OrdinalIgnoreCase))) is { } unknown)
            throw new BulletinQueryRefused($"customSeverity: '{Domain.Users.UserDecisions.Printable(unknown)}' is no custom severity level{(asOf is null ? "" : " then (asOf)")} " +
                $"(by id or name: {(levels.Levels.Count == 0 ? "there are none" : string.Join(", ", levels.Levels.Select(l => $"{l.Id} '{l.Name}'")))}; 'none' for bulletins without one)");
        await using var conn = await db.OpenConnectionAsync(ct);
        var (where, parameters) = Where(query, levels, asOf ?? time.GetUtcNow());
        parameters.AddRange(ReadSql.AsOfParameters(asOf));
        var rows = Rows(asOf is not null);

        long total;
        await using (var count = Command(conn, $"{rows} select count(*) from r where {where}", parameters))
            total = (long)(await count.ExecuteScalarAsync(ct))!;

        var order = $"{ColumnSql[query.Sort]} {(query.Descending ? "desc" : "asc")} nulls last, bulletin asc";
        var limit = query.Paged ? $" limit {query.PageSize} offset {(long)(query.Page - 1) * query.PageSize}" : "";
        var items = new List<BulletinListItem>();
        await using (var select = Command(conn, $"{rows} select id, bulletin, vendor, severity, custom_severity, staged, policies, updates, downloaded, excluded_updates, failed_downloads, released, revised, title, description, cve_count, known_exploited, kev_due, superseded_by, families, unresolved from r where {where} order by {order}{limit}", parameters))
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var customId = reader.IsDBNull(4) ? null : reader.GetString(4);
                items.Add(new BulletinListItem(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), ((Severity)reader.GetInt32(3)).ToString(),
                    customId, customId is null ? null : names.GetValueOrDefault(customId), reader.GetBoolean(5), reader.GetInt32(6),
                    reader.GetInt32(7), reader.GetInt32(8), reader.GetInt32(9), reader.GetInt32(10),
                    reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11), reader.IsDBNull(12) ? null : reader.GetFieldValue<DateTimeOffset>(12),
                    reader.GetString(13), reader.IsDBNull(14) ? null : reader.GetString(14), reader.GetInt32(15), reader.GetBoolean(16),
                    reader.IsDBNull(17) ? null : reader.GetFieldValue<DateOnly>(17), reader.GetFieldValue<string[]>(18), reader.GetFieldValue<string[]>(19),
                    reader.GetInt32(20)));
            }
        }

        List<GroupCount>? groups = null;
        if (query.GroupBy is { } groupBy)
        {
            groups = [];
            var column = ColumnSql[groupBy == "customSeverity" ? "customSeverity" : groupBy];
            var keySql = groupBy == "customSeverity" ? "custom_severity" : column;
            await using var group = Command(conn, $"{rows} select {keySql}::text, count(*) from r where {where} group by {keySql} order by count(*) desc, {keySql}::text", parameters);
            await using var reader = await group.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var key = reader.IsDBNull(0) ? null : reader.GetString(0);
                groups.Add(new GroupCount(DisplayKey(groupBy, key, names), reader.GetInt64(1)));
            }
        }

        return new BulletinPage(items, total, query.Page, query.Paged ? query.PageSize : items.Count, groups);
    }

    private static string? DisplayKey(string groupBy, string? key, Dictionary<string, string> names) => groupBy switch
    {
        "severity" when int.TryParse(key, out var rank) => ((Severity)rank).ToString(),
        "customSeverity" when key is not null => names.GetValueOrDefault(key, key),
        _ => key,
    };

    private static (string Where, List<NpgsqlParameter> Parameters) Where(BulletinQuery q, CustomSeverityLevels levels, DateTimeOffset now)
    {
        var clauses = new List<string> { "true" };
        var ps = new List<NpgsqlParameter>();
        void Add(string clause, string name, object value) { clauses.Add(clause); ps.Add(new NpgsqlParameter(name, value)); }

        if (q.Q is { } text)
        {
            var like = "%" + text.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";
            Add("(bulletin ilike @q or title ilike @q or description ilike @q or cves ? upper(@qexact))", "q", like);
            ps.Add(new NpgsqlParameter("qexact", text));
        }
        if (q.Vendors.Count > 0) Add("lower(vendor) = any(@vendors)", "vendors", q.Vendors.Select(v => v.ToLowerInvariant()).ToArray());
        if (q.Severities.Count > 0) Add("severity = any(@severities)", "severities", q.Severities.Select(s => (int)s).ToArray());
        if (q.Families is { Count: > 0 } families) Add("families && @families", "families", families.ToArray());
        if (q.CustomSeverities.Count > 0)
        {
            // Accept level ids or names; "none" selects bulletins without a custom severity.
            var ids = q.CustomSeverities.Select(c => levels.Levels.FirstOrDefault(l => l.Id == c || string.Equals(l.Name, c, StringComparison.OrdinalIgnoreCase))?.Id ?? c).ToArray();
            Add(ids.Contains("none") ? "(custom_severity = any(@custom) or custom_severity is null)" : "custom_severity = any(@custom)", "custom", ids);
        }
        if (q.Staged is { } staged) Add("staged = @staged", "staged", staged);
        if (q.KnownExploited is { } kev) Add("known_exploited = @kev", "kev", kev);
        if (q.Superseded is { } superseded) Add("superseded = @superseded", "superseded", superseded);
        if (q.ReleasedFrom is { } rf) Add("released >= @rf", "rf", rf);
        if (q.ReleasedTo is { } rt) Add("released <= @rt", "rt", rt);
        if (q.RevisedFrom is { } vf) Add("revised >= @vf", "vf", vf);
        if (q.RevisedTo is { } vt) Add("revised <= @vt", "vt", vt);
        if (q.View == "latest") clauses.Add("released >= (select date_trunc('month', max(released), 'UTC') from newest)");
        if (q.View == "lastMonth")
        {
            var thisMonth = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
            Add("released >= @lm_from and released < @lm_to", "lm_from", thisMonth.AddMonths(-1));
            ps.Add(new NpgsqlParameter("lm_to", thisMonth));
        }
        return (string.Join(" and ", clauses), ps);
    }

    private static NpgsqlCommand Command(NpgsqlConnection conn, string sql, List<NpgsqlParameter> parameters)
    {
        var cmd = new NpgsqlCommand(sql, conn);
        foreach (var p in parameters) cmd.Parameters.Add(p.Clone());
        return cmd;
    }

    public static string ToCsv(IEnumerable<BulletinListItem> items)
    {
        var sb = new StringBuilder();
        sb.Append("id,bulletin,vendor,severity,customSeverity,staged,policies,updates,downloaded,released,revised,title,cveCount,knownExploited,knownExploitedDueDate,supersededBy,families,description\r\n");
        foreach (var i in items)
        {
            string[] cells =
            [
                i.Id, i.Bulletin, i.Vendor, i.Severity, i.CustomSeverity ?? "", i.Staged ? "true" : "false", i.Policies.ToString(), i.Updates.ToString(),
                i.Downloaded.ToString(), i.Released?.ToString("yyyy-MM-dd") ?? "", i.Revised?.ToString("yyyy-MM-dd") ?? "", i.Title, i.CveCount.ToString(),
                i.KnownExploited ? "true" : "false", i.KnownExploitedDueDate?.ToString("yyyy-MM-dd") ?? "", string.Join(" ", i.SupersededBy),
                string.Join(" ", i.Families ?? []), i.Description ?? "",
            ];
            sb.AppendJoin(',', cells.Select(Csv.Cell)).Append("\r\n");
        }
        return sb.ToString();
    }
}

/// <summary>Query parameters of GET /api/bulletins (all optional).</summary>
public sealed class BulletinListParameters
{
    /// <summary>Keyword: matches bulletin number, title, description, or an exact CVE id.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "q")] public string? Q { get; init; }
    /// <summary>Vendor name(s), comma separated.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "vendor")] public string? Vendor { get; init; }
    /// <summary>Vendor severity: Critical, Important, Moderate, Low, None (comma separated).</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "severity")] public string? Severity { get; init; }
    /// <summary>Product family id(s) of the bulletin's updates, comma separated: windows, netfx, office, sqlserver, exchange, sharepoint, visualstudio, edge, dotnet, powershell, defender, other.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "family")] public string? Family { get; init; }
    /// <summary>Custom severity level id(s) or name(s); "none" for bulletins without one.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "customSeverity")] public string? CustomSeverity { get; init; }
    /// <summary>true / false: only (un)staged bulletins.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "staged")] public string? Staged { get; init; }
    /// <summary>true / false: bulletins fixing a CVE in CISA's Known Exploited Vulnerabilities catalog.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "knownExploited")] public string? KnownExploited { get; init; }
    /// <summary>true / false: bulletins superseded by another imported bulletin.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "superseded")] public string? Superseded { get; init; }
    /// <summary>Released on or after (ISO 8601).</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "releasedFrom")] public string? ReleasedFrom { get; init; }
    /// <summary>Released on or before (ISO 8601).</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "releasedTo")] public string? ReleasedTo { get; init; }
    /// <summary>Revised on or after (ISO 8601).</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "revisedFrom")] public string? RevisedFrom { get; init; }
    /// <summary>Revised on or before (ISO 8601).</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "revisedTo")] public string? RevisedTo { get; init; }
    /// <summary>"latest": released in the month of the newest release; "lastMonth": released in the previous calendar month.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "view")] public string? View { get; init; }
    /// <summary>Column to sort on, '-' prefix for descending (default -released): bulletin, vendor, severity, customSeverity, staged, policies, updates, downloaded, released, revised, title, cveCount, knownExploited, superseded.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "sort")] public string? Sort { get; init; }
    /// <summary>1-based page number (default 1).</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "page")] public string? Page { get; init; }
    /// <summary>Rows per page, 1–1000 (default 50); CSV 1–1,000,000. CSV without page/pageSize returns every matching row.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "pageSize")] public string? PageSize { get; init; }
    /// <summary>Also return row counts grouped by this column.</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "groupBy")] public string? GroupBy { get; init; }
    /// <summary>"csv" for CSV (same as Accept: text/csv).</summary>
    [Microsoft.AspNetCore.Mvc.FromQuery(Name = "format")] public string? Format { get; init; }
}
