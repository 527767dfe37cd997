using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

/// <summary>An administrator resets a computer's agent (a reinstalled machine may enrol again) or revokes it (a stolen or compromised one may not).</summary>
public static class AgentAdministration
{
    public static void MapAgentAdministration(this IEndpointRouteBuilder app)
    {
        app.MapDelete("/api/computers/{name}/agent", (string name, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
                ChangeAsync(store, Actor.From(http), name, c => c.AgentId is null && !c.AgentRevoked ? null : new AgentReset(c.Id, c.AgentId ?? "", time.GetUtcNow()), ct))
            .ForAdministrator().WithTags("Agents").WithName("ResetAgent")
            .WithSummary("Reset a computer's agent (a reinstalled or replaced machine): its credential stops working and the next enrolment under this name is accepted.")
            .Produces(204).ProducesProblem(404);

        app.MapPost("/api/computers/{name}/agent/revoke", (string name, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
                ChangeAsync(store, Actor.From(http), name, c => c.AgentId is null || c.AgentRevoked ? null : new AgentRevoked(c.Id, c.AgentId, time.GetUtcNow()), ct))
            .ForAdministrator().WithTags("Agents").WithName("RevokeAgent")
            .WithSummary("Revoke a computer's agent (a stolen or compromised machine): its next call is a 401, and no agent may enrol under this name until it is reset.")
            .Produces(204).ProducesProblem(404);
    }

    private static async Task<IResult> ChangeAsync(IDocumentStore store, Actor actor, string name, Func<Computer, object?> decide, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor);
        var stream = await session.Events.FetchForWriting<Computer>(Computer.StreamId(name), ct);
        if (stream.Aggregate is null) return Problems.NotFound($"No computer '{Domain.Users.UserDecisions.Printable(name)}'.");
        if (decide(stream.Aggregate) is { } e)
        {
            stream.AppendOne(e);
            await session.SaveChangesAsync(ct);
        }
        return Results.NoContent();
    }
}
