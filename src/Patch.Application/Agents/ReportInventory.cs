using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

public sealed record InventoryAccepted(string ComputerId, bool Changed, DateTimeOffset At);

/// <summary>
/// The agent reports its inventory; the computer's analysis is current when the request is answered (read-your-writes).
/// Reports arriving together are stored and analysed together (<see cref="InventoryIngest"/>).
/// </summary>
public static class ReportInventory
{
    public static void Map(RouteGroupBuilder authenticated)
    {
        authenticated.MapPost("inventory", async (AgentInventory? body, HttpContext http, TimeProvider time, InventoryIngest ingest, CancellationToken ct) =>
            {
                if (body is null) return Problems.Invalid("Missing body", "Send the inventory.");
                var problems = body.Problems();
                if (problems.Count > 0) return Problems.Invalid("Invalid inventory", string.Join("; ", problems));
                var caller = AgentEndpoints.Caller(http);
                var actor = new Actor("agent", caller.Name, http.TraceIdentifier);
                return Results.Ok(await ingest.ReportAsync(new InventoryReport(caller.ComputerId, body.Normalized(), time.GetUtcNow(), actor), ct));
            })
            .WithName("ReportInventory").WithBodyLimit(l => l.InventoryBodyBytes).WithSummary("The agent's inventory: OS caption, version (with the update build revision when known), architecture, service pack, server or not, cultures, software releases, installed KBs, agent version. A resend of the same inventory only records the time.")
            .Produces<InventoryAccepted>().ProducesProblem(400).ProducesProblem(401);
    }
}
