using Marten;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Agents;
using Patch.Domain.Users;
using Patch.Projections.Security;

namespace Patch.Application.Users;

public sealed record UserView(string UserId, string UserName, string DisplayName, string Role, bool Enabled, bool MustChangePassword, DateTimeOffset CreatedAt,
    DateTimeOffset? LastSignInAt, DateTimeOffset? LockedUntil, int ActiveTokens)
{
    public static UserView Of(User u, DateTimeOffset now) => new(u.Id, u.UserName, u.DisplayName, u.Role, u.Enabled, u.MustChangePassword, u.CreatedAt, u.LastSignInAt,
        u.LockedUntil > now ? u.LockedUntil : null, u.Tokens.Count(t => !t.Revoked && t.ExpiresAt > now));
}

public sealed record TokenView(string TokenId, string Name, string Role, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, bool Revoked, bool Expired, DateTimeOffset? LastUsedAt);

/// <summary>The token itself is in this answer only; the server keeps its SHA-256.</summary>
public sealed record TokenIssued(string TokenId, string Token, string Name, string Role, DateTimeOffset ExpiresAt);

/// <summary>
/// What the user endpoints, the account endpoints and the bootstrap commands share: users created, changed and
/// deleted, passwords set, tokens issued and revoked. Each returns the events' outcome so the caller answers refusals.
/// </summary>
public sealed class UserAccounts(IDocumentStore store, TimeProvider time)
{
    public static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromDays(30);

    public async Task<(User? User, Rejection? Rejection)> CreateAsync(Actor actor, string? userName, string? displayName, string? role, string? password,
        bool mustChangePassword, CancellationToken ct)
    {
        if (UserDecisions.UserNameProblem(userName) is not null)
            return (null, UserDecisions.Create(null, userName, displayName, role, password, Passwords.Hash, mustChangePassword, time.GetUtcNow()).Rejection);
        await using var session = store.OpenSession(actor);
        var stream = await session.Events.FetchForWriting<User>(User.StreamId(userName!), ct);
        var outcome = UserDecisions.Create(stream.Aggregate, userName, displayName, role, password, Passwords.Hash, mustChangePassword, time.GetUtcNow());
        return await SaveAsync(session, stream, outcome, ct);
    }

    /// <summary>The transaction lock every change to a user takes before counting administrators.</summary>
    private const long UserChangesLock = 7260115;

    /// <summary>A change to a user by name: <paramref name="decide"/> gets the user and the number of other enabled administrators.</summary>
    public async Task<(User? User, Rejection? Rejection)> ChangeAsync(Actor actor, string userName, Func<User?, int, DateTimeOffset, Outcome> decide, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor);
        var id = User.StreamId(userName);
        // Administrators are counted under a lock on this user's stream and one on every user change: two administrators
        // disabling each other at once (each counting the other) would otherwise both pass and leave none.
        var stream = await session.Events.FetchForExclusiveWriting<User>(id, ct);
        await session.QueryAsync<int>($"select 1 from (select pg_advisory_xact_lock({UserChangesLock})) held", ct);
        var others = await session.Query<User>().CountAsync(u => u.Id != id && u.Role == Roles.Administrator && u.Enabled && !u.Deleted, ct);
        return await SaveAsync(session, stream, decide(stream.Aggregate, others, time.GetUtcNow()), ct);
    }

    public Task<(User? User, Rejection? Rejection)> SetPasswordAsync(Actor actor, string userName, string? password, bool byUser, bool mustChangePassword, CancellationToken ct) =>
        UserDecisions.PasswordProblem(password) is { } problem
            ? Task.FromResult<(User?, Rejection?)>((null, new Rejection(RejectionKind.Invalid, "Invalid password", problem)))
            : ChangeAsync(actor, userName, (u, _, now) => UserDecisions.SetPassword(u, Passwords.Hash(password!), byUser, mustChangePassword, now), ct);

    public async Task<(TokenIssued? Issued, Rejection? Rejection)> CreateTokenAsync(Actor actor, string userId, string? name, string? role, DateTimeOffset? expiresAt,
        CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var tokenId = $"pat-{Guid.NewGuid():N}";
        var token = PatchAuth.TokenPrefix + Secrets.New();
        await using var session = store.OpenSession(actor);
        var stream = await session.Events.FetchForWriting<User>(userId, ct);
        var outcome = UserDecisions.CreateToken(stream.Aggregate, tokenId, name, role, expiresAt ?? now + DefaultTokenLifetime, Secrets.Hash(token), now);
        var (_, rejection) = await SaveAsync(session, stream, outcome, ct);
        if (rejection is not null) return (null, rejection);
        var created = (PersonalAccessTokenCreated)outcome.Events[0];
        return (new TokenIssued(tokenId, token, created.Name, created.Role, created.ExpiresAt), null);
    }

    public async Task<Rejection?> RevokeTokenAsync(Actor actor, string userId, string tokenId, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor);
        var stream = await session.Events.FetchForWriting<User>(userId, ct);
        return (await SaveAsync(session, stream, UserDecisions.RevokeToken(stream.Aggregate, tokenId, time.GetUtcNow()), ct)).Rejection;
    }

    public async Task<IReadOnlyList<TokenView>> TokensAsync(IQuerySession session, string userId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // The user's own tokens: those of a user deleted before under the same name are not this one's (and never valid).
        var own = (await session.LoadAsync<User>(userId, ct))?.Tokens.Select(t => t.TokenId).ToHashSet(StringComparer.Ordinal) ?? [];
        var tokens = await session.Query<AccessToken>().Where(t => t.UserId == userId).OrderByDescending(t => t.CreatedAt).ToListAsync(ct);
        return tokens.Where(t => own.Contains(t.Id))
            .Select(t => new TokenView(t.Id, t.Name, t.Role, t.CreatedAt, t.ExpiresAt, t.Revoked, t.ExpiresAt <= now, t.LastUsedAt)).ToList();
    }

    private static async Task<(User? User, Rejection? Rejection)> SaveAsync(IDocumentSession session, JasperFx.Events.IEventStream<User> stream, Outcome outcome, CancellationToken ct)
    {
        if (outcome.Rejection is { } r) return (null, r);
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        return (await session.LoadAsync<User>(stream.Key!, ct), null);
    }
}
