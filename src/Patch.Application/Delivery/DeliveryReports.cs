using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Application.Security;
using static Patch.Application.Delivery.DeliveryQueries;

namespace Patch.Application.Delivery;

/// <summary>The Software Update Delivery Summary and Reboot Status over HTTP; the queries are <see cref="DeliveryQueries"/>.</summary>
public static class DeliveryReports
{
    public static void MapDeliveryReports(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/reports").WithTags("Reports");

        group.MapGet("delivery-summary", async (string? policy, string? update, string? computer, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
                (await SummaryAsync(db, time, http.Request.Query, ReadSql.CsvRequested(http), policy, update, computer, ct, AsOf.Of(http))).ToResult(s =>
                    s.Policies is { } p ? ReportQuery.Answer(QueryAnswer<ReportPage<PolicyDelivery>>.Ok(p), http)
                    : s.Updates is { } u ? ReportQuery.Answer(QueryAnswer<ReportPage<UpdateDelivery>>.Ok(u), http)
                    : ReportQuery.Answer(QueryAnswer<ReportPage<ComputerDelivery>>.Ok(s.Computers!), http)))
            .ForAuditor().WithAsOf().WithQuery([.. QueryParameters.Report(DeliverySortColumns, "policy, bulletin or computer by level"),
                QueryParameters.DateTime("from", "Start of the range in the agents' time of the status changes (default 30 days before its end)."),
                QueryParameters.DateTime("to", "End of the range in the agents' time (default: now, or asOf).")]).WithName("DeliverySummary")
            .WithSummary("Software Update Delivery Summary over a time range of the agents' status changes (from, default 30 days before to; to, default now), as it stands now or as it stood at asOf (what the server had recorded then): per policy; with policy=… per update; " +
                         "with policy=…&update=… per computer (drill-down). Executed, succeeded, failed and not yet completed count (policy, update, computer) deliveries by their last status in the range. " +
                         "computer=NAME narrows any level. Paging, sort, CSV with format=csv.")
            .Produces<ReportPage<PolicyDelivery>>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("reboot-status", async (bool? pendingOnly, string? computer, HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                ReportQuery.Answer(await RebootStatusAsync(db, http.Request.Query, ReadSql.CsvRequested(http), pendingOnly, ct, computer, AsOf.Of(http)), http))
            .ForAuditor().WithAsOf().WithQuery(QueryParameters.Report(RebootSort.Keys, "pendingSince")).WithName("RebootStatus")
            .WithSummary("Reboot Status: computers with a pending restart (pendingOnly=false: every computer that ever needed one), since when, when it is planned, deferrals and until when. Paging, sort, CSV.")
            .Produces<ReportPage<RebootStatusRow>>(200, "application/json", "text/csv").ProducesProblem(400);

        app.MapGet("/api/computers/{name}/deliveries", async (string name, HttpContext http, IQuerySession session, NpgsqlDataSource db, CancellationToken ct) =>
                // The computer as it was then: asked about an instant before it existed, there was no such computer (as its products and updates answer).
                await Historical.LoadAsync<Domain.Computers.Computer>(session, Domain.Computers.Computer.StreamId(name), AsOf.Of(http), ct) is { } computer
                    ? Results.Ok(await ForComputerAsync(db, computer.Id, ct, AsOf.Of(http)))
                    : Problems.NotFound($"No computer '{name}'", AsOf.Of(http)))
            .WithTags("Computers").ForAuditor().WithAsOf().WithName("GetComputerDeliveries")
            .WithSummary("One computer's deliveries: the latest status its agent reported for each update of each policy, newest first (at most 500).")
            .Produces<IReadOnlyList<ComputerDeliveryRow>>().ProducesProblem(404);
    }
}
