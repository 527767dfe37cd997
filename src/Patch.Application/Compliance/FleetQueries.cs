using Marten;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;
using Patch.Projections;

namespace Patch.Application.Compliance;

public sealed record SeverityVulnerabilities(string Severity, int Bulletins, long MissingInstalls, int Computers);

/// <summary>Missing installs of one product family (<see cref="Domain.Inventory.Products.ProductFamilies"/>).</summary>
public sealed record FamilyVulnerabilities(string Family, string DisplayName, int Updates, long MissingInstalls, int Computers);

public sealed record NotReportingComputer(string ComputerId, string Name, bool AgentInstalled, string? AgentVersion, DateTimeOffset? LastInventoryAt, double? DaysSilent);

public sealed record AgentVersionCount(string Version, int Computers, bool NeedsUpgrade);

public sealed record ConfigurationSummary(int Computers, int ComputersWithAgent, int ComputersWithoutAgent, int NotReportingInventory, int NotReportingDays,
    DateTimeOffset? LastCatalogImport, string? LastCatalogImportResult);

public sealed record BulletinSummary(int Available, int Staged, int WithPolicies, int NewInLast30Days, int Superseded, int KnownExploited);

public sealed record HomeSummary(ConfigurationSummary Configuration, BulletinSummary Bulletins, IReadOnlyList<SeverityVulnerabilities> Vulnerabilities, IReadOnlyList<BulletinCompliance> TopMissing,
    Delivery.DeliveryTotals Delivery, long PendingRestarts);

/// <summary>
/// Diagnostics and summaries (C11): vulnerabilities to address, computers not reporting, agent versions, and the home
/// page's parts. All of it is SQL over the computer documents' columns and the compliance tables: no request loads the
/// fleet's documents. The API and the console ask these same queries.
/// </summary>
public static class FleetQueries
{
    private const string ComputerTable = PatchProjections.ComputerRowTable;

    public static readonly Dictionary<string, string> NotReportingSort = new() { ["name"] = "name", ["lastInventoryAt"] = "last" };

    /// <summary>Agents silent for <paramref name="days"/> days before now, or before <paramref name="asOf"/> as the fleet stood then.</summary>
    public static async Task<QueryAnswer<ReportPage<NotReportingComputer>>> NotReportingAsync(NpgsqlDataSource db, TimeProvider time, IQueryCollection paging, bool csv, int? days,
        CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var n = days ?? 7;
        if (n is < 1 or > 3650) return QueryAnswer<ReportPage<NotReportingComputer>>.Invalid("days: 1 to 3650");
        var (query, problem) = ReportQuery.Parse(paging, csv, NotReportingSort, "name");
        if (problem is not null) return QueryAnswer<ReportPage<NotReportingComputer>>.Invalid(problem);
        var now = asOf ?? time.GetUtcNow();
        var from = $"""
            (select id, data->>'name' as name, agent_version as version, last_inventory_at as last
             from {ReadSql.At(ComputerTable, asOf)} r where agent_installed) c
            where c.last is null or c.last < @since
            """;
        var ps = ReadSql.AsOfParameters(asOf);
        ps.Add(new("since", now.AddDays(-n)));
        var page = await ReportSql.PageAsync(db, $"select count(*) from {from}",
            $"select id, name, version, last from {from} order by {query!.OrderBy(NotReportingSort, "id")} limit {query.PageSize} offset {query.Offset}", ps,
            r => new NotReportingComputer(r.GetString(0), r.GetString(1), true, r.IsDBNull(2) ? null : r.GetString(2),
                r.IsDBNull(3) ? null : r.GetFieldValue<DateTimeOffset>(3), r.IsDBNull(3) ? null : Math.Round((now - r.GetFieldValue<DateTimeOffset>(3)).TotalDays, 1)), query, ct);
        return page;
    }

