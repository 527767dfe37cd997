using System.Net;
using System.Text.Json;
using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Security;

/// <summary>Single sign-on: access tokens of a test identity provider whose keys the host reads from a JWKS file (no discovery request).</summary>
public class when_users_come_from_an_identity_provider(AppFixture app) : SecurityTestBase(app)
{
    private async Task<(HttpStatusCode Status, JsonElement Body)> MeAsync(string token) => await Send(App.AnonymousClient(), HttpMethod.Get, "/api/auth/me", bearer: token);

    [Fact]
    public async Task roles_come_from_flat_keycloak_style_or_group_claims()
    {
        var entra = await MeAsync(App.Oidc.Token("e-1", new Dictionary<string, object> { ["roles"] = new[] { "operator" }, ["preferred_username"] = "erin@example.org" }));
        Assert.Equal(HttpStatusCode.OK, entra.Status);
        Assert.Equal(("oidc:e-1", "erin@example.org", "operator", "oidc"), (entra.Body.GetProperty("userId").GetString(), entra.Body.GetProperty("userName").GetString(),
            entra.Body.GetProperty("role").GetString(), entra.Body.GetProperty("method").GetString()));

        var keycloak = await MeAsync(App.Oidc.Token("k-1", new Dictionary<string, object>
        {
            ["realm_access"] = new Dictionary<string, object> { ["roles"] = new[] { "offline_access", "administrator" } },
        }));
        Assert.Equal("administrator", keycloak.Body.GetProperty("role").GetString());

        var grouped = await MeAsync(App.Oidc.Token("g-1", new Dictionary<string, object> { ["groups"] = new[] { "/everyone", "/patch-admins" } }));
        Assert.Equal("administrator", grouped.Body.GetProperty("role").GetString());
        var both = await MeAsync(App.Oidc.Token("g-2", new Dictionary<string, object> { ["groups"] = new[] { "patch-operators" }, ["roles"] = new[] { "auditor" } }));
        Assert.Equal("operator", both.Body.GetProperty("role").GetString());

        // Signed in, but the provider gave no Patch role: every role route is a 403 that says so.
        var none = App.Oidc.Token("n-1", new Dictionary<string, object> { ["groups"] = new[] { "/everyone" } });
        Assert.Equal(HttpStatusCode.OK, (await MeAsync(none)).Status);
        var (forbidden, problem) = await Send(App.AnonymousClient(), HttpMethod.Get, "/api/bulletins", bearer: none);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.Contains("no Patch role", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task expired_foreign_or_forged_tokens_are_refused()
    {
        var roles = new Dictionary<string, object> { ["roles"] = new[] { "administrator" } };
        Assert.Equal(HttpStatusCode.OK, (await MeAsync(App.Oidc.Token("ok", roles))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await MeAsync(App.Oidc.Token("old", roles, lifetime: TimeSpan.FromMinutes(-5)))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await MeAsync(App.Oidc.Token("aud", roles, audience: "another-api"))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await MeAsync(App.Oidc.Token("iss", roles, issuer: "https://evil.example.test/realms/patch"))).Status);
        using var rsa = RSA.Create(2048);
        Assert.Equal(HttpStatusCode.Unauthorized, (await MeAsync(App.Oidc.Token("key", roles, key: new RsaSecurityKey(rsa) { KeyId = "test-key-1" }))).Status);
        // An OIDC token never opens the agent protocol.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(App.AnonymousClient(), HttpMethod.Get, "/agent/v1/me", bearer: App.Oidc.Token("ok", roles))).Status);
    }

    [Fact]
    public async Task the_actor_of_a_change_is_the_provider_s_user()
    {
        var token = App.Oidc.Token("7f3c", new Dictionary<string, object> { ["roles"] = new[] { "operator" }, ["preferred_username"] = "grace" });
        var (status, target) = await Send(App.AnonymousClient(), HttpMethod.Post, "/api/targets",
            new { name = "Laptops", include = new object[] { new { namePattern = "LT-*" } } }, bearer: token);
        Assert.Equal(HttpStatusCode.Created, status);
        var history = await HistoryAsync(target.GetProperty("id").GetString()!);
        Assert.All(history, e => Assert.Equal(("grace", "user", "oidc:7f3c"),
            (e.GetProperty("actor").GetString(), e.GetProperty("actorKind").GetString(), e.GetProperty("actorId").GetString())));
        // Their password and tokens belong to the provider.
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(App.AnonymousClient(), HttpMethod.Post, "/api/auth/me/tokens", new { name = "x" }, bearer: token)).Status);
    }
}
