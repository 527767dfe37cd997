using System.Net;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

public class when_scripts_use_personal_access_tokens(AppFixture app) : SecurityTestBase(app)
{
    /// <summary>
    /// A user deleted and created again under the same name starts with no token: the deleted one's do not come back as
    /// the new one's (they authenticated again, with the new user's role, and could not be revoked). A user who must
    /// change their password may only do that, with a token as with a session.
    /// </summary>
    [Fact]
    public async Task a_deleted_users_tokens_stay_dead_when_the_name_is_used_again_and_a_password_to_change_holds_for_tokens()
    {
        await CreateUserAsync("rex", Roles.Operator);
        using var browser = Browser();
        await SignInAsync(browser, "rex");
        var (_, issued) = await Send(browser, HttpMethod.Post, "/api/auth/me/tokens", new { name = "ci" }, antiforgery: await AntiforgeryAsync(browser));
        var token = issued.GetProperty("token").GetString()!;
        using var script = App.AnonymousClient();
        Assert.Equal(HttpStatusCode.OK, (await Send(script, HttpMethod.Get, "/api/computers", bearer: token)).Status);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/users/rex", new { mustChangePassword = true })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(script, HttpMethod.Get, "/api/computers", bearer: token)).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: token)).Status);

        Assert.True((await SendAsync(HttpMethod.Delete, "/api/users/rex")).Status is HttpStatusCode.OK or HttpStatusCode.NoContent);
        await CreateUserAsync("rex", Roles.Administrator);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: token)).Status);
        Assert.Empty((await GetJsonAsync("/api/users/rex/tokens")).EnumerateArray());
    }

    [Fact]
    public async Task a_token_is_shown_once_works_until_revoked_or_expired_and_never_above_its_user()
    {
        await CreateUserAsync("sam", Roles.Operator);
        using var browser = Browser();
        await SignInAsync(browser, "sam");
        var antiforgery = await AntiforgeryAsync(browser);

        var (tooHigh, problem) = await Send(browser, HttpMethod.Post, "/api/auth/me/tokens", new { name = "ci", role = "administrator" }, antiforgery: antiforgery);
        Assert.Equal(HttpStatusCode.BadRequest, tooHigh);
        Assert.Contains("above", problem.GetProperty("detail").GetString());

        var (created, issued) = await Send(browser, HttpMethod.Post, "/api/auth/me/tokens", new { name = "ci" }, antiforgery: antiforgery);
        Assert.Equal(HttpStatusCode.Created, created);
        var token = issued.GetProperty("token").GetString()!;
        var tokenId = issued.GetProperty("tokenId").GetString()!;
        Assert.StartsWith("patch_pat_", token);
        Assert.Equal("operator", issued.GetProperty("role").GetString());
        // 30 days by default.
        Assert.InRange(issued.GetProperty("expiresAt").GetDateTimeOffset() - DateTimeOffset.UtcNow, TimeSpan.FromDays(29.9), TimeSpan.FromDays(30.1));

        using var script = App.AnonymousClient();
        var me = await Send(script, HttpMethod.Get, "/api/auth/me", bearer: token);
        Assert.Equal(("sam", "token", tokenId), (me.Body.GetProperty("userName").GetString(), me.Body.GetProperty("method").GetString(), me.Body.GetProperty("tokenId").GetString()));
        // A bearer credential needs no antiforgery token.
        Assert.Equal(HttpStatusCode.OK, (await Send(script, HttpMethod.Post, "/api/server-tasks/vulnerability-analysis/run?wait=true", bearer: token)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(script, HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US" }, excludedSoftwareReleases = Array.Empty<string>() }, bearer: token)).Status);

        // Listed without its secret, with its last use; the history never shows the hash.
        var listed = (await Send(browser, HttpMethod.Get, "/api/auth/me/tokens")).Body.EnumerateArray().Single();
        Assert.Equal(tokenId, listed.GetProperty("tokenId").GetString());
        Assert.NotEqual(JsonValueKind.Null, listed.GetProperty("lastUsedAt").ValueKind);
        Assert.DoesNotContain(token, listed.ToString());
        var created_ = (await HistoryAsync("user:sam")).Single(e => e.GetProperty("type").GetString() == "personal_access_token_created");
        Assert.Equal("redacted", created_.GetProperty("data").GetProperty("secretSha256").GetString());

        // Lowering the user's role lowers the token at once.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/users/sam", new { role = "auditor" })).Status);
        Assert.Equal("auditor", (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: token)).Body.GetProperty("role").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(script, HttpMethod.Post, "/api/server-tasks/vulnerability-analysis/run?wait=true", bearer: token)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/users/sam", new { role = "operator" })).Status);

        // Revoked: the next request is a 401.
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/users/sam/tokens/{tokenId}")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: token)).Status);

        // Expired.
        using var again = Browser();
        await SignInAsync(again, "sam");
        var (_, shortLived) = await Send(again, HttpMethod.Post, "/api/auth/me/tokens", new { name = "an hour", expiresAt = DateTimeOffset.UtcNow.AddHours(1) }, antiforgery: await AntiforgeryAsync(again));
        var hour = shortLived.GetProperty("token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: hour)).Status);
        App.Clock.Shift = TimeSpan.FromHours(2);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: hour)).Status);
        App.Clock.Shift = TimeSpan.Zero;

        // A disabled user's tokens stop; garbage is a 401 too.
        Assert.Equal(HttpStatusCode.OK, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: hour)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/users/sam/disable")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: hour)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: "patch_pat_guessed")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(script, HttpMethod.Get, "/api/auth/me", bearer: "not-a-token")).Status);
    }
}
