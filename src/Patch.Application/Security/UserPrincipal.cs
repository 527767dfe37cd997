using System.Globalization;
using System.Security.Claims;
using Patch.Domain.Users;

namespace Patch.Application.Security;

/// <summary>The claims every signed-in user carries, however they came in (cookie session, personal access token, OIDC).</summary>
public static class UserPrincipal
{
    public static ClaimsPrincipal Create(string scheme, string userId, string userName, string? role, string method, IEnumerable<Claim>? extra = null)
    {
        var claims = new List<Claim>
        {
            new(PatchAuth.Claims.Kind, "user"),
            new(PatchAuth.Claims.UserId, userId),
            new(PatchAuth.Claims.UserName, userName),
            new(PatchAuth.Claims.Method, method),
        };
        if (role is not null) claims.Add(new Claim(PatchAuth.Claims.Role, role));
        if (extra is not null) claims.AddRange(extra);
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, PatchAuth.Claims.UserName, PatchAuth.Claims.Role));
    }

    /// <summary>A cookie session's principal: the user as of sign-in, with the credential version it was issued under.</summary>
    public static ClaimsPrincipal ForSession(User user, DateTimeOffset issuedAt) => Create(PatchAuth.CookieScheme, user.Id, user.UserName, user.Role, "password",
    [
        new Claim(PatchAuth.Claims.CredentialVersion, user.CredentialVersion.ToString(CultureInfo.InvariantCulture)),
        new Claim(PatchAuth.Claims.IssuedAt, issuedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)),
        .. user.MustChangePassword ? [new Claim(PatchAuth.Claims.MustChangePassword, "true")] : Array.Empty<Claim>(),
    ]);

    public static string? UserId(this ClaimsPrincipal principal) => principal.FindFirstValue(PatchAuth.Claims.UserId);

    public static string? UserName(this ClaimsPrincipal principal) => principal.FindFirstValue(PatchAuth.Claims.UserName);

    public static string? Role(this ClaimsPrincipal principal) => principal.FindFirstValue(PatchAuth.Claims.Role);

    public static bool IsUser(this ClaimsPrincipal principal) => principal.Identity?.IsAuthenticated == true && principal.FindFirstValue(PatchAuth.Claims.Kind) == "user";

    public static bool MustChangePassword(this ClaimsPrincipal principal) => principal.HasClaim(PatchAuth.Claims.MustChangePassword, "true");

    /// <summary>Whether the principal holds at least this role.</summary>
    public static bool HasRole(this ClaimsPrincipal principal, string role) => principal.IsUser() && Roles.Rank(principal.Role()) >= Roles.Rank(role);
}
