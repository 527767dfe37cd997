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

/// <summary>The secret the agent chose for its next credential (kept on its disk before it asks), or none: the server chooses.</summary>
public sealed record RotateCredentialRequest(string? Credential);

/// <summary>
/// An agent replaces its own credential secret (the agent id stays). The old secret keeps working for
/// <c>Patch:Agent:CredentialGrace</c> (default 10 minutes). An agent that chose the new secret (and kept it before
/// asking) may ask again when the answer was lost, with the old credential or, past the grace, the new one: the same
/// rotation answers again, nothing appended — so a lost answer never locks it out.
/// </summary>
public static class RotateAgentCredential
{
    public static void MapRotateAgentCredential(this IEndpointRouteBuilder app)
    {
        app.MapPost("/agent/v1/credential", async (RotateCredentialRequest? body, HttpContext http, IDocumentStore store, TimeProvider time, IConfiguration config, CancellationToken ct) =>
            {
                if (body?.Credential is { } chosen && !Enrol.IsChosenSecret(chosen))
                    return Problems.Invalid("Invalid credential", "credential: the agent's own secret is 43 to 128 URL-safe base64 characters (A–Z, a–z, 0–9, '-', '_').");
                var computer = AgentEndpoints.Caller(http);
                var grace = config.GetValue("Patch:Agent:CredentialGrace", TimeSpan.FromMinutes(10));
                var now = time.GetUtcNow();
                await using var session = store.OpenSession(new Actor("agent", computer.Name, http.TraceIdentifier, computer.AgentId));
                var stream = await session.Events.FetchForWriting<Computer>(computer.ComputerId, ct);
                // The credential that authenticated this call becomes the previous one (also when it was the previous already).
                var presented = http.Request.Headers.Authorization.ToString()[7..].Trim();
                // The same rotation again (its answer was lost): the chosen secret is already the credential.
                if (body?.Credential is { } again && stream.Aggregate is { CredentialSha256: { } current } known && Secrets.Matches(again, current))
                    return Results.Ok(new CredentialRotated(computer.AgentId, $"{computer.AgentId}.{again}", known.PreviousCredentialValidUntil ?? now));
                var secret = body?.Credential ?? Secrets.New();
                stream.AppendOne(new AgentCredentialRotated(computer.ComputerId, computer.AgentId, Secrets.Hash(secret), Secrets.Hash(Secrets.Split(presented)!.Value.Secret),
                    now + grace, now));
                await session.SaveChangesAsync(ct);
                return Results.Ok(new CredentialRotated(computer.AgentId, $"{computer.AgentId}.{secret}", now + grace));
            })
            .ForAgent().WithTags("Agent").WithName("RotateAgentCredential")
            .WithSummary("Replace this agent's credential: the answer holds the new one; the old one keeps working for a short grace period. An agent may send the secret it chose ({ \"credential\": … }, kept before asking): asked again after a lost answer, with the old credential or the new one, the same rotation answers.")
            .Produces<CredentialRotated>().ProducesProblem(401);
    }
}
