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

/// <summary>The agent reports its inventory; the computer's analysis is current when the request is answered (read-your-writes).</summary>
public static class ReportInventory
{
    public static void Map(RouteGroupBuilder authenticated)
    {
        authenticated.MapPost("inventory", async (AgentInventory? body, HttpContext http, IDocumentStore store, TimeProvider time, Projections.Compliance.VulnerabilityAnalysis analysis, CancellationToken ct) =>
            {
                if (body is null) return Problems.Invalid("Missing body", "Send the inventory.");
                var problems = body.Problems();
                if (problems.Count > 0) return Problems.Invalid("Invalid inventory", string.Join("; ", problems));
                var computer = (Computer)http.Items[AgentEndpoints.ComputerItem]!;
                var inventory = body.Normalized();
                var now = time.GetUtcNow();
                await using var session = store.OpenSession(new Actor("agent", computer.Name, http.TraceIdentifier));
                var stream = await session.Events.FetchForWriting<Computer>(computer.Id, ct);
                var changed = stream.Aggregate?.Inventory is not { } known || !ValueEquality.Same(known, inventory);
                stream.AppendOne(changed ? new InventoryReported(computer.Id, inventory, now) : new InventoryConfirmed(computer.Id, now));
                await session.SaveChangesAsync(ct);
                // Every report (a resend too) recomputes the computer, so an analysis that failed once is repaired by the agent's retry.
                if (await session.LoadAsync<Computer>(computer.Id, ct) is { } updated) await analysis.RecomputeComputerAsync(updated, ct);
                return Results.Ok(new InventoryAccepted(computer.Id, changed, now));
            })
            .WithName("ReportInventory").WithBodyLimit(l => l.InventoryBodyBytes).WithSummary("The agent's inventory: OS caption, version (with the update build revision when known), architecture, service pack, server or not, cultures, software releases, installed KBs, agent version. A resend of the same inventory only records the time.")
            .Produces<InventoryAccepted>().ProducesProblem(400).ProducesProblem(401);
    }
}
