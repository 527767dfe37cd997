using System.Globalization;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Patch.Domain.Users;

namespace Patch.Application.Security;

/// <summary>Console sessions (<c>Patch:Auth:Session</c>): ended after this long without a request, and this long after sign-in whatever happens.</summary>
public sealed class SessionOptions
{
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    public TimeSpan AbsoluteTimeout { get; set; } = TimeSpan.FromHours(12);

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (IdleTimeout < TimeSpan.FromMinutes(1) || IdleTimeout > TimeSpan.FromDays(1)) problems.Add("Patch:Auth:Session:IdleTimeout: from 00:01:00 to 1.00:00:00");
        if (AbsoluteTimeout < IdleTimeout || AbsoluteTimeout > TimeSpan.FromDays(30)) problems.Add("Patch:Auth:Session:AbsoluteTimeout: from the idle timeout to 30.00:00:00");
        return problems;
    }
}

/// <summary>
/// The console's cookie: HttpOnly, SameSite=Lax, Secure whenever the request came over HTTPS, encrypted with the
/// data-protection key ring kept in PostgreSQL (so every node reads it). Each request re-checks the user: a
/// disabled or deleted user, a new password or a changed role ends the session (the credential version moved).
/// API and agent paths answer 401/403 instead of redirecting to the sign-in page.
/// </summary>
public static class CookieSessions
{
    public const string SignInPath = "/sign-in";

    public static void Configure(CookieAuthenticationOptions o, SessionOptions session)
    {
        o.Cookie.Name = PatchAuth.CookieName;
        o.Cookie.HttpOnly = true;
        o.Cookie.SameSite = SameSiteMode.Lax;
        o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        o.ExpireTimeSpan = session.IdleTimeout;
        o.SlidingExpiration = true;
        o.LoginPath = SignInPath;
        o.LogoutPath = "/sign-out";
        o.AccessDeniedPath = "/access-denied";
        o.ReturnUrlParameter = "returnUrl";
        o.Events = new CookieAuthenticationEvents
        {
            OnValidatePrincipal = ValidateAsync,
            OnRedirectToLogin = context => Redirect(context, StatusCodes.Status401Unauthorized),
            OnRedirectToAccessDenied = context => Redirect(context, StatusCodes.Status403Forbidden),
        };
    }

    public static bool IsApiRequest(HttpRequest request) =>
        request.Path.StartsWithSegments("/api") || request.Path.StartsWithSegments("/agent") || request.Path.StartsWithSegments("/health")
        || request.Path.StartsWithSegments(Hierarchy.ReplicationProtocol.Prefix);

    private static Task Redirect(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        if (IsApiRequest(context.Request)) context.Response.StatusCode = status;
        else context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    private static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var services = context.HttpContext.RequestServices;
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var options = services.GetRequiredService<SessionOptions>();
        var principal = context.Principal!;
        var issued = long.TryParse(principal.FindFirst(PatchAuth.Claims.IssuedAt)?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : DateTimeOffset.MinValue;
        var user = principal.UserId() is { } id ? await services.GetRequiredService<IQuerySession>().LoadAsync<User>(id, context.HttpContext.RequestAborted) : null;
        var version = principal.FindFirst(PatchAuth.Claims.CredentialVersion)?.Value;
        if (now - issued > options.AbsoluteTimeout || user is not { CanSignIn: true }
            || version != user.CredentialVersion.ToString(CultureInfo.InvariantCulture))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(PatchAuth.CookieScheme);
        }
    }
}
