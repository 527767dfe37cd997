using Marten;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Domain.Users;

namespace Patch.Application.Security;

public sealed record SignInRequest(string? UserName, string? Password);

public sealed record Me(string UserId, string UserName, string DisplayName, string? Role, string Method, bool MustChangePassword, string? TokenId);

public sealed record AntiforgeryToken(string HeaderName, string Token);

/// <summary>Sign-in with a local user's password (a console session cookie), sign-out, and who the caller is (C14).</summary>
public static class SignInEndpoints
{
    public const string Refused = "The user name or password is wrong, or the account is disabled or locked for a while after repeated failures.";

    public static void MapSignIn(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/auth").WithTags("Sign-in");

        group.MapPost("sign-in", async (SignInRequest body, HttpContext http, SignIn signIn, CancellationToken ct) =>
            {
                var (user, status, problem) = await signIn.CheckAsync(body.UserName, body.Password, http, ct);
                if (problem is not null)
                    return Results.Problem(title: status == 400 ? "Invalid sign-in" : "Sign-in refused", detail: problem, statusCode: status);
                await http.SignInAsync(PatchAuth.CookieScheme, UserPrincipal.ForSession(user!, signIn.Now));
                return Results.Ok(new Me(user!.Id, user.UserName, user.DisplayName, user.Role, "password", user.MustChangePassword, null));
            })
            .Anonymous("signing in").RequireRateLimiting(SecurityServices.SignInRateLimit)
            .WithName("SignIn").WithSummary("Sign in with a local user's name and password: the answer sets the console's session cookie. " +
                "Every refusal is the same 401, whether the name exists or not; repeated failures lock the account for a while and attempts are limited per address (429).")
            .Produces<Me>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(429);

        group.MapPost("sign-out", async (HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                if (http.User.Identity?.AuthenticationType == PatchAuth.CookieScheme && http.User.UserId() is { } id)
                {
                    await using var session = store.OpenSession(Actor.From(http));
                    session.Events.Append(id, new UserSignedOut(id, time.GetUtcNow()));
                    await session.SaveChangesAsync(ct);
                    await http.SignOutAsync(PatchAuth.CookieScheme);
                }
                return Results.NoContent();
            })
            .ForSignedInUser()
            .WithName("SignOut").WithSummary("End the console session (its cookie is cleared). With a token it does nothing: revoke the token instead.")
            .Produces(204);

        group.MapGet("me", async (HttpContext http, IQuerySession session, CancellationToken ct) =>
            {
                var id = http.User.UserId()!;
                var user = id.StartsWith("user:", StringComparison.Ordinal) ? await session.LoadAsync<User>(id, ct) : null;
                return Results.Ok(new Me(id, http.User.UserName()!, user?.DisplayName ?? http.User.UserName()!, http.User.Role(),
                    http.User.FindFirst(PatchAuth.Claims.Method)?.Value ?? "unknown", http.User.MustChangePassword(), http.User.FindFirst(PatchAuth.Claims.TokenId)?.Value));
            })
            .ForSignedInUser()
            .WithName("GetMe").WithSummary("Who the caller is: user, role, how they signed in (password, token, oidc), and whether a new password is required.")
            .Produces<Me>();

        group.MapGet("antiforgery", (HttpContext http, IAntiforgery antiforgery) =>
                Results.Ok(new AntiforgeryToken(PatchAuth.AntiforgeryHeader, antiforgery.GetAndStoreTokens(http).RequestToken!)))
            .ForSignedInUser()
            .WithName("GetAntiforgeryToken").WithSummary($"The token a cookie session sends in the {PatchAuth.AntiforgeryHeader} header with every change (the console does this itself).")
            .Produces<AntiforgeryToken>();
    }
}

/// <summary>One sign-in attempt by name and password, recorded on the user's stream; also used by the console's sign-in form.</summary>
public sealed class SignIn(IDocumentStore store, TimeProvider time, SignInOptions options)
{
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>
    /// The signed-in user, or the status and problem to answer (400 for a malformed request, the same 401 for every
    /// refusal, never sooner than <see cref="SignInOptions.RefusalFloor"/> after the attempt began, whether the name exists or not).
    /// </summary>
    public async Task<(User? User, int Status, string? Problem)> CheckAsync(string? userName, string? password, HttpContext http, CancellationToken ct)
    {
        var began = time.GetTimestamp();
        var answer = await DecideAsync(userName, password, http, ct);
        // A timer may fire up to a tick (about a millisecond) early: waited again until the floor has truly passed.
        while (answer.Status == StatusCodes.Status401Unauthorized && options.RefusalFloor - time.GetElapsedTime(began) is { Ticks: > 0 } left)
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(left.TotalMilliseconds) + 1), time, ct);
        return answer;
    }

    private async Task<(User? User, int Status, string? Problem)> DecideAsync(string? userName, string? password, HttpContext http, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(userName) || string.IsNullOrEmpty(password)) return (null, 400, "userName and password are required.");
        if (userName.Length > 256 || password.Length > UserDecisions.MaxPasswordLength || userName.Any(char.IsControl) || password.Any(char.IsControl))
            return (null, 400, "userName or password is too long or holds control characters.");
        var remote = http.Connection.RemoteIpAddress?.ToString();
        if (UserDecisions.UserNameProblem(userName) is not null) return Refuse(password);
        var attempt = new Actor("anonymous", "anonymous", http.TraceIdentifier);
        await using var session = store.OpenSession(attempt);
        // The password is checked before the user's stream is locked: attempts on one name would otherwise wait for each
        // other's hash, and the time they took would tell that the name exists.
        if (await session.LoadAsync<User>(User.StreamId(userName), ct) is not { Deleted: false } seen) return Refuse(password);
        bool Open(User u, DateTimeOffset at) => u.CanSignIn && !(u.LockedUntil > at);
        var checkedOpen = Open(seen, time.GetUtcNow());
        var checkedMatches = checkedOpen ? Passwords.Verify(seen, password) : Passwords.VerifyDecoy(password);
        // Attempts on one user are serialized, so failures in a row are counted exactly.
        var stream = await session.Events.FetchForExclusiveWriting<User>(User.StreamId(userName), ct);
        if (stream.Aggregate is not { Deleted: false } user) return Refuse(null);
        var now = time.GetUtcNow();
        var open = Open(user, now);
        // Its password or its lock changed while the password was checked (rare): checked again, under the lock.
        var matches = open && (checkedOpen && user.PasswordHash == seen.PasswordHash ? checkedMatches : Passwords.Verify(user, password));
        var (accepted, outcome) = UserDecisions.SignIn(user, matches, options.Policy, remote, now);
        if (accepted)
        {
            session.LastModifiedBy = user.UserName;
            session.SetHeader("actorKind", "user");
            session.SetHeader("actorId", user.Id);
        }
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        return accepted ? ((await session.LoadAsync<User>(user.Id, ct))!, 200, null) : Refuse(null);
    }

    private static (User?, int, string?) Refuse(string? password)
    {
        if (password is not null) Passwords.VerifyDecoy(password);
        return (null, StatusCodes.Status401Unauthorized, SignInEndpoints.Refused);
    }
}
