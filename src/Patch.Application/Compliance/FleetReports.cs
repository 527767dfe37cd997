using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.Computers;
using Patch.Domain.ServerTasks;
using Patch.Projections;

namespace Patch.Application.Compliance;

public sealed record SeverityVulnerabilities(string Severity, int Bulletins, long MissingInstalls, int Computers);

public sealed record NotReportingComputer(string ComputerId, string Name, bool AgentInstalled, string? AgentVersion, DateTimeOffset? LastInventoryAt, double? DaysSilent);

public sealed record AgentVersionCount(string Version, int Computers, bool NeedsUpgrade);

public sealed record ConfigurationSummary(int Computers, int ComputersWithAgent, int ComputersWithoutAgent, int NotReportingInventory, int NotReportingDays,
    DateTimeOffset? LastCatalogImport, string? LastCatalogImportResult);

public sealed record BulletinSummary(int Available, int Staged, int WithPolicies, int NewInLast30Days, int Superseded, int KnownExploited);

public sealed record HomeSummary(ConfigurationSummary Configuration, BulletinSummary Bulletins, IReadOnlyList<SeverityVulnerabilities> Vulnerabilities, IReadOnlyList<BulletinCompliance> TopMissing);

/// <summary>Diagnostics and summaries (C11): vulnerabilities to address, computers not reporting, agent versions, and the home page's parts.</summary>
public static class FleetReports
{
    private const string S = ComplianceTables.Schema;

