using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Patch.Domain.Users;

namespace Patch.Application.Security;

/// <summary>
/// Refusals of the API and agent routes are ProblemDetails that say what is needed: 401 when no valid credential came
/// (what kind the route takes), 403 when the signed-in user's role is too low (which role it needs). Console pages
/// keep the cookie's behaviour (to the sign-in page).
/// </summary>
public sealed class AuthorizationProblems : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    /// <summary>The display name of the endpoint ASP.NET Core's routing selects for a path whose routes take other methods.</summary>
    private const string MethodNotAllowedEndpoint = "405 HTTP Method Not Supported";

    public async Task HandleAsync(RequestDelegate next, HttpContext http, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (!result.Succeeded && result.Forbidden && !CookieSessions.IsApiRequest(http.Request) && http.User.MustChangePassword())
        {
            // The console's way to the one thing such a user may do.
            http.Response.Redirect("/account");
            return;
        }
        if (result.Succeeded || !CookieSessions.IsApiRequest(http.Request))
        {
            await _default.HandleAsync(next, http, policy, result);
            return;
        }
        // A route asked with a method it does not take: routing's own endpoint answers 405 with the methods it takes. An agent
        // or a child server (a valid credential, not a user's) was told 403 by the users' fallback policy instead.
        if (result.Forbidden && http.GetEndpoint()?.DisplayName == MethodNotAllowedEndpoint)
        {
            await next(http);
            return;
        }
        var access = http.GetEndpoint()?.Access();
        if (result.Challenged)
        {
            foreach (var scheme in policy.AuthenticationSchemes.DefaultIfEmpty(PatchAuth.Scheme)) await http.ChallengeAsync(scheme);
            var detail = http.Request.Headers.Authorization.Count > 1
                ? "The request carries the Authorization header more than once: send one credential."
                : access?.Kind switch
                {
                    EndpointAccess.Agent => "Send 'Authorization: Bearer <agent credential>' as received at enrolment.",
                    EndpointAccess.ChildServer => "Send 'Authorization: Bearer <child server credential>' as received at registration with this parent.",
                    _ => "Sign in (POST /api/auth/sign-in) or send 'Authorization: Bearer <personal access token or OIDC access token>'.",
                };
            await Results.Problem(title: "Authentication required", detail: detail, statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(http);
            return;
        }
        var forbidden = http.User.MustChangePassword()
            ? "An administrator requires a new password: change it first (PUT /api/auth/me/password)."
            : access?.Role is { } role
                ? $"This needs the {role} role{(Roles.Rank(role) < Roles.Rank(Roles.Administrator) ? " or above" : "")}; you are signed in as {http.User.UserName()} with role {http.User.Role() ?? "none (your identity provider gave no Patch role)"}."
                : "Your credential does not allow this.";
        await Results.Problem(title: "Forbidden", detail: forbidden, statusCode: StatusCodes.Status403Forbidden).ExecuteAsync(http);
    }
}
