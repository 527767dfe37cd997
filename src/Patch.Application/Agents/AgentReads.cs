using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

public sealed record AgentSelf(string ComputerId, string Name, string? AgentVersion, DateTimeOffset? EnrolledAt, DateTimeOffset? LastInventoryAt, AgentInventory? Inventory);

/// <summary>What an agent reads about its own computer: its assignments (ETag), its updates as the server sees them, itself.</summary>
public static class AgentReads
{
    public static void Map(RouteGroupBuilder authenticated)
    {
        authenticated.MapGet("assignments", async (HttpContext http, IQuerySession session, NpgsqlDataSource db, Microsoft.Extensions.Configuration.IConfiguration config,
                Projections.Compliance.CatalogCache catalog, CancellationToken ct) =>
            {
                var assignments = await AssignmentBuilder.ForAsync(session, db, config, catalog, await AgentEndpoints.ComputerAsync(http, session, ct), ct);
                var etag = AssignmentBuilder.ETag(assignments);
                http.Response.Headers.ETag = etag;
                http.Response.Headers.CacheControl = "no-cache";
                return AssignmentBuilder.Matches(http.Request, etag) ? Results.StatusCode(StatusCodes.Status304NotModified) : Results.Ok(assignments);
            })
            .WithName("GetAgentAssignments")
            .WithSummary("What this computer is assigned: the enabled Software Update policies whose targets contain it (enabled updates with their rules, package hash, size and URL, " +
                         "command line; run schedule; program rights, run condition and terminate-after), the maintenance windows that apply, and the effective agent configuration. " +
                         "Send the ETag back in If-None-Match: an unchanged answer is a 304 without a body.")
            .Produces<Domain.Cycle.Assignments>().Produces(StatusCodes.Status304NotModified).ProducesProblem(401);

        authenticated.MapGet("updates", async (string? state, HttpContext http, NpgsqlDataSource db, IQuerySession session, CancellationToken ct) =>
                Computers.ComputerUpdates.TryState(state, out var filter)
                    ? Results.Ok(await Computers.ComputerUpdates.ComputeAsync(db, await AgentEndpoints.ComputerAsync(http, session, ct), filter, ct))
                    : Problems.Invalid("Invalid query", $"state: '{state}' is not one of Installed, Missing, Superseded"))
            .WithName("GetAgentUpdates").WithSummary("This computer's applicable updates and their state, as the server's vulnerability analysis sees them.")
            .Produces<Computers.ComputerCompliance>().ProducesProblem(400).ProducesProblem(401);

        authenticated.MapGet("me", async (HttpContext http, IQuerySession session, CancellationToken ct) =>
            {
                var c = await AgentEndpoints.ComputerAsync(http, session, ct);
                return Results.Ok(new AgentSelf(c.Id, c.Name, c.AgentVersion, c.EnrolledAt, c.LastInventoryAt, c.Inventory));
            })
            .WithName("GetAgentSelf").WithSummary("What the server knows of this agent's own computer (and of no other).").Produces<AgentSelf>().ProducesProblem(401);
    }
}
