using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Agents;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

public sealed record CreateRegistrationToken(string? Name, DateTimeOffset? ExpiresAt);

public sealed record RegistrationTokenIssued(string Id, string Token, DateTimeOffset ExpiresAt);

public sealed record RegistrationTokenView(string Id, string Name, DateTimeOffset ExpiresAt, string? UsedBy, bool Revoked);

/// <summary>
/// The parent's side of registration (C10): an administrator creates a single-use registration token, a child presents
/// it once (with its name and cultures) and receives its own credential. The answer is signed with the token, so the
/// child knows it came from the server the administrator gave it the token of.
/// </summary>
public static class ChildRegistration
{
    public static void MapChildRegistration(this IEndpointRouteBuilder app)
    {
        var tokens = app.MapGroup("/api/hierarchy/registration-tokens").WithTags("Hierarchy");
        tokens.MapPost("", async (CreateRegistrationToken body, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                var now = time.GetUtcNow();
                var id = ChildRegistrationToken.StreamId(Guid.NewGuid());
                var secret = Secrets.New();
                var expires = body.ExpiresAt ?? now.AddDays(1);
                var outcome = ChildRegistrationToken.DecideCreate(id, body.Name, expires, Secrets.Hash(secret), now);
                if (outcome.Rejection is { } r) return Problems.From(r);
                await using var session = store.OpenSession(Actor.From(http));
                session.Events.StartStream<ChildRegistrationToken>(id, outcome.Events.ToArray());
                await session.SaveChangesAsync(ct);
                return Results.Created($"/api/hierarchy/registration-tokens/{id}", new RegistrationTokenIssued(id, $"{id}.{secret}", expires));
            })
            .ForAdministrator().WithName("CreateRegistrationToken")
            .WithSummary("A single-use token a child server registers with (name; expiry, default one day, at most 30). Shown only in this answer.")
            .Produces<RegistrationTokenIssued>(StatusCodes.Status201Created).ProducesProblem(400);

        tokens.MapGet("", async (IQuerySession session, CancellationToken ct) => Results.Ok(await TokensAsync(session, ct)))
            .ForAuditor().WithName("ListRegistrationTokens").WithSummary("Registration tokens, whether used and by which child (never their secrets).")
            .Produces<IReadOnlyList<RegistrationTokenView>>();

        tokens.MapDelete("{id}", async (string id, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<ChildRegistrationToken>(id, ct);
                if (stream.Aggregate is null) return Problems.NotFound($"No registration token '{id}'.");
                if (!stream.Aggregate.Revoked) stream.AppendOne(new ChildRegistrationTokenRevoked(id, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                return Results.NoContent();
            })
            .ForAdministrator().WithName("RevokeRegistrationToken").WithSummary("Revoke an unused registration token.").Produces(204).ProducesProblem(404);

        app.MapPost($"{ReplicationProtocol.Prefix}/register", RegisterAsync)
            .Anonymous("the registration token in the body guards it").WithTags("Hierarchy").WithName("RegisterChildServer")
            .WithSummary("A child server registers with a registration token, its name, URL and managed cultures, and receives its own credential (shown once; built on the secret the child chose, when it sent one: then the same request again after a lost answer gets the same registration). The answer is signed (X-Patch-Signature) with the token. Cultures the parent does not manage raise a language alert.")
            .Produces<ChildRegistered>().ProducesProblem(400).ProducesProblem(401);
    }

    /// <summary>The registration tokens, newest expiry first, never their secrets.</summary>
    public static async Task<IReadOnlyList<RegistrationTokenView>> TokensAsync(IQuerySession session, CancellationToken ct) =>
        (await session.Query<ChildRegistrationToken>().ToListAsync(ct)).OrderByDescending(t => t.ExpiresAt)
            .Select(t => new RegistrationTokenView(t.Id, t.Name, t.ExpiresAt, t.UsedBy, t.Revoked)).ToList();

    private static async Task<IResult> RegisterAsync(RegisterChildRequest body, HttpContext http, IDocumentStore store, TimeProvider time, HierarchyOptions options,
        CancellationToken ct)
    {
        if (Secrets.Split(body.Token) is not var (tokenId, secret)) return Refused("the registration token is missing or malformed");
        if ((ChildServer.InvalidName(body.Name) ?? ChildServer.InvalidCultures(body.Cultures)) is { } invalid) return Problems.Invalid("Invalid registration", invalid);
        if (body.Url is { } url && (url.Length > 2048 || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            return Problems.Invalid("Invalid registration", "url: an absolute http or https URL of the child server");
        var now = time.GetUtcNow();
        var parentId = await ServerIdentities.GetAsync(store, time, ct);
        await using var session = store.OpenSession(new Actor("child-server", body.Name!.Trim(), http.TraceIdentifier));
        // A hierarchy is a tree: this server is not its own child, nor its parent's (each roll-up would count itself again).
        if (body.ServerId is { } childServer && childServer == parentId)
            return Problems.Invalid("Invalid registration", "this is the server's own registration token: a server cannot be its own parent");
        if (body.ServerId is { } registering && (await session.LoadAsync<ParentLink>(ParentLink.StreamId, ct))?.ParentId == registering)
            return Problems.Invalid("Invalid registration", "the registering server is this server's parent: a hierarchy has no cycles");
        if (body.ServerId is { } sent && !SubtreeServers.IsServerId(sent)) return Problems.Invalid("Invalid registration", "serverId: the child's server id (\"server-\" and 32 hexadecimal digits)");
        if (body.Subtree is { } subtree && SubtreeServers.Problem(subtree, "subtree") is { } badSubtree) return Problems.Invalid("Invalid registration", badSubtree);
        if (body.Subtree?.Contains(parentId, StringComparer.Ordinal) == true)
            return Problems.Invalid("Invalid registration", "this server is below the registering server (in its subtree): a hierarchy has no cycles");
        // The token's stream is locked: two children racing for it cannot both register.
        var token = await session.Events.FetchForExclusiveWriting<ChildRegistrationToken>(tokenId, ct);
        if (token.Aggregate is null) return Refused("the registration token is not valid");
        if (body.Credential is { } chosen && !Agents.Enrol.IsChosenSecret(chosen))
            return Problems.Invalid("Invalid registration", "credential: the child's own secret is 43 to 128 URL-safe base64 characters (A–Z, a–z, 0–9, '-', '_').");
        var settings = await Settings.CoreSettingsEndpoints.CurrentAsync(session, ct);
        // The same child again, after its answer was lost: it proves itself with the secret it chose and gets the same
        // registration — the token is not used twice, and no second child is registered.
        if (body.Credential is { } again && token.Aggregate.UsedBy is { } usedBy && Secrets.Matches(secret, token.Aggregate.SecretSha256)
            && await session.LoadAsync<ChildServer>(usedBy, ct) is { Revoked: false } known && Secrets.Matches(again, known.CredentialSha256))
            return ReplicationProtocol.Signed(http, new ChildRegistered(known.Id, $"{ReplicationProtocol.CredentialPrefix}{known.Id[(known.Id.IndexOf(':') + 1)..]}.{again}",
                parentId, options.Name, ChildServer.Missing(known.Cultures, settings.ManagedCultures)), token.Aggregate.SecretSha256);
        if (token.Aggregate.RefusalFor(secret, now) is { } refusal) return Refused(refusal);
        var guid = Guid.NewGuid();
        var childId = ChildServer.StreamId(guid);
        var credential = body.Credential ?? Secrets.New();
        var cultures = body.Cultures!.Select(c => c.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var registered = new ChildServerRegistered(childId, body.Name.Trim(), body.Url, cultures, Secrets.Hash(credential), tokenId, now);
        var child = ChildServer.Create(registered);
        var alert = child.DecideAlert(cultures, settings.ManagedCultures, now);
        session.Events.StartStream<ChildServer>(childId, [registered, .. alert]);
        token.AppendOne(new ChildRegistrationTokenUsed(tokenId, childId, now));
        await session.SaveChangesAsync(ct);
        return ReplicationProtocol.Signed(http, new ChildRegistered(childId, $"{ReplicationProtocol.CredentialPrefix}{guid:N}.{credential}", parentId, options.Name,
            ChildServer.Missing(cultures, settings.ManagedCultures)), token.Aggregate.SecretSha256);
    }

    private static IResult Refused(string detail) => Results.Problem(title: "Registration refused", detail: detail, statusCode: StatusCodes.Status401Unauthorized);
}
