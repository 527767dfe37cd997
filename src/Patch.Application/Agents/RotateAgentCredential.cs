using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

public sealed record CredentialRotated(string AgentId, string Credential, DateTimeOffset PreviousValidUntil);

/// <summary>
/// An agent replaces its own credential secret (the agent id stays). The old secret keeps working for
/// <c>Patch:Agent:CredentialGrace</c> (default 10 minutes), so an answer lost on the way does not lock the agent out.
/// </summary>
public static class RotateAgentCredential
{
    public static void MapRotateAgentCredential(this IEndpointRouteBuilder app)
    {
        app.MapPost("/agent/v1/credential", async (HttpContext http, IDocumentStore store, TimeProvider time, IConfiguration config, CancellationToken ct) =>
            {
                var computer = AgentEndpoints.Caller(http);
                var grace = config.GetValue("Patch:Agent:CredentialGrace", TimeSpan.FromMinutes(10));
                var now = time.GetUtcNow();
                await using var session = store.OpenSession(new Actor("agent", computer.Name, http.TraceIdentifier, computer.AgentId));
                var stream = await session.Events.FetchForWriting<Computer>(computer.ComputerId, ct);
                // The credential that authenticated this call becomes the previous one (also when it was the previous already).
                var presented = http.Request.Headers.Authorization.ToString()[7..].Trim();
                var secret = Secrets.New();
                stream.AppendOne(new AgentCredentialRotated(computer.ComputerId, computer.AgentId, Secrets.Hash(secret), Secrets.Hash(Secrets.Split(presented)!.Value.Secret),
                    now + grace, now));
                await session.SaveChangesAsync(ct);
                return Results.Ok(new CredentialRotated(computer.AgentId, $"{computer.AgentId}.{secret}", now + grace));
            })
            .ForAgent().WithTags("Agent").WithName("RotateAgentCredential")
            .WithSummary("Replace this agent's credential: the answer holds the new one (shown once); the old one keeps working for a short grace period.")
            .Produces<CredentialRotated>().ProducesProblem(401);
    }
}
