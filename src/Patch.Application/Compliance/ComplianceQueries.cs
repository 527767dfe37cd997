using Patch.Projections.Compliance;
using Marten;
using Microsoft.AspNetCore.Http;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.Inventory.Products;
using Patch.Projections;

namespace Patch.Application.Compliance;

/// <summary><c>Families</c>: the product families (ids, <see cref="ProductFamilies"/>) of the bulletin's applicable updates.</summary>
public sealed record BulletinCompliance(string BulletinId, string Bulletin, string Title, string Severity, int Applicable, int Installed, int Missing, int Superseded,
    double CompliancePercent, bool KnownExploited, DateOnly? KnownExploitedDueDate, IReadOnlyList<string>? Families = null);

public sealed record ComputerComplianceRow(string ComputerId, string Name, int Applicable, int Installed, int Missing, int Superseded, int MissingCritical,
    int MissingImportant, double CompliancePercent, DateTimeOffset AnalysedAt);

public sealed record UpdateCompliance(string UpdateKey, string BulletinId, string UpdateId, string Product, string Family, int Applicable, int Installed, int Missing,
    int Superseded, double CompliancePercent);

public sealed record ComputerStateRow(string ComputerId, string Name, string BulletinId, string UpdateId, string Product, string Family, string State);

/// <summary>
/// Compliance by bulletin, by computer and by update (C11) over the compliance tables, and the drill-downs between them
/// (a bulletin's or an update's computers, a computer's updates). The API and the console ask these same queries.
/// </summary>
public static class ComplianceQueries
{
    public static readonly Dictionary<string, string> BulletinSort = new()
    {
        ["missing"] = "c.missing", ["applicable"] = "c.applicable", ["installed"] = "c.installed", ["superseded"] = "c.superseded",
        ["compliance"] = "compliance", ["bulletin"] = "r.data->>'number'", ["severity"] = "(r.data->>'severityRank')::int",
    };

    public static readonly Dictionary<string, string> ComputerSort = new()
    {
        ["missing"] = "missing", ["name"] = "name", ["applicable"] = "applicable", ["installed"] = "installed", ["missingCritical"] = "missing_critical",
        ["compliance"] = "compliance",
    };

    public static readonly Dictionary<string, string> UpdateSort = new()
    {
        ["missing"] = "missing", ["applicable"] = "applicable", ["installed"] = "installed", ["update"] = "update_key", ["product"] = "product", ["family"] = "family",
        ["compliance"] = "compliance",
    };

    public static readonly Dictionary<string, string> StateSort = new() { ["name"] = "c.name", ["state"] = "s.state", ["bulletin"] = "s.bulletin_id", ["family"] = "s.family" };

    public static readonly string[] States = ["Installed", "Missing", "Superseded"];

    /// <summary>A computer's compliance % from its counters (installed or superseded of applicable).</summary>
    internal const string Compliance = "case when applicable = 0 then 100.0 else round(100.0 * (installed + superseded) / applicable, 1) end";

    /// <summary>The problem with a <c>family</c> parameter, or null when it is absent or a known family id.</summary>
    public static string? FamilyProblem(string? family) => family is null || ProductFamilies.IsKnown(family) ? null
        : $"family: '{Domain.Users.UserDecisions.Printable(family)}' is not one of {string.Join(", ", ProductFamilies.All.Select(f => f.Id))}";

