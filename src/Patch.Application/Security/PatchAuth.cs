namespace Patch.Application.Security;

/// <summary>The names the sign-in machinery shares: authentication schemes, claim types, policies (docs/security.md).</summary>
public static class PatchAuth
{
    /// <summary>The default scheme: picks the agent, token, OIDC or cookie scheme from the request.</summary>
    public const string Scheme = "patch";
    public const string CookieScheme = "cookie";
    public const string TokenScheme = "token";
    public const string OidcScheme = "oidc";
    public const string AgentScheme = "agent";
    public const string ChildScheme = "child-server";

    /// <summary>Personal access tokens start with this, so a bearer credential says which kind it is.</summary>
    public const string TokenPrefix = "patch_pat_";

    public const string CookieName = "patch.session";
    public const string AntiforgeryCookieName = "patch.antiforgery";
    public const string AntiforgeryHeader = "X-Patch-Antiforgery";
    public const string AntiforgeryField = "__RequestVerificationToken";

    public static class Claims
    {
        /// <summary>"user" or "agent": the actor kind recorded on the events a request appends.</summary>
        public const string Kind = "patch:kind";
        public const string UserId = "patch:uid";
        public const string UserName = "patch:name";
        public const string Role = "patch:role";
        /// <summary>How the user came in: password (cookie session), token, oidc.</summary>
        public const string Method = "patch:method";
        public const string CredentialVersion = "patch:cv";
        public const string IssuedAt = "patch:iat";
        public const string MustChangePassword = "patch:mcp";
        public const string TokenId = "patch:tid";
        public const string ComputerId = "patch:computer";
        public const string ChildId = "patch:child";
    }

    public static class Policies
    {
        public const string Agent = "agent";
        public const string ChildServer = "child-server";
        public const string SignedIn = "signed-in";

        public static string ForRole(string role) => $"role:{role}";
    }
}
