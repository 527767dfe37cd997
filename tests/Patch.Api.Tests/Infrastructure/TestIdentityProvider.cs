using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Patch.Api.Tests.Infrastructure;

/// <summary>An OpenID Connect provider for tests: an RSA signing key published as a JWKS file, and access tokens minted with it.</summary>
public sealed class TestIdentityProvider : IDisposable
{
    public string Issuer { get; } = "https://idp.example.test/realms/patch";

    public string Audience { get; } = "patch-api";

    public string JwksFile { get; } = Path.Combine(Path.GetTempPath(), $"patch-jwks-{Guid.NewGuid():N}.json");

    private readonly RSA _rsa = RSA.Create(2048);
    private readonly RsaSecurityKey _key;

    public TestIdentityProvider()
    {
        _key = new RsaSecurityKey(_rsa) { KeyId = "test-key-1" };
        var p = _rsa.ExportParameters(false);
        File.WriteAllText(JwksFile, JsonSerializer.Serialize(new
        {
            keys = new[] { new { kty = "RSA", use = "sig", alg = "RS256", kid = _key.KeyId, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) } },
        }));
    }

    /// <summary>An access token; <paramref name="claims"/> adds or overrides claims (a nested object for Keycloak's realm_access, arrays for roles and groups).</summary>
    public string Token(string subject, IDictionary<string, object>? claims = null, string? issuer = null, string? audience = null, TimeSpan? lifetime = null, RsaSecurityKey? key = null)
    {
        var now = DateTime.UtcNow;
        var expires = now + (lifetime ?? TimeSpan.FromMinutes(10));
        var all = new Dictionary<string, object> { ["sub"] = subject, ["preferred_username"] = subject };
        foreach (var (k, v) in claims ?? new Dictionary<string, object>()) all[k] = v;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience ?? Audience,
            IssuedAt = expires < now ? expires.AddMinutes(-10) : now,
            NotBefore = expires < now ? expires.AddMinutes(-10) : now,
            Expires = expires,
            Claims = all,
            SigningCredentials = new SigningCredentials(key ?? _key, SecurityAlgorithms.RsaSha256),
        });
    }

    public void Dispose()
    {
        _rsa.Dispose();
        if (File.Exists(JwksFile)) File.Delete(JwksFile);
    }
}