    public static void MapFleetReports(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/reports").WithTags("Reports");

        group.MapGet("vulnerabilities", async (HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                Csv(http) ? Results.Text(ReportQuery.ToCsv(await VulnerabilitiesAsync(db, ct)), "text/csv; charset=utf-8") : Results.Ok(await VulnerabilitiesAsync(db, ct)))
            .WithName("VulnerabilitiesToAddress").WithSummary("Missing applicable updates by vendor severity (most severe first): bulletins with a missing install, missing installs, computers missing one. CSV with format=csv.")
            .Produces<IReadOnlyList<SeverityVulnerabilities>>(200, "application/json", "text/csv");

        group.MapGet("computers-not-reporting", async (int? days, HttpContext http, IQuerySession session, TimeProvider time, CancellationToken ct) =>
            {
                var n = days ?? 7;
                if (n is < 1 or > 3650) return Problems.Invalid("Invalid query", "days: 1 to 3650");
                var (query, problem) = ReportQuery.Parse(http, new Dictionary<string, string> { ["name"] = "", ["lastInventoryAt"] = "" }, "name");
                if (problem is not null) return problem;
                var rows = await NotReportingAsync(session, n, time.GetUtcNow(), ct);
                rows = (query!.Sort == "name" ? rows.OrderBy(r => r.Name, StringComparer.OrdinalIgnoreCase) : rows.OrderBy(r => r.LastInventoryAt)).ToList();
                if (query.Descending) rows.Reverse();
                return query.Answer(new ReportPage<NotReportingComputer>(rows.Skip(query.Offset).Take(query.PageSize).ToList(), rows.Count, query.Page, query.PageSize));
            })
            .WithName("ComputersNotReporting").WithSummary("Computers whose agent has not reported inventory for 'days' (default 7), or never did.")
            .Produces<ReportPage<NotReportingComputer>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("agent-versions", async (HttpContext http, IQuerySession session, IConfiguration config, CancellationToken ct) =>
            {
                var current = CurrentAgentVersion(config);
                var computers = await session.Query<Computer>().Where(c => c.AgentInstalled).ToListAsync(ct);
                var rows = computers.GroupBy(c => c.AgentVersion ?? "unknown").OrderBy(g => g.Key)
                    .Select(g => new AgentVersionCount(g.Key, g.Count(), Version.TryParse(g.Key, out var v) && v < Version.Parse(current))).ToList();
                return Csv(http) ? Results.Text(ReportQuery.ToCsv(rows), "text/csv; charset=utf-8") : Results.Ok(rows);
            })
            .WithName("AgentVersions").WithSummary("Agent rollout status: computers per agent version and whether that version needs upgrading (Patch:Agent:CurrentVersion). CSV with format=csv.")
            .Produces<IReadOnlyList<AgentVersionCount>>(200, "application/json", "text/csv");

        app.MapGet("/api/home", async (NpgsqlDataSource db, IQuerySession session, IConfiguration config, TimeProvider time, CancellationToken ct) =>
            {
                var now = time.GetUtcNow();
                var computers = await session.Query<Computer>().ToListAsync(ct);
                var notReporting = await NotReportingAsync(session, 7, now, ct);
                var lastImport = await session.Query<ServerTaskRun>().Where(r => r.Task == Catalog.CatalogImporter.TaskName).OrderByDescending(r => r.Started).FirstOrDefaultAsync(ct);
                var configuration = new ConfigurationSummary(computers.Count, computers.Count(c => c.AgentInstalled), computers.Count(c => !c.AgentInstalled),
                    notReporting.Count, 7, lastImport?.Ended ?? lastImport?.Started, lastImport?.Status);
                await using var conn = await db.OpenConnectionAsync(ct);
                await using var cmd = new NpgsqlCommand($"""
                    with rows as (select d.id, (d.data->>'staged')::boolean staged, (d.data->>'released')::timestamptz released, d.data->'cves' cves, d.data->>'number' number, d.data->>'vendor' vendor from {S}.{PatchProjections.BulletinRowTable} d)
                    select count(*)::int, count(*) filter (where staged)::int,
                      count(*) filter (where exists (select 1 from {S}.{PatchProjections.PolicyTable} p where p.data @> jsonb_build_object('bulletins', jsonb_build_array(rows.id), 'status', 'Active')))::int,
                      count(*) filter (where released >= @since)::int,
                      count(*) filter (where exists (select 1 from {S}.{PatchProjections.BulletinRowTable} s where s.data @> jsonb_build_object('supersedes', jsonb_build_array(rows.number), 'vendor', rows.vendor)))::int,
                      count(*) filter (where exists (select 1 from jsonb_array_elements_text(rows.cves) c(cve) join {S}.{PatchProjections.KnownExploitedTable} k on k.id = 'cve:' || upper(c.cve)))::int
                    from rows
                    """, conn);
                cmd.Parameters.AddWithValue("since", now.AddDays(-30));
                BulletinSummary bulletins;
                await using (var reader = await cmd.ExecuteReaderAsync(ct))
                {
                    await reader.ReadAsync(ct);
                    bulletins = new BulletinSummary(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetInt32(5));
                }
                return Results.Ok(new HomeSummary(configuration, bulletins, await VulnerabilitiesAsync(db, ct), await TopMissingAsync(db, ct)));
            })
            .WithTags("Reports").WithName("HomeSummary")
            .WithSummary("The home page in one answer: configuration summary, bulletin summary, vulnerabilities by severity and the bulletins missing most.")
            .Produces<HomeSummary>();
    }

    private static bool Csv(HttpContext http) =>
        string.Equals(http.Request.Query["format"], "csv", StringComparison.OrdinalIgnoreCase) || http.Request.Headers.Accept.ToString().Contains("text/csv", StringComparison.OrdinalIgnoreCase);

    public static string CurrentAgentVersion(IConfiguration config) =>
        config["Patch:Agent:CurrentVersion"] ?? typeof(FleetReports).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private static async Task<List<NotReportingComputer>> NotReportingAsync(IQuerySession session, int days, DateTimeOffset now, CancellationToken ct)
    {
        var since = now.AddDays(-days);
        var computers = await session.Query<Computer>().Where(c => c.AgentInstalled).ToListAsync(ct);
        return computers.Where(c => c.LastInventoryAt is null || c.LastInventoryAt < since)
            .Select(c => new NotReportingComputer(c.Id, c.Name, c.AgentInstalled, c.AgentVersion, c.LastInventoryAt,
                c.LastInventoryAt is { } at ? Math.Round((now - at).TotalDays, 1) : null)).ToList();
    }

    private static async Task<IReadOnlyList<SeverityVulnerabilities>> VulnerabilitiesAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand($"""
            with per_bulletin as (
              select (r.data->>'severityRank')::int as severity, c.bulletin_id, c.missing
              from {S}.compliance_bulletin c join {S}.{PatchProjections.BulletinRowTable} r on r.id = c.bulletin_id),
            per_severity as (
              select severity, count(*) filter (where missing > 0)::int as bulletins, coalesce(sum(missing), 0)::bigint as installs from per_bulletin group by severity),
            computers as (
              select p.severity, count(distinct s.computer_id)::int as computers
              from {S}.compliance_state s join per_bulletin p on p.bulletin_id = s.bulletin_id where s.state = 2 group by p.severity)
            select v.severity, v.bulletins, v.installs, coalesce(c.computers, 0) from per_severity v left join computers c on c.severity = v.severity
            order by v.severity desc
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<SeverityVulnerabilities>();
        while (await reader.ReadAsync(ct))
            rows.Add(new SeverityVulnerabilities(((Severity)reader.GetInt32(0)).ToString(), reader.GetInt32(1), reader.GetInt64(2), reader.GetInt32(3)));
        return rows;
    }

    private static async Task<IReadOnlyList<BulletinCompliance>> TopMissingAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand($"""
            select c.bulletin_id, r.data->>'number', r.data->>'title', (r.data->>'severityRank')::int, c.applicable, c.installed, c.missing, c.superseded
            from {S}.compliance_bulletin c join {S}.{PatchProjections.BulletinRowTable} r on r.id = c.bulletin_id
            where c.missing > 0 order by c.missing desc, c.bulletin_id limit 10
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<BulletinCompliance>();
        while (await reader.ReadAsync(ct))
        {
            var applicable = reader.GetInt32(4);
            rows.Add(new BulletinCompliance(reader.GetString(0), reader.GetString(1), reader.GetString(2), ((Severity)reader.GetInt32(3)).ToString(), applicable,
                reader.GetInt32(5), reader.GetInt32(6), reader.GetInt32(7), applicable == 0 ? 100 : Math.Round(100.0 * (reader.GetInt32(5) + reader.GetInt32(7)) / applicable, 1), false, null));
        }
        return rows;
    }
}
