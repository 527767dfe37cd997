using Microsoft.AspNetCore.Http;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Compliance;

namespace Patch.Application.Computers;

/// <summary>The computer list (API and console): SQL over the narrow computer rows (<c>ComputerRow</c>), never the computers' whole inventories.</summary>
public static class ComputerQueries
{

    public static readonly Dictionary<string, string> Sort = new()
    {
        ["name"] = "name_lower", ["operatingSystem"] = "operating_system_lower", ["agentVersion"] = "agent_version",
        ["lastInventoryAt"] = "last_inventory_at", ["enrolledAt"] = "enrolled_at",
    };

    public static async Task<QueryAnswer<ReportPage<ComputerView>>> ListAsync(NpgsqlDataSource db, TimeProvider time, IQueryCollection paging, bool csv, string? q, string? os,
        string? agentVersion, int? notReportingDays, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var computers = $"{ReadSql.At(Projections.PatchProjections.ComputerRowTable, asOf)} c";
        var (parsed, problem) = ReportQuery.Parse(paging, csv, Sort, "name");
        if (problem is not null) return QueryAnswer<ReportPage<ComputerView>>.Invalid(problem);
        var query = parsed!;
        if (notReportingDays is < 1 or > 3650) return QueryAnswer<ReportPage<ComputerView>>.Invalid("notReportingDays: 1 to 3650");
        var where = new List<string> { "true" };
        var ps = ReadSql.AsOfParameters(asOf);
        // The filters on operating system and agent version, also as a condition on the kept counts' groups (ADR 0037).
        var grouped = new List<string> { "true" };
        // The same filters on a name bucket's shape (the groups the buckets count, ADR 0038).
        var shaped = new List<Func<string, string>>();
        // The name search: by the names' trigram index from three characters on (a shorter text has no trigram to look up,
        // and the index would hand back every row to check again), else read from the rows.
        if (!string.IsNullOrWhiteSpace(q))
        {
            var text = q.Trim().ToLowerInvariant();
            where.Add(text.Length >= 3 ? "name_lower like @q" : "strpos(name_lower, @q) > 0");
            ps.Add(new("q", text.Length >= 3 ? $"%{Like(text)}%" : text));
        }
        if (!string.IsNullOrWhiteSpace(os))
        {
            (where, grouped) = ([.. where, "operating_system_lower like @os"], [.. grouped, "os like @os"]);
            shaped.Add(shape => $"{Projections.NameBuckets.ComputerGroup(shape, 1)} like @os");
            ps.Add(new("os", $"%{Like(os.Trim().ToLowerInvariant())}%"));
        }
        if (!string.IsNullOrWhiteSpace(agentVersion))
        {
            (where, grouped) = ([.. where, "agent_version = @version"], [.. grouped, "agent_version = @version"]);
            shaped.Add(shape => $"{Projections.NameBuckets.ComputerGroup(shape, 2)} = @version");
            ps.Add(new("version", agentVersion.Trim()));
        }
        if (notReportingDays is { } days)
        {
            where.Add("agent_installed and (last_inventory_at is null or last_inventory_at < @since)");
            ps.Add(new("since", (asOf ?? time.GetUtcNow()).AddDays(-days)));
        }
        // Each page also gives the next one's cursor (after=): an index walk from where it stopped, in any order, filtered or not.
        var question = ComputerListCursor.For(paging);
        var (cursor, cursorProblem) = NameCursor.Parse(paging, query, question, ComputerListCursor.Keys, anySort: true);
        if (cursor is not null) cursorProblem ??= ComputerListCursor.Problem(cursor, query);
        if (cursorProblem is not null) return QueryAnswer<ReportPage<ComputerView>>.Invalid(cursorProblem);
        var (page, limit) = (cursor?.Page ?? query.Page, query.PageSize + 1);
        // Filtered by operating system and agent version alone (or not at all): the rows of some groups.
        var byGroups = where.Count == grouped.Count;
        string OnShape(string shape) => string.Join(" and ", ["true", .. shaped.Select(condition => condition(shape))]);
        var weights = Projections.Weights.OneWhere(OnShape);
        var filter = string.Join(" and ", where);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        // A searched name is planned for the text asked each time: a plan kept for any text (the statements are prepared
        // once used a few times) cannot tell a name found once from one found everywhere.
        if (!string.IsNullOrWhiteSpace(q))
            await using (var custom = new NpgsqlCommand("set local plan_cache_mode = force_custom_plan", conn, tx)) await custom.ExecuteNonQueryAsync(ct);
        var (range, offset, rowPs) = ("", cursor is null ? query.Offset : 0, ps.ToList());
        // The computers of the filter's groups, now (the kept counts), when counted to choose how a page is read: the
        // page's total too, not counted again.
        long? groupsTotal = null;
        async Task<long> GroupsTotalAsync()
        {
            await using var cmd = new NpgsqlCommand(Projections.Computers.ComputerCounts.CountWhere(string.Join(" and ", grouped)), conn, tx);
            foreach (var p in ps) cmd.Parameters.Add(p.Clone());
            return (groupsTotal = (long)(await cmd.ExecuteScalarAsync(ct))!).Value;
        }
        string? pageIds = null;
        if (cursor is not null)
        {
            var (after, afterPs) = ComputerListCursor.Page(cursor, query, computers, filter, Sort[query.Sort], limit);
            pageIds = after;
            rowPs.AddRange(afterPs);
        }
        // Every computer (or those of some groups) by name, a page past the first, now or asOf: walked from the name bucket
        // it starts in (ADR 0038).
        else if (byGroups && query.Sort == "name" && offset > 0)
        {
            // The walk reaches the row after the page too (its cursor is the next page's).
            var start = await NamePages.LocateAsync(conn, tx, Projections.NameBuckets.Computers, weights, ps, offset,
                limit, query.Descending, "c", ct, asOf is not null);
            if (start is not null)
            {
                (range, offset) = ($" and {start.Condition}", start.Skip);
                rowPs.AddRange(start.Parameters);
            }
        }
        // By agent version or operating system, now: a page inside one value's run, placed from the name buckets of its
        // groups — past the first page, or filtered (the first page would walk past the rows of the values refused).
        else if (byGroups && RunPages.Sorts(query.Sort) && (offset > 0 || grouped.Count > 1) && asOf is null
                 && await RunPages.LocateAsync(conn, tx, computers, query.Sort, filter, string.Join(" and ", grouped), OnShape, ps, offset, limit, query.Descending, ct) is { } run)
        {
            (pageIds, offset) = (run.PageIds, 0);
            rowPs.AddRange(run.Parameters);
        }
        // Every computer (or those of some groups, a page in their first quarter) by an indexed column, descending, now:
        // the rows with a value from that column's (value, id) index read backwards, then those without (ADR 0041, 0043).
        else if (asOf is null && query.Descending && ValuePages.Indexed.Contains(query.Sort)
                 && (where.Count == 1 || byGroups && ValuePages.WalkPays(offset + limit, await GroupsTotalAsync())))
        {
            var (ids, idsParameter) = await ValuePages.LocateAsync(conn, tx, computers, filter, Sort[query.Sort], ps, offset, limit, ct);
            (pageIds, offset) = (ids, 0);
            rowPs.Add(idsParameter);
        }
        pageIds ??= $"select c.id page_id from {computers} where {filter}{range} order by {ComputerListCursor.OrderBy(query, Sort[query.Sort])} limit {limit} offset {offset}";
        // The page is cut on the sort columns alone, then its rows are read: a deep page does not build every row it skips.
        var sql = $"""
            select id, data->>'name', data->>'domain', operating_system, data->>'macAddress', coalesce(agent_installed, false), agent_version,
                   data->>'osVersion', coalesce(array(select jsonb_array_elements_text(data->'products')), array[]::text[]),
                   enrolled_at, last_inventory_at, coalesce((data->>'installedKbs')::int, 0), name_lower
            from ({pageIds}) page
            join {computers} on c.id = page.page_id
            order by {ComputerListCursor.OrderBy(query, Sort[query.Sort])}
            """;
        // Every computer, or those of some operating systems and agent versions, now: the counts kept as the rows are written
        // (ADR 0037), not a count of a million rows; asOf, the name buckets' counts of those groups then, when few changed
        // between the instant and the counts known after it (ADR 0038, 0040); else a count.
        var count = $"select count(*) from {computers} where {filter}";
        if (asOf is null && byGroups)
            count = groupsTotal is { } known ? $"select {known}::bigint" : Projections.Computers.ComputerCounts.CountWhere(string.Join(" and ", grouped));
        else if (byGroups && asOf is not null)
        {
            // From the checkpoint after the instant when there is one (ADR 0040), else from today's counts.
            if (await NamePages.SinceAsync(conn, tx, Projections.NameBuckets.Computers, ps, null, ct) is { } since)
            {
                count = Projections.NameBuckets.Computers.RowsAt(weights, "@asOf", since.Checkpoint is null ? null : "@checkpoint");
                if (since.Checkpoint is { } at) ps.Add(new("checkpoint", at));
            }
        }
        var rows = await ReportSql.PageAsync(conn, tx, count, sql, ps, rowPs, r => (View: new ComputerView(r.GetString(0), r.GetString(1),
            r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetBoolean(5),
            r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetFieldValue<string[]>(8),
            r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9), r.IsDBNull(10) ? null : r.GetFieldValue<DateTimeOffset>(10), r.GetInt32(11)),
            NameLower: r.GetString(12)), query with { Page = page }, ct);
        var items = rows.Items.Take(query.PageSize).ToList();
        var next = rows.Items.Count > query.PageSize ? ComputerListCursor.Next(question, query, page, items[^1].View, items[^1].NameLower).ToString() : null;
        return QueryAnswer<ReportPage<ComputerView>>.Ok(new ReportPage<ComputerView>(items.Select(i => i.View).ToList(), rows.Total, page, query.PageSize, next));
    }

    private static string Like(string text) => text.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_");
}
