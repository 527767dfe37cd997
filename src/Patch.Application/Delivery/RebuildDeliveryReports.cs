using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Npgsql;
using Patch.Application.Security;
using Patch.Projections;
using Patch.Projections.Delivery;

namespace Patch.Application.Delivery;

public sealed record DeliveryRebuilt(long StatusEvents, long Deliveries, long ComputersWithRestarts, double Seconds);

/// <summary>Rebuilds the delivery and reboot read models (<see cref="DeliveryTables"/>) from the event log on demand.</summary>
public static class RebuildDeliveryReports
{
    /// <summary>The rebuild as a server task: POST /api/server-tasks/delivery-reports/rebuild.</summary>
    public static void Map(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder app) =>
        Microsoft.AspNetCore.Builder.EndpointRouteBuilderExtensions.MapPost(app, "/api/server-tasks/delivery-reports/rebuild", async (NpgsqlDataSource db, CancellationToken ct) =>
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                await DeliveryTables.RebuildAsync(db, ct);
                await using var count = db.CreateCommand($"select (select count(*) from {ReadModels.Schema}.{ReadModels.DeliveryStatus}), (select count(*) from {ReadModels.Schema}.{ReadModels.DeliveryLatest}), (select count(*) from {ReadModels.Schema}.{ReadModels.RestartState})");
                await using var r = await count.ExecuteReaderAsync(ct);
                await r.ReadAsync(ct);
                return Microsoft.AspNetCore.Http.Results.Ok(new DeliveryRebuilt(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), clock.Elapsed.TotalSeconds));
            })
            .WithTags("Server tasks").ForOperator().WithName("RebuildDeliveryReports")
            .WithSummary("Rebuild the delivery summary and reboot status tables from the event log (the agents' status and restart events), in one transaction: reports keep answering from the old rows until it commits.")
            .Produces<DeliveryRebuilt>();

}
