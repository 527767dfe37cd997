using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Patch.Application.Common;
using Patch.Domain.Agents;
using Patch.Domain.Users;
using Patch.Projections.Security;

namespace Patch.Application.Security;

/// <summary>
/// "Authorization: Bearer patch_pat_…": the token is found by the SHA-256 of the whole string (an indexed lookup, no
/// slow hash: the secret is 256 random bits), then checked against its user as they are now, so a revoked token, a
/// disabled or deleted user or a lowered role take effect on the next request. The token's role is capped by the
/// user's. Its last use is recorded at most once a minute.
/// </summary>
public sealed class PersonalAccessTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    IDocumentStore store, TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private static readonly ConcurrentDictionary<string, DateTimeOffset> LastRecorded = new();

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.NoResult();
        var presented = header[7..].Trim();
        if (!presented.StartsWith(PatchAuth.TokenPrefix, StringComparison.Ordinal))
            return AuthenticateResult.Fail("The bearer credential is not a Patch personal access token.");

        var now = time.GetUtcNow();
        var hash = Secrets.Hash(presented);
        await using var session = store.QuerySession();
        var token = await session.Query<AccessToken>().Where(t => t.SecretSha256 == hash).FirstOrDefaultAsync(Context.RequestAborted);
        if (token is null) return AuthenticateResult.Fail("Unknown token.");
        if (token.Revoked) return AuthenticateResult.Fail("The token was revoked.");
        if (token.ExpiresAt <= now) return AuthenticateResult.Fail("The token expired.");
        var user = await session.LoadAsync<User>(token.UserId, Context.RequestAborted);
        if (user is not { CanSignIn: true }) return AuthenticateResult.Fail("The token's user is disabled or deleted.");
        // The user's own list decides too: a user deleted and created again under the same name (the same stream) starts
        // with none, so the tokens of the one deleted never come back to life as the new one's.
        if (!user.Tokens.Any(t => t.TokenId == token.Id && !t.Revoked)) return AuthenticateResult.Fail("The token's user was deleted since it was issued.");

        await RecordUseAsync(token, user, now);
        // A user who must change their password may only change it, with a token as with a session.
        Claim[] claims = user.MustChangePassword
            ? [new(PatchAuth.Claims.TokenId, token.Id), new(PatchAuth.Claims.MustChangePassword, "true")]
            : [new(PatchAuth.Claims.TokenId, token.Id)];
        var principal = UserPrincipal.Create(Scheme.Name, user.Id, user.UserName, Roles.Lower(token.Role, user.Role), "token", claims);
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }

    private async Task RecordUseAsync(AccessToken token, User user, DateTimeOffset now)
    {
        if (token.LastUsedAt is { } last && now - last < TimeSpan.FromMinutes(1)) return;
        // One request claims the record (concurrent first uses of a token raced to start its stream: a 500 for the others).
        var claimed = LastRecorded.TryGetValue(token.Id, out var recorded)
            ? now - recorded >= TimeSpan.FromMinutes(1) && LastRecorded.TryUpdate(token.Id, now, recorded)
            : LastRecorded.TryAdd(token.Id, now);
        if (!claimed) return;
        try
        {
            await using var write = store.OpenSession(new Actor("user", user.UserName, Context.TraceIdentifier, user.Id));
            write.Events.Append(PersonalAccessTokenUsed.StreamId(token.Id), new PersonalAccessTokenUsed(token.Id, now));
            await write.SaveChangesAsync(CancellationToken.None);
        }
        catch (Exception e) when (StoreConflict.Is(e))
        {
            // Another node recorded this token's use at the same moment: the request goes on, the use is recorded.
        }
    }
}
