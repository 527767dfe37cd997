using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using static Patch.Application.Compliance.ComplianceQueries;

namespace Patch.Application.Compliance;

/// <summary>
/// Compliance by bulletin, by computer and by update (C11) with drill-down between them: bulletin → its computers (by
/// state) → a computer's updates → … CSV with format=csv or Accept: text/csv. The queries are <see cref="ComplianceQueries"/>.
/// </summary>
public static class ComplianceReports
{
    public static void MapComplianceReports(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/reports/compliance").WithTags("Reports");

        group.MapGet("bulletins", async (string? severity, bool? knownExploited, string? q, string? family, HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                ReportQuery.Answer(await ByBulletinAsync(db, http.Request.Query, ReadSql.CsvRequested(http), severity, knownExploited, q, ct, family, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Report(BulletinSort.Keys, "-missing")).WithName("ComplianceByBulletin")
            .WithSummary("Per bulletin, counting one per computer and applicable update (a computer with two of its updates counts twice): applicable, installed, missing, superseded, compliance % (PostgreSQL's rounding: half away from zero, as the home page), known-exploited (KEV) with due date and the product families of its updates; family= keeps the bulletins with an applicable update of that family. Sort: missing (default, descending), applicable, installed, superseded, compliance, bulletin, severity.")
            .Produces<ReportPage<BulletinCompliance>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("bulletins/{id}/computers", async (string id, string? state, string? family, HttpContext http, NpgsqlDataSource db, IQuerySession session, CancellationToken ct) =>
                ReportQuery.Answer(await StatesAsync(db, session, http.Request.Query, ReadSql.CsvRequested(http), DrillDown.Bulletin, id, state, ct, family, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.DrillDown(StateSort.Keys, "name")).WithName("ComplianceBulletinComputers").WithSummary("Drill-down: each computer and update of the bulletin that applies to it (a computer once per applicable update), filter with state=Missing|Installed|Superseded. In name order each page gives the next one's cursor (next: pass it as after=).")
            .Produces<ReportPage<ComputerStateRow>>(200, "application/json", "text/csv").ProducesProblem(400).ProducesProblem(404);

        group.MapGet("computers", async (string? q, string? family, HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                ReportQuery.Answer(await ByComputerAsync(db, http.Request.Query, ReadSql.CsvRequested(http), q, ct, family, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Report(ComputerSort.Keys, "-missing")).WithName("ComplianceByComputer").WithSummary("Per computer: applicable, installed, missing (of which critical, important), superseded, compliance %; with family=, of that product family's updates only.")
            .Produces<ReportPage<ComputerComplianceRow>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("computers/{name}/updates", async (string name, string? state, string? family, HttpContext http, NpgsqlDataSource db, IQuerySession session, CancellationToken ct) =>
                ReportQuery.Answer(await StatesAsync(db, session, http.Request.Query, ReadSql.CsvRequested(http), DrillDown.Computer, name, state, ct, family, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.DrillDown(StateSort.Keys, "name")).WithName("ComplianceComputerUpdates").WithSummary("Drill-down: one computer's applicable updates with their state (then to each bulletin's computers).")
            .Produces<ReportPage<ComputerStateRow>>(200, "application/json", "text/csv").ProducesProblem(400).ProducesProblem(404);

        group.MapGet("updates", async (string? bulletin, string? product, string? family, HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                ReportQuery.Answer(await ByUpdateAsync(db, http.Request.Query, ReadSql.CsvRequested(http), bulletin, product, ct, family, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Report(UpdateSort.Keys, "-missing")).WithName("ComplianceByUpdate").WithSummary("Per software update (bulletin and product, with its product family): applicable, installed, missing, superseded, compliance %; filter with family=.")
            .Produces<ReportPage<UpdateCompliance>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("trend", async (string? from, string? to, string? target, HttpContext http, NpgsqlDataSource db, IQuerySession session,
                Microsoft.Extensions.Configuration.IConfiguration config, TimeProvider time, CancellationToken ct) =>
                ReportQuery.Answer(await ComplianceTrends.TrendAsync(db, session, config, time, from, to, target, ct), http))
            .ForAuditor().WithQuery(QueryParameters.Format).WithName("ComplianceTrend")
            .WithSummary("Compliance per day over a range (from, to: dates, default the last 30 days, at most 366): for each day's end, applicable installs and compliant ones (installed or superseded) for All, each vendor severity and KnownExploited; target= for one target's members of that day. CSV with format=csv.")
            .Produces<IReadOnlyList<TrendPoint>>(200, "application/json", "text/csv").ProducesProblem(400).ProducesProblem(404);

        group.MapGet("time-to-remediate", async (string? from, string? to, string? target, string? start, HttpContext http, NpgsqlDataSource db, IQuerySession session,
                Microsoft.Extensions.Configuration.IConfiguration config, TimeProvider time, CancellationToken ct) =>
                ReportQuery.Answer(await ComplianceTrends.TimeToRemediateAsync(db, session, config, time, from, to, target, start, ct), http))
            .ForAuditor().WithQuery(QueryParameters.Format).WithName("TimeToRemediate")
            .WithSummary("Time to remediate, p50/p90/p99 in days, for All, each vendor severity and KnownExploited: from the moment a computer first needed an update (start=needed, default) or from the bulletin's release (start=released) to its install (or supersedence), for needs that began in the range (from, to: dates, default the last 90 days). Needs still open are counted as censored (Kaplan–Meier), not dropped: a percentile the open items keep out of reach is null. target= for one target's members. CSV with format=csv.")
            .Produces<IReadOnlyList<RemediationRow>>(200, "application/json", "text/csv").ProducesProblem(400).ProducesProblem(404);

        group.MapGet("updates/{updateKey}/computers", async (string updateKey, string? state, string? family, HttpContext http, NpgsqlDataSource db, IQuerySession session, CancellationToken ct) =>
                ReportQuery.Answer(await StatesAsync(db, session, http.Request.Query, ReadSql.CsvRequested(http), DrillDown.Update, updateKey, state, ct, family, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.DrillDown(StateSort.Keys, "name")).WithName("ComplianceUpdateComputers").WithSummary("Drill-down: the computers one update ('microsoft:KB…|updateId') applies to, by state.")
            .Produces<ReportPage<ComputerStateRow>>(200, "application/json", "text/csv").ProducesProblem(400).ProducesProblem(404);
    }
}