    public static async Task<QueryAnswer<ReportPage<BulletinCompliance>>> ByBulletinAsync(NpgsqlDataSource db, IQueryCollection paging, bool csv, string? severity,
        bool? knownExploited, string? q, CancellationToken ct, string? family = null, DateTimeOffset? asOf = null)
    {
        var (query, problem) = ReportQuery.Parse(paging, csv, BulletinSort, "-missing");
        problem ??= FamilyProblem(family);
        if (problem is not null) return QueryAnswer<ReportPage<BulletinCompliance>>.Invalid(problem);
        if (severity is not null && !SeverityNames.TryParseStrict(severity, out _))
            return QueryAnswer<ReportPage<BulletinCompliance>>.Invalid($"severity: '{severity}' is not one of Critical, Important, Moderate, Low, None");
        var where = "true";
        var ps = ReadSql.AsOfParameters(asOf);
        if (severity is not null) { where += " and (r.data->>'severityRank')::int = @sev"; ps.Add(new("sev", (int)SeverityNames.Parse(severity))); }
        if (q is not null) { where += " and (r.data->>'number' ilike @q or r.data->>'title' ilike @q)"; ps.Add(new("q", $"%{q}%")); }
        if (knownExploited is { } kev) { where += " and coalesce(k.listed, false) = @kev"; ps.Add(new("kev", kev)); }
        if (family is not null)
        {
            where += $" and exists (select 1 from {ReadSql.At(ReadModels.ComplianceUpdate, asOf, "b.bulletin_id = c.bulletin_id")} f where f.bulletin_id = c.bulletin_id and f.family = @family and f.applicable > 0)";
            ps.Add(new("family", family));
        }
        var from = $"""
            {ReadSql.At(ReadModels.ComplianceBulletin, asOf)} c join {ReadSql.At(PatchProjections.BulletinRowTable, asOf)} r on r.id = c.bulletin_id
            {ReadSql.KnownExploited("r", "k", asOf is not null)}
            where {where} and c.applicable > 0
            """;
        var sql = $"""
            select c.bulletin_id, r.data->>'number', r.data->>'title', (r.data->>'severityRank')::int, c.applicable, c.installed, c.missing, c.superseded,
                   {Compliance.Replace("applicable", "c.applicable").Replace("installed", "c.installed").Replace("superseded", "c.superseded")} as compliance,
                   coalesce(k.listed, false), k.due, {FamiliesOf("c.bulletin_id", asOf)}
            from {from} order by {query!.OrderBy(BulletinSort, "c.bulletin_id")} limit {query.PageSize} offset {query.Offset}
            """;
        return await ReportSql.PageAsync(db, $"select count(*) from {from}", sql, ps, r => new BulletinCompliance(r.GetString(0), r.GetString(1), r.GetString(2),
            ((Severity)r.GetInt32(3)).ToString(), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), (double)r.GetDecimal(8), r.GetBoolean(9),
            r.IsDBNull(10) ? null : r.GetFieldValue<DateOnly>(10), r.GetFieldValue<string[]>(11)), query, ct);
    }

    /// <summary>The product families of a bulletin's applicable updates, as a SQL expression (text[]).</summary>
    public static string FamiliesOf(string bulletinColumn, DateTimeOffset? asOf = null) =>
        $"array(select distinct f.family from {ReadSql.At(ReadModels.ComplianceUpdate, asOf, $"b.bulletin_id = {bulletinColumn}")} f where f.bulletin_id = {bulletinColumn} and f.applicable > 0 order by f.family)";

    /// <summary>Per computer; with a family, the counts are those of the family's updates only (<see cref="ComputerFamilyCounts"/>), and computers without one are left out.</summary>
    public static async Task<QueryAnswer<ReportPage<ComputerComplianceRow>>> ByComputerAsync(NpgsqlDataSource db, IQueryCollection paging, bool csv, string? q, CancellationToken ct,
        string? family = null, DateTimeOffset? asOf = null)
    {
        var (query, problem) = ReportQuery.Parse(paging, csv, ComputerSort, "-missing");
        problem ??= FamilyProblem(family);
        if (problem is not null) return QueryAnswer<ReportPage<ComputerComplianceRow>>.Invalid(problem);
        if (q is null && query!.Sort != "name")
            return await ComputersByCounters.PageAsync(db, query, ComputerSort[query.Sort], family, asOf, ct);
        var where = q is null ? "true" : "name ilike @q";
        var ps = ReadSql.AsOfParameters(asOf);
        if (q is not null) ps.Add(new("q", $"%{q}%"));
        var table = $"{ReadSql.At(ReadModels.ComplianceComputer, asOf)} c";
        if (family is not null)
        {
            ps.Add(new("family", family));
            table = $"{ReadSql.At(ReadModels.ComplianceComputerFamily, asOf)} c";
            where += " and family = @family";
        }
        var sql = $"""
            select computer_id, name, applicable, installed, missing, superseded, missing_critical, missing_important, {Compliance} as compliance, analysed_at
            from {table} where {where} order by {query!.OrderBy(ComputerSort, "name")} limit {query.PageSize} offset {query.Offset}
            """;
        // Without a search, the computers are the shapes' members (ADR 0035): their sum, not a count of the join.
        var shapes = ReadSql.At(ReadModels.ComplianceShape, asOf);
        var count = q is not null ? $"select count(*) from {table} where {where}"
            : family is null ? $"select coalesce(sum(members), 0)::bigint from {shapes} c"
            : $"select coalesce(sum(c.members), 0)::bigint from {ReadSql.At(ReadModels.ComplianceShapeFamily, asOf)} f join {shapes} c on c.shape = f.shape where f.family = @family";
        return await ReportSql.PageAsync(db, count, sql, ps, r => new ComputerComplianceRow(r.GetString(0), r.GetString(1),
            r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), (double)r.GetDecimal(8), r.GetFieldValue<DateTimeOffset>(9)), query, ct);
    }

    public static async Task<QueryAnswer<ReportPage<UpdateCompliance>>> ByUpdateAsync(NpgsqlDataSource db, IQueryCollection paging, bool csv, string? bulletin, string? product,
        CancellationToken ct, string? family = null, DateTimeOffset? asOf = null)
    {
        var (query, problem) = ReportQuery.Parse(paging, csv, UpdateSort, "-missing");
        problem ??= FamilyProblem(family);
        if (problem is not null) return QueryAnswer<ReportPage<UpdateCompliance>>.Invalid(problem);
        var where = "true";
        var ps = ReadSql.AsOfParameters(asOf);
        if (bulletin is not null) { where += " and (bulletin_id = @b or bulletin_id like '%:' || upper(@b))"; ps.Add(new("b", bulletin)); }
        if (product is not null) { where += " and product ilike @p"; ps.Add(new("p", $"%{product}%")); }
        if (family is not null) { where += " and family = @family"; ps.Add(new("family", family)); }
        var sql = $"""
            select update_key, bulletin_id, update_id, product, family, applicable, installed, missing, superseded, {Compliance} as compliance
            from {ReadSql.At(ReadModels.ComplianceUpdate, asOf)} c where {where} and applicable > 0 order by {query!.OrderBy(UpdateSort, "update_key")} limit {query.PageSize} offset {query.Offset}
            """;
        return await ReportSql.PageAsync(db, $"select count(*) from {ReadSql.At(ReadModels.ComplianceUpdate, asOf)} c where {where} and applicable > 0", sql, ps, r => new UpdateCompliance(r.GetString(0),
            r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), (double)r.GetDecimal(9)), query, ct);
    }

    public enum DrillDown { Bulletin, Computer, Update }

    /// <summary>The computer × update states behind one bulletin, one computer or one update, filtered by state.</summary>
    public static async Task<QueryAnswer<ReportPage<ComputerStateRow>>> StatesAsync(NpgsqlDataSource db, IQuerySession session, IQueryCollection paging, bool csv,
        DrillDown by, string key, string? state, CancellationToken ct, string? family = null, DateTimeOffset? asOf = null)
    {
        var (query, problem) = ReportQuery.Parse(paging, csv, StateSort, "name");
        problem ??= FamilyProblem(family);
        if (problem is not null) return QueryAnswer<ReportPage<ComputerStateRow>>.Invalid(problem);
        short? code = state is null ? null : (short)(Array.FindIndex(States, s => string.Equals(s, state, StringComparison.OrdinalIgnoreCase)) + 1);
        if (code == 0) return QueryAnswer<ReportPage<ComputerStateRow>>.Invalid($"state: '{state}' is not one of {string.Join(", ", States)}");
        var filter = by switch { DrillDown.Bulletin => "s.bulletin_id = @key", DrillDown.Computer => "c.computer_id = @key", _ => "s.update_key = @key" };
        if (by == DrillDown.Bulletin)
        {
            key = await Bulletins.GetBulletin.ResolveIdAsync(session, key, ct) ?? "";
            if (key.Length == 0 || (asOf is not null && await Historical.LoadAsync<Domain.Catalog.Bulletin>(session, key, asOf, ct) is null))
                return QueryAnswer<ReportPage<ComputerStateRow>>.Missing(key.Length == 0 ? "No such bulletin." : $"No bulletin '{key}' then (asOf).");
        }
        // A bulletin (above), a computer or an update that does not exist (then) has no report: a 404, not an empty page.
        if (by == DrillDown.Computer)
        {
            var name = key;
            key = Domain.Computers.Computer.StreamId(key);
            if (await Historical.LoadAsync<Domain.Computers.Computer>(session, key, asOf, ct) is null) return QueryAnswer<ReportPage<ComputerStateRow>>.Missing($"No computer '{name}'{(asOf is null ? "" : " then (asOf)")}.");
        }
        if (by == DrillDown.Update)
        {
            var bar = key.IndexOf('|');
            string[] parts = bar < 0 ? [key] : [key[..bar], key[(bar + 1)..]];
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                return QueryAnswer<ReportPage<ComputerStateRow>>.Invalid($"updateKey: '{Domain.Users.UserDecisions.Printable(key)}' is not 'bulletinId|updateId' (like 'microsoft:KB5034441|…').");
            var bulletin = await Historical.LoadAsync<Domain.Catalog.Bulletin>(session, parts[0], asOf, ct);
            if (bulletin?.Updates.Any(u => u.UpdateId == parts[1]) != true) return QueryAnswer<ReportPage<ComputerStateRow>>.Missing($"No update '{Domain.Users.UserDecisions.Printable(key)}'{(asOf is null ? "" : " then (asOf)")}.");
        }
        var report = query!;
        var question = DrillDownCursor.For(paging, $"{by}:{key}");
        var (cursor, cursorProblem) = Common.NameCursor.Parse(paging, report, question, DrillDownCursor.Keys);
        if (cursorProblem is not null) return QueryAnswer<ReportPage<ComputerStateRow>>.Invalid(cursorProblem);
        var where = filter + (code is null ? "" : " and s.state = @state") + (family is null ? "" : " and s.family = @family");
        var ps = ReadSql.AsOfParameters(asOf);
        ps.Add(new("key", key));
        if (code is not null) ps.Add(new("state", code.Value));
        if (family is not null) ps.Add(new("family", family));
        // The computers (members, in name order) and their shapes' rows (ADR 0035): the tables behind the views, joined once.
        var from = $"{ReadSql.At(ReadModels.ComplianceMember, asOf)} c join {ReadSql.At(ReadModels.ComplianceShapeState, asOf)} s on s.shape = c.shape where {where}";
        // One row more than the page: whether a next page exists, and in name order the cursor it starts after.
        var keyset = report.Sort == "name";
        var page = cursor?.Page ?? report.Page;
        var limit = report.PageSize + (keyset ? 1 : 0);
        var rowPs = ps.ToList();
        if (cursor is not null) rowPs.AddRange(DrillDownCursor.Parameters(cursor));
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var range = cursor is null ? "" : $" and {DrillDownCursor.Condition(report.Descending)}";
        var offset = cursor is null ? report.Offset : 0;
        // A numbered page past the first, in name order, now or asOf: walked from the name bucket its first row is in (ADR 0038).
        if (cursor is null && keyset && offset > 0 && by != DrillDown.Computer)
        {
            var start = await NamePages.LocateAsync(conn, tx, NameBuckets.Members, Weights.Of($"select s.shape, count(*)::bigint n from {ReadSql.At(ReadModels.ComplianceShapeState, asOf)} s where {where} group by s.shape"),
                ps, offset, limit, report.Descending, "c", ct, asOf is not null);
            if (start is not null)
            {
                (range, offset) = ($" and {start.Condition}", start.Skip);
                rowPs.AddRange(start.Parameters);
            }
        }
        var sql = $"select c.computer_id, c.name, s.bulletin_id, s.update_id, s.product, s.family, s.state, s.update_key from {from}{range}" +
                  $" order by {report.OrderBy(StateSort, "c.computer_id, s.update_key")} limit {limit} offset {offset}";
        // Without a family, the total is a counter written with the rows it counts (not a count of them).
        var counter = code switch { 1 => "installed", 2 => "missing", 3 => "superseded", _ => "applicable" };
        var counted = by switch
        {
            DrillDown.Bulletin => $"{ReadSql.At(ReadModels.ComplianceBulletin, asOf)} n where n.bulletin_id = @key",
            DrillDown.Update => $"{ReadSql.At(ReadModels.ComplianceUpdate, asOf)} n where n.update_key = @key",
            // One computer's counters are its shape's, probed by key (the view joins every shape's version at an instant).
            _ => $"{ReadSql.At(ReadModels.ComplianceMember, asOf)} m cross join lateral {Projections.History.ReadModelHistory.One(ReadModels.ComplianceShape, asOf is not null, "x.shape = m.shape")} n where m.computer_id = @key",
        };
        var count = family is null ? $"select coalesce((select n.{counter}::bigint from {counted}), 0)" : $"select count(*) from {from}";
        var rows = await ReportSql.PageAsync(conn, tx, count, sql, ps, rowPs, r => (Row: new ComputerStateRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3),
            r.GetString(4), r.GetString(5), States[r.GetInt16(6) - 1]), UpdateKey: r.GetString(7)), report with { Page = page }, ct);
        var items = rows.Items.Take(report.PageSize).ToList();
        var next = keyset && rows.Items.Count > report.PageSize
            ? DrillDownCursor.Next(question, report.PageSize, page + 1, items[^1].Row.Name, items[^1].Row.ComputerId, items[^1].UpdateKey).ToString() : null;
        return new ReportPage<ComputerStateRow>(items.Select(i => i.Row).ToList(), rows.Total, page, report.PageSize, next);
    }
}

