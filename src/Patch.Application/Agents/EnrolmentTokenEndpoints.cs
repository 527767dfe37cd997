using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Agents;

namespace Patch.Application.Agents;

/// <summary>Enrolment tokens: an operator creates one (shown once), agents present it once to enrol, it can be revoked.</summary>
public static class EnrolmentTokenEndpoints
{
    /// <summary>The tokens, newest expiry first, never their secrets.</summary>
    public static async Task<IReadOnlyList<EnrolmentTokenView>> ListAsync(IQuerySession session, CancellationToken ct) =>
        (await session.Query<EnrolmentToken>().ToListAsync(ct)).OrderByDescending(t => t.ExpiresAt)
            .Select(t => new EnrolmentTokenView(t.Id, t.Name, t.ExpiresAt, t.MaxUses, t.Uses, t.Revoked)).ToList();

    public static void MapEnrolmentTokens(this IEndpointRouteBuilder app)
    {
        var tokens = app.MapGroup("/api/enrolment-tokens").WithTags("Agents");

        tokens.MapPost("", async (CreateEnrolmentToken body, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                var now = time.GetUtcNow();
                var id = EnrolmentToken.StreamId(Guid.NewGuid());
                var secret = Secrets.New();
                var expires = body.ExpiresAt ?? now.AddDays(7);
                var outcome = EnrolmentToken.DecideCreate(id, body.Name, expires, body.MaxUses ?? 1, Secrets.Hash(secret), now);
                if (outcome.Rejection is { } r) return Problems.From(r);
                await using var session = store.OpenSession(Actor.From(http));
                session.Events.StartStream<EnrolmentToken>(id, outcome.Events.ToArray());
                await session.SaveChangesAsync(ct);
                return Results.Created($"/api/enrolment-tokens/{id}", new EnrolmentTokenIssued(id, $"{id}.{secret}", expires, body.MaxUses ?? 1));
            })
            .ForOperator().WithName("CreateEnrolmentToken").WithSummary("An enrolment token for agents: name, expiry (default 7 days), number of uses (default 1). The token is shown only in this answer.")
            .Produces<EnrolmentTokenIssued>(StatusCodes.Status201Created).ProducesProblem(400);

        tokens.MapGet("", async (IQuerySession session, CancellationToken ct) => Results.Ok(await ListAsync(session, ct)))
            .ForAuditor().WithName("ListEnrolmentTokens").WithSummary("Enrolment tokens with their uses (never their secrets).").Produces<IReadOnlyList<EnrolmentTokenView>>();

        tokens.MapDelete("{id}", async (string id, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<EnrolmentToken>(id, ct);
                if (stream.Aggregate is null) return Problems.NotFound($"No enrolment token '{id}'.");
                if (!stream.Aggregate.Revoked) stream.AppendOne(new EnrolmentTokenRevoked(id, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                return Results.NoContent();
            })
            .ForOperator().WithName("RevokeEnrolmentToken").WithSummary("Revoke a token: agents can no longer enrol with it.").Produces(204).ProducesProblem(404);
    }
}
