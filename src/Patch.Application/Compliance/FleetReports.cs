using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using static Patch.Application.Compliance.FleetQueries;

namespace Patch.Application.Compliance;

/// <summary>Diagnostics and summaries (C11) over HTTP; the queries are <see cref="FleetQueries"/>.</summary>
public static class FleetReports
{
    public static void MapFleetReports(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/reports").WithTags("Reports");

        group.MapGet("vulnerabilities", async (string? family, HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                ReportQuery.Answer(ComplianceQueries.FamilyProblem(family) is { } problem ? QueryAnswer<IReadOnlyList<SeverityVulnerabilities>>.Invalid(problem)
                    : QueryAnswer<IReadOnlyList<SeverityVulnerabilities>>.Ok(await VulnerabilitiesAsync(db, ct, family, AsOf.Of(http))), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Format).WithName("VulnerabilitiesToAddress").WithSummary("Missing applicable updates by vendor severity (most severe first): bulletins with a missing install, missing installs, computers missing one; family= for one product family only. CSV with format=csv.")
            .Produces<IReadOnlyList<SeverityVulnerabilities>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("vulnerabilities/families", async (HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                ReportQuery.Answer(QueryAnswer<IReadOnlyList<FamilyVulnerabilities>>.Ok(await FamiliesAsync(db, ct, AsOf.Of(http))), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Format).WithName("VulnerabilitiesByFamily").WithSummary("Missing applicable updates by product family (Windows, .NET Framework, Office, SQL Server…): updates with a missing install, missing installs, computers missing one. CSV with format=csv.")
            .Produces<IReadOnlyList<FamilyVulnerabilities>>(200, "application/json", "text/csv");

        group.MapGet("computers-not-reporting", async (int? days, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
                ReportQuery.Answer(await NotReportingAsync(db, time, http.Request.Query, ReadSql.CsvRequested(http), days, ct, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Report(NotReportingSort.Keys, "name")).WithName("ComputersNotReporting").WithSummary("Computers whose agent has not reported inventory for 'days' (default 7) before now (or before asOf, as the fleet stood then), or never did.")
            .Produces<ReportPage<NotReportingComputer>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("agent-versions", async (HttpContext http, NpgsqlDataSource db, IConfiguration config, CancellationToken ct) =>
                ReportQuery.Answer(QueryAnswer<IReadOnlyList<AgentVersionCount>>.Ok(await AgentVersionsAsync(db, config, ct, AsOf.Of(http))), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Format).WithName("AgentVersions").WithSummary("Agent rollout status: computers per agent version and whether that version needs upgrading (Patch:Agent:CurrentVersion). CSV with format=csv.")
            .Produces<IReadOnlyList<AgentVersionCount>>(200, "application/json", "text/csv");

        app.MapGet("/api/home", async (HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) => Results.Ok(await HomeAsync(db, time, ct, AsOf.Of(http))))
            .WithTags("Reports").ForAuditor().WithAsOf().WithName("HomeSummary")
            .WithSummary("The home page in one answer: configuration summary, bulletin summary, vulnerabilities by severity, the bulletins missing most, the software update delivery summary of the last 30 days and the computers with a pending restart — now, or as it stood at asOf (its 30 and 7 days counted back from then).")
            .Produces<HomeSummary>();
    }
}
