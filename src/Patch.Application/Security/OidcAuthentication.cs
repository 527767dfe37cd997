using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;
using Patch.Domain.Users;

namespace Patch.Application.Security;

/// <summary>
/// Single sign-on with any OpenID Connect provider's access tokens (Keycloak, Entra ID, …): <c>Patch:Auth:Oidc</c>.
/// The role comes from <see cref="RoleClaim"/> (claim names, or dotted paths into a JSON claim such as Keycloak's
/// <c>realm_access.roles</c>, separated by commas), mapped through <see cref="RoleMap"/> (group or role name → Patch
/// role); values that already are Patch role names count as themselves. The highest role wins.
/// </summary>
public sealed class OidcOptions
{
    /// <summary>The provider's issuer URL; its discovery document gives the signing keys unless <see cref="SigningKeysFile"/> is set.</summary>
    public string? Authority { get; set; }

    /// <summary>The issuer tokens must carry (default: the authority).</summary>
    public string? Issuer { get; set; }

    public string? Audience { get; set; }

    public string RoleClaim { get; set; } = "roles";

    public string NameClaim { get; set; } = "preferred_username";

    public Dictionary<string, string> RoleMap { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A JWKS file with the provider's signing keys: no discovery request at all (air-gapped sites, tests).</summary>
    public string? SigningKeysFile { get; set; }

    public bool RequireHttpsMetadata { get; set; } = true;

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(Issuer);

    /// <summary>Every configuration problem, as "Patch:Auth:Oidc:Key: problem".</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!Enabled) return problems;
        if (string.IsNullOrWhiteSpace(Audience)) problems.Add("Patch:Auth:Oidc:Audience: required when OIDC is configured");
        if (string.IsNullOrWhiteSpace(Authority) && string.IsNullOrWhiteSpace(SigningKeysFile))
            problems.Add("Patch:Auth:Oidc: give Authority (discovery) or SigningKeysFile (a JWKS file) for the signing keys");
        if (SigningKeysFile is { Length: > 0 } f && !File.Exists(f)) problems.Add($"Patch:Auth:Oidc:SigningKeysFile: '{f}' does not exist");
        foreach (var (group, role) in RoleMap)
            if (Roles.Parse(role) is null) problems.Add($"Patch:Auth:Oidc:RoleMap:{group}: '{role}' is not one of {string.Join(", ", Roles.All)}");
        return problems;
    }

    public void Configure(JwtBearerOptions o)
    {
        o.MapInboundClaims = false;
        o.Audience = Audience;
        var issuer = string.IsNullOrWhiteSpace(Issuer) ? Authority!.TrimEnd('/') : Issuer;
        o.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuers = [issuer, issuer.TrimEnd('/') + "/"],
            ValidAudience = Audience,
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            ClockSkew = TimeSpan.FromMinutes(1),
            NameClaimType = NameClaim,
        };
        if (SigningKeysFile is { Length: > 0 } file)
        {
            var keys = new JsonWebKeySet(File.ReadAllText(file));
            var configuration = new OpenIdConnectConfiguration { Issuer = issuer };
            foreach (var key in keys.GetSigningKeys()) configuration.SigningKeys.Add(key);
            o.Configuration = configuration;
        }
        else
        {
            o.Authority = Authority;
            o.RequireHttpsMetadata = RequireHttpsMetadata;
        }
        o.Events = new JwtBearerEvents { OnTokenValidated = context => { context.Principal = ToPatchPrincipal(context.Principal!); return Task.CompletedTask; } };
    }

    /// <summary>The provider's principal as a Patch user: id "oidc:{sub}", name from <see cref="NameClaim"/>, the mapped role (or none).</summary>
    public ClaimsPrincipal ToPatchPrincipal(ClaimsPrincipal provider)
    {
        var subject = provider.FindFirstValue("sub") ?? provider.FindFirstValue("oid") ?? "unknown";
        var name = provider.FindFirstValue(NameClaim) ?? provider.FindFirstValue("email") ?? subject;
        var role = RoleValues(provider).Select(MapRole).OfType<string>().MaxBy(Roles.Rank);
        return UserPrincipal.Create(PatchAuth.OidcScheme, $"oidc:{subject}", name, role, "oidc");
    }

    private string? MapRole(string value) => RoleMap.TryGetValue(value, out var mapped) ? Roles.Parse(mapped) : Roles.Parse(value);

    /// <summary>The values at each of <see cref="RoleClaim"/>'s paths: every claim of that name, or a path into a JSON claim.</summary>
    public IEnumerable<string> RoleValues(ClaimsPrincipal principal) =>
        RoleClaim.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).SelectMany(path => ValuesAt(principal, path));

    private static IEnumerable<string> ValuesAt(ClaimsPrincipal principal, string dotted)
    {
        var path = dotted.Split('.', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (path.Length == 0) yield break;
        foreach (var claim in principal.FindAll(path[0]))
        {
            if (path.Length == 1 && !LooksLikeJson(claim.Value)) { yield return claim.Value; continue; }
            JsonElement element;
            try { element = JsonDocument.Parse(claim.Value).RootElement; }
            catch (JsonException) { continue; }
            foreach (var value in Walk(element, path.AsSpan(1).ToArray())) yield return value;
        }
    }

    private static bool LooksLikeJson(string value) => value.StartsWith('{') || value.StartsWith('[');

    private static IEnumerable<string> Walk(JsonElement element, string[] path)
    {
        if (path.Length == 0)
        {
            if (element.ValueKind == JsonValueKind.String) yield return element.GetString()!;
            else if (element.ValueKind == JsonValueKind.Array)
                foreach (var item in element.EnumerateArray())
                    if (item.ValueKind == JsonValueKind.String) yield return item.GetString()!;
            yield break;
        }
        if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(path[0], out var next))
            foreach (var value in Walk(next, path[1..])) yield return value;
    }
}
