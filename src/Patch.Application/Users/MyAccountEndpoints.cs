using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Users;

namespace Patch.Application.Users;

public sealed record ChangeMyPasswordRequest(string? CurrentPassword, string? NewPassword);

public sealed record CreateTokenRequest(string? Name, string? Role, DateTimeOffset? ExpiresAt);

/// <summary>The signed-in user's own account: their password and their personal access tokens.</summary>
public static class MyAccountEndpoints
{
    public static void MapMyAccount(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/auth/me").WithTags("Sign-in");

        group.MapPut("password", async (ChangeMyPasswordRequest body, HttpContext http, IQuerySession read, UserAccounts accounts, TimeProvider time, CancellationToken ct) =>
            {
                if (LocalUser(http) is not { } id) return NotLocal();
                if (await read.LoadAsync<User>(id, ct) is not { CanSignIn: true } user) return Problems.NotFound("No such user.");
                if (string.IsNullOrEmpty(body.CurrentPassword) || body.CurrentPassword.Length > UserDecisions.MaxPasswordLength || !Passwords.Verify(user, body.CurrentPassword))
                    return Problems.Invalid("Wrong password", "currentPassword: not your current password.");
                if (UserDecisions.PasswordProblem(body.NewPassword, "newPassword") is { } problem) return Problems.Invalid("Invalid password", problem);
                if (body.NewPassword == body.CurrentPassword) return Problems.Invalid("Invalid password", "newPassword: must differ from the current one.");
                var (changed, rejection) = await accounts.SetPasswordAsync(Actor.From(http), user.UserName, body.NewPassword, byUser: true, mustChangePassword: false, ct);
                if (rejection is not null) return Problems.From(rejection);
                // The new credential version ends other sessions; this one goes on under it.
                if (http.User.Identity?.AuthenticationType == PatchAuth.CookieScheme)
                    await http.SignInAsync(PatchAuth.CookieScheme, UserPrincipal.ForSession(changed!, time.GetUtcNow()));
                return Results.NoContent();
            })
            .ForSignedInUser().RequireRateLimiting(SecurityServices.SignInRateLimit)
            .WithName("ChangeMyPassword").WithSummary("Change your own password (local users): the current one, then the new one (at least 12 characters). Your other sessions end.")
            .Produces(204).ProducesProblem(400).ProducesProblem(404).ProducesProblem(429);

        group.MapGet("tokens", async (HttpContext http, IQuerySession session, UserAccounts accounts, CancellationToken ct) =>
                LocalUser(http) is { } id ? Results.Ok(await accounts.TokensAsync(session, id, ct)) : NotLocal())
            .ForAuditor().WithName("ListMyTokens").WithSummary("Your personal access tokens (never their secrets).")
            .Produces<IReadOnlyList<TokenView>>().ProducesProblem(400);

        group.MapPost("tokens", async (CreateTokenRequest body, HttpContext http, UserAccounts accounts, CancellationToken ct) =>
            {
                if (LocalUser(http) is not { } id) return NotLocal();
                // A token never holds more than the credential that creates it.
                if (body.Role is { } wanted && Roles.Rank(Roles.Parse(wanted)) > Roles.Rank(http.User.Role()))
                    return Problems.Invalid("Invalid token", $"role: a token cannot have a role above yours ({http.User.Role()})");
                var (issued, rejection) = await accounts.CreateTokenAsync(Actor.From(http), id, body.Name, body.Role ?? http.User.Role(), body.ExpiresAt, ct);
                return rejection is not null ? Problems.From(rejection) : Results.Created($"/api/auth/me/tokens/{issued!.TokenId}", issued);
            })
            .ForAuditor().WithName("CreateMyToken")
            .WithSummary("A personal access token for scripts and CI: a name, a role no higher than yours (default yours), an expiry (default 30 days, at most a year). " +
                         "The token is shown in this answer only; send it as 'Authorization: Bearer TOKEN'.")
            .Produces<TokenIssued>(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(404);

        group.MapDelete("tokens/{tokenId}", async (string tokenId, HttpContext http, UserAccounts accounts, CancellationToken ct) =>
            {
                if (LocalUser(http) is not { } id) return NotLocal();
                return await accounts.RevokeTokenAsync(Actor.From(http), id, tokenId, ct) is { } r ? Problems.From(r) : Results.NoContent();
            })
            .ForAuditor().WithName("RevokeMyToken").WithSummary("Revoke one of your tokens: its next request is a 401.")
            .Produces(204).ProducesProblem(400).ProducesProblem(404);
    }

    /// <summary>The local user's id; an OIDC user's password and tokens belong to their identity provider.</summary>
    private static string? LocalUser(HttpContext http) => http.User.UserId() is { } id && id.StartsWith("user:", StringComparison.Ordinal) ? id : null;

    private static IResult NotLocal() => Problems.Invalid("Not a local user", "Your password and tokens are managed by your identity provider (single sign-on).");
}