    public static async Task<IReadOnlyList<AgentVersionCount>> AgentVersionsAsync(NpgsqlDataSource db, IConfiguration config, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var current = CurrentAgentVersion(config);
        var rows = new List<AgentVersionCount>();
        await using var cmd = db.CreateCommand($"select coalesce(agent_version, 'unknown'), count(*)::int from {ReadSql.At(ComputerTable, asOf)} r where agent_installed group by 1 order by 1");
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var version = reader.GetString(0);
                rows.Add(new AgentVersionCount(version, reader.GetInt32(1), Version.TryParse(version, out var v) && Version.TryParse(current, out var c) && v < c));
            }
        }
        return rows;
    }

    /// <summary>
    /// The first instant a bulletin released counts as "new in 30 days" at <paramref name="now"/>: the start of the day (UTC)
    /// 29 days back — thirty days counting today, whole days, as the Remediation Center's releasedFrom filter takes them.
    /// </summary>
    public static DateTimeOffset NewBulletinsSince(DateTimeOffset now) => new(now.UtcDateTime.Date.AddDays(-29), TimeSpan.Zero);

    /// <summary>The home page's figures now, or as they stood at <paramref name="asOf"/> ("the last 30 days" then counted back from it).</summary>
    public static async Task<HomeSummary> HomeAsync(NpgsqlDataSource db, TimeProvider time, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var now = asOf ?? time.GetUtcNow();
        await using var conn = await db.OpenConnectionAsync(ct);
        (DateTimeOffset? At, string? Status) lastImport = default;
        await using (var import = new NpgsqlCommand($"""
            select coalesce(data->>'ended', data->>'started'), data->>'status' from {ReadSql.At(PatchProjections.ServerTaskRunTable, asOf)} r
            where data->>'task' = @task order by (data->>'started')::timestamptz desc limit 1
            """, conn))
        {
            import.Parameters.AddWithValue("task", Catalog.CatalogImporter.TaskName);
            import.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
            await using var r = await import.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct)) lastImport = (DateTimeOffset.Parse(r.GetString(0), System.Globalization.CultureInfo.InvariantCulture), r.GetString(1));
        }
        ConfigurationSummary configuration;
        // Now: the counts kept as the rows are written, and the few computers with an agent and no recent inventory by
        // their index (ADR 0037); asOf: counted from the rows' versions then.
        await using (var counts = new NpgsqlCommand(asOf is null ? $"""
            select n.computers, n.agents,
              (select count(*) from {ReadModels.Schema}.{ComputerTable} r where agent_installed and last_inventory_at is null)::int
              + (select count(*) from {ReadModels.Schema}.{ComputerTable} r where agent_installed and last_inventory_at < @since)::int
            from {Projections.Computers.ComputerCounts.Select} n
            """ : $"""
            select count(*)::int, count(*) filter (where agent_installed)::int,
              count(*) filter (where agent_installed and (last_inventory_at is null or last_inventory_at < @since))::int
            from {ReadSql.At(ComputerTable, asOf)} r
            """, conn))
        {
            counts.Parameters.AddWithValue("since", now.AddDays(-7));
            counts.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
            await using var r = await counts.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            configuration = new ConfigurationSummary(r.GetInt32(0), r.GetInt32(1), r.GetInt32(0) - r.GetInt32(1), r.GetInt32(2), 7,
                lastImport.At, lastImport.Status);
        }
        // Now: the Remediation Center's own list, whose derived columns are kept as their facts change; asOf: derived from the versions then.
        await using var cmd = new NpgsqlCommand(asOf is null
            ? $"""
              select count(*)::int, count(*) filter (where staged)::int, count(*) filter (where policies > 0)::int, count(*) filter (where released >= @since)::int,
                count(*) filter (where superseded)::int, count(*) filter (where known_exploited)::int
              from {PatchStore.Schema}.{Projections.Catalog.BulletinList.Table}
              """
            : $"""
            with rows as (select d.id, (d.data->>'staged')::boolean staged, (d.data->>'released')::timestamptz released, d.data->'cves' cves, d.data->>'number' number, d.data->>'vendor' vendor from {ReadSql.At(PatchProjections.BulletinRowTable, asOf)} d)
            select count(*)::int, count(*) filter (where staged)::int,
              count(*) filter (where exists (select 1 from {ReadSql.At(PatchProjections.PolicyTable, asOf)} p where p.data @> jsonb_build_object('bulletins', jsonb_build_array(rows.id), 'status', 'Active')))::int,
              count(*) filter (where released >= @since)::int,
              count(*) filter (where exists (select 1 from {ReadSql.At(PatchProjections.BulletinRowTable, asOf)} s where s.data @> jsonb_build_object('supersedes', jsonb_build_array(rows.number), 'vendor', rows.vendor)))::int,
              count(*) filter (where exists (select 1 from jsonb_array_elements_text(rows.cves) c(cve) join {ReadSql.At(PatchProjections.KnownExploitedTable, asOf)} k on k.id = 'cve:' || upper(c.cve)))::int
            from rows
            """, conn);
        // Whole days: what the home page's link asks the Remediation Center (releasedFrom=that date).
        cmd.Parameters.AddWithValue("since", NewBulletinsSince(now));
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        BulletinSummary bulletins;
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            bulletins = new BulletinSummary(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetInt32(5));
        }
        return new HomeSummary(configuration, bulletins, await VulnerabilitiesAsync(db, ct, asOf: asOf), await TopMissingAsync(db, ct, asOf),
            await Delivery.DeliveryQueries.TotalsAsync(db, now.AddDays(-30), now, ct, asOf), await Delivery.DeliveryQueries.PendingRestartsAsync(db, ct, asOf));
    }

    public static string CurrentAgentVersion(IConfiguration config) =>
        config["Patch:Agent:CurrentVersion"] ?? typeof(FleetReports).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Missing installs by severity; with a family, of that product family's updates only.</summary>
    public static async Task<IReadOnlyList<SeverityVulnerabilities>> VulnerabilitiesAsync(NpgsqlDataSource db, CancellationToken ct, string? family = null, DateTimeOffset? asOf = null)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var perBulletin = family is null
            ? $"select (r.data->>'severityRank')::int as severity, c.bulletin_id, c.missing from {ReadSql.At(ReadModels.ComplianceBulletin, asOf)} c join {ReadSql.At(PatchProjections.BulletinRowTable, asOf)} r on r.id = c.bulletin_id"
            : $"""
              select (r.data->>'severityRank')::int as severity, u.bulletin_id, sum(u.missing)::int as missing
              from {ReadSql.At(ReadModels.ComplianceUpdate, asOf)} u join {ReadSql.At(PatchProjections.BulletinRowTable, asOf)} r on r.id = u.bulletin_id where u.family = @family group by 1, 2
              """;
        // The computers missing something of a severity: the members of the inventory shapes missing it (ADR 0035) —
        // Critical and Important from the counters each shape keeps (per family too), the rarer severities from the
        // shapes' missing rows.
        var shapes = ReadSql.At(ReadModels.ComplianceShape, asOf);
        var counters = family is null ? $"{shapes} c"
            : $"(select f.shape, f.missing, f.missing_critical, f.missing_important, c.members from {ReadSql.At(ReadModels.ComplianceShapeFamily, asOf)} f join {shapes} c on c.shape = f.shape where f.family = @family) c";
        await using var cmd = new NpgsqlCommand($"""
            with per_bulletin as ({perBulletin}),
            per_severity as (
              select severity, count(*) filter (where missing > 0)::int as bulletins, coalesce(sum(missing), 0)::bigint as installs from per_bulletin group by severity),
            counted as (
              select coalesce(sum(c.members) filter (where c.missing_critical > 0), 0)::int as critical, coalesce(sum(c.members) filter (where c.missing_important > 0), 0)::int as important
              from {counters} where c.missing > 0),
            computers as (
              select {(int)Severity.Critical} as severity, critical as computers from counted
              union all
              select {(int)Severity.Important}, important from counted
              union all
              select x.severity, sum(c.members)::int from (
                select distinct p.severity, s.shape from {ReadSql.At(ReadModels.ComplianceShapeState, asOf)} s join per_bulletin p on p.bulletin_id = s.bulletin_id
                where s.state = 2 and p.severity not in ({(int)Severity.Critical}, {(int)Severity.Important}){(family is null ? "" : " and s.family = @family")}
                  -- The few bulletins of those severities, as an array: their rows by index (a join estimated hundreds of them, and scanned every row).
                  and s.bulletin_id = any(array(select bulletin_id from per_bulletin where severity not in ({(int)Severity.Critical}, {(int)Severity.Important})))) x
              join {shapes} c on c.shape = x.shape group by x.severity)
            select v.severity, v.bulletins, v.installs, coalesce(c.computers, 0) from per_severity v left join computers c on c.severity = v.severity
            order by v.severity desc
            """, conn);
        if (family is not null) cmd.Parameters.AddWithValue("family", family);
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<SeverityVulnerabilities>();
        while (await reader.ReadAsync(ct))
            rows.Add(new SeverityVulnerabilities(((Severity)reader.GetInt32(0)).ToString(), reader.GetInt32(1), reader.GetInt64(2), reader.GetInt32(3)));
        return rows;
    }

    /// <summary>Missing installs per product family: the families with an applicable update, most missing first.</summary>
    public static async Task<IReadOnlyList<FamilyVulnerabilities>> FamiliesAsync(NpgsqlDataSource db, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand($"""
            with per_family as (
              select family, count(*) filter (where missing > 0)::int as updates, coalesce(sum(missing), 0)::bigint as installs from {ReadSql.At(ReadModels.ComplianceUpdate, asOf)} u where applicable > 0 group by family),
            computers as (
              select f.family, sum(c.members)::int as computers from {ReadSql.At(ReadModels.ComplianceShapeFamily, asOf)} f join {ReadSql.At(ReadModels.ComplianceShape, asOf)} c on c.shape = f.shape
              where f.missing > 0 group by f.family)
            select f.family, f.updates, f.installs, coalesce(c.computers, 0) from per_family f left join computers c on c.family = f.family order by f.installs desc, f.family
            """, conn);
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<FamilyVulnerabilities>();
        while (await reader.ReadAsync(ct))
            rows.Add(new FamilyVulnerabilities(reader.GetString(0), Domain.Inventory.Products.ProductFamilies.Get(reader.GetString(0)).DisplayName, reader.GetInt32(1),
                reader.GetInt64(2), reader.GetInt32(3)));
        return rows;
    }

    private static async Task<IReadOnlyList<BulletinCompliance>> TopMissingAsync(NpgsqlDataSource db, CancellationToken ct, DateTimeOffset? asOf)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand($"""
            select c.bulletin_id, r.data->>'number', r.data->>'title', (r.data->>'severityRank')::int, c.applicable, c.installed, c.missing, c.superseded,
                   coalesce(k.listed, false), k.due
            from {ReadSql.At(ReadModels.ComplianceBulletin, asOf)} c join {ReadSql.At(PatchProjections.BulletinRowTable, asOf)} r on r.id = c.bulletin_id
            {ReadSql.KnownExploited("r", "k", asOf is not null)}
            where c.missing > 0 order by c.missing desc, c.bulletin_id limit 10
            """, conn);
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<BulletinCompliance>();
        while (await reader.ReadAsync(ct))
        {
            var applicable = reader.GetInt32(4);
            rows.Add(new BulletinCompliance(reader.GetString(0), reader.GetString(1), reader.GetString(2), ((Severity)reader.GetInt32(3)).ToString(), applicable,
                reader.GetInt32(5), reader.GetInt32(6), reader.GetInt32(7), applicable == 0 ? 100 : (double)Math.Round(100m * (reader.GetInt32(5) + reader.GetInt32(7)) / applicable, 1, MidpointRounding.AwayFromZero),
                reader.GetBoolean(8), reader.IsDBNull(9) ? null : reader.GetFieldValue<DateOnly>(9)));
        }
        return rows;
    }
}