public static class ReportSql
{
    public static Task<ReportPage<T>> PageAsync<T>(NpgsqlDataSource db, string countSql, string sql, List<NpgsqlParameter> ps, Func<NpgsqlDataReader, T> map, ReportQuery query, CancellationToken ct) =>
        PageAsync(db, countSql, sql, ps, ps, map, query, ct);

    /// <summary>The total by <paramref name="countSql"/> (with <paramref name="ps"/>), the rows by <paramref name="sql"/> (with <paramref name="rowPs"/>).</summary>
    public static async Task<ReportPage<T>> PageAsync<T>(NpgsqlDataSource db, string countSql, string sql, List<NpgsqlParameter> ps, List<NpgsqlParameter> rowPs,
        Func<NpgsqlDataReader, T> map, ReportQuery query, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await PageAsync(conn, null, countSql, sql, ps, rowPs, map, query, ct);
    }

    /// <summary>The same on a connection the caller holds (in its transaction, when it has one).</summary>
    public static async Task<ReportPage<T>> PageAsync<T>(NpgsqlConnection conn, NpgsqlTransaction? tx, string countSql, string sql, List<NpgsqlParameter> ps,
        List<NpgsqlParameter> rowPs, Func<NpgsqlDataReader, T> map, ReportQuery query, CancellationToken ct)
    {
        long total;
        await using (var count = new NpgsqlCommand(countSql, conn, tx))
        {
            foreach (var p in ps) count.Parameters.Add(p.Clone());
            total = (long)(await count.ExecuteScalarAsync(ct))!;
        }
        var items = new List<T>();
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var p in rowPs) cmd.Parameters.Add(p.Clone());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) items.Add(map(reader));
        return new ReportPage<T>(items, total, query.Page, query.PageSize);
    }
}
