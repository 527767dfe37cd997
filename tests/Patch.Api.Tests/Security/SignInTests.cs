using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

public class when_users_sign_in(AppFixture app) : SecurityTestBase(app)
{
    [Fact]
    public async Task a_password_sign_in_opens_a_session_that_reads_and_a_change_needs_its_antiforgery_token()
    {
        await CreateUserAsync("olivia", Roles.Operator);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(browser, HttpMethod.Get, "/api/auth/me")).Status);

        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "OLIVIA"));
        var me = (await Send(browser, HttpMethod.Get, "/api/auth/me")).Body;
        Assert.Equal(("user:olivia", "olivia", "operator", "password"),
            (me.GetProperty("userId").GetString(), me.GetProperty("userName").GetString(), me.GetProperty("role").GetString(), me.GetProperty("method").GetString()));
        Assert.Equal(HttpStatusCode.OK, (await Send(browser, HttpMethod.Get, "/api/bulletins")).Status);

        // A change authenticated by the cookie without the page's token is refused (another site could make the browser send it).
        var window = new { name = "Nights", schedule = new { timeZone = "Europe/Berlin", start = "22:00:00", duration = "02:00:00", recurrence = new { kind = "Daily" } } };
        var (refused, problem) = await Send(browser, HttpMethod.Post, "/api/maintenance-windows", window);
        Assert.Equal(HttpStatusCode.BadRequest, refused);
        Assert.Equal("Antiforgery token missing or invalid", problem.GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(browser, HttpMethod.Post, "/api/maintenance-windows", window, antiforgery: "forged")).Status);
        var (created, body) = await Send(browser, HttpMethod.Post, "/api/maintenance-windows", window, antiforgery: await AntiforgeryAsync(browser));
        Assert.True(created == HttpStatusCode.Created, body.ToString());

        // The actor on the event is the signed-in user.
        var history = await HistoryAsync(body.GetProperty("id").GetString()!);
        Assert.All(history, e => Assert.Equal(("olivia", "user", "user:olivia"),
            (e.GetProperty("actor").GetString(), e.GetProperty("actorKind").GetString(), e.GetProperty("actorId").GetString())));

        var token = await AntiforgeryAsync(browser);
        Assert.Equal(HttpStatusCode.NoContent, (await Send(browser, HttpMethod.Post, "/api/auth/sign-out", antiforgery: token)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(browser, HttpMethod.Get, "/api/auth/me")).Status);
        Assert.Equal(["user_created", "user_signed_in", "user_signed_out"], Types(await HistoryAsync("user:olivia")));
    }

    [Fact]
    public async Task every_refusal_looks_the_same_and_repeated_failures_lock_the_account_for_a_while()
    {
        await CreateUserAsync("leo", Roles.Auditor);
        using var browser = Browser();
        // Both take at least the refusal floor: a known name's refusal records the failure, an unknown one's records nothing.
        var floor = App.Host.Services.GetRequiredService<Patch.Application.Security.SignInOptions>().RefusalFloor;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var unknown = await Send(browser, HttpMethod.Post, "/api/auth/sign-in", new { userName = "nobody", password = Password });
        var unknownTook = clock.Elapsed;
        clock.Restart();
        var wrong = await Send(browser, HttpMethod.Post, "/api/auth/sign-in", new { userName = "leo", password = "not the password at all" });
        var wrongTook = clock.Elapsed;
        Assert.True(floor >= TimeSpan.FromMilliseconds(100) && unknownTook >= floor && wrongTook >= floor, $"floor {floor}: unknown name {unknownTook}, wrong password {wrongTook}");
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Equal(unknown.Body.GetProperty("detail").GetString(), wrong.Body.GetProperty("detail").GetString());
        Assert.Equal(unknown.Body.GetProperty("title").GetString(), wrong.Body.GetProperty("title").GetString());

        for (var i = 2; i <= 5; i++) Assert.Equal(HttpStatusCode.Unauthorized, await SignInAsync(browser, "leo", "still the wrong password"));
        // Locked: the right password is refused, with the same answer.
        var locked = await Send(browser, HttpMethod.Post, "/api/auth/sign-in", new { userName = "leo", password = Password });
        Assert.Equal(HttpStatusCode.Unauthorized, locked.Status);
        Assert.Equal(wrong.Body.GetProperty("detail").GetString(), locked.Body.GetProperty("detail").GetString());
        var history = await HistoryAsync("user:leo");
        Assert.Contains("user_locked_out", Types(history));
        Assert.Equal(6, Types(history).Count(t => t == "user_sign_in_failed"));
        Assert.Equal("locked", history.Last().GetProperty("data").GetProperty("reason").GetString());
        Assert.NotEqual(JsonValueKind.Null, (await GetJsonAsync("/api/users/leo")).GetProperty("lockedUntil").ValueKind);

        // The lock lifts by itself after its time…
        App.Clock.Shift = TimeSpan.FromMinutes(16);
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "leo"));
        App.Clock.Shift = TimeSpan.Zero;

        // …or when an administrator enables the account.
        for (var i = 0; i < 5; i++) await SignInAsync(Browser(), "leo", "wrong password again!");
        Assert.Equal(HttpStatusCode.Unauthorized, await SignInAsync(Browser(), "leo"));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/users/leo/enable")).Status);
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(Browser(), "leo"));
    }

    [Fact]
    public async Task a_session_ends_when_the_user_is_disabled_changes_role_or_password_and_after_its_timeouts()
    {
        await CreateUserAsync("mia", Roles.Operator);
        using var first = Browser();
        await SignInAsync(first, "mia");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/users/mia", new { role = "auditor" })).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(first, HttpMethod.Get, "/api/auth/me")).Status);

        using var second = Browser();
        await SignInAsync(second, "mia");
        Assert.Equal("auditor", (await Send(second, HttpMethod.Get, "/api/auth/me")).Body.GetProperty("role").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/users/mia/disable")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(second, HttpMethod.Get, "/api/auth/me")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, await SignInAsync(Browser(), "mia"));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/users/mia/enable")).Status);

        // Idle: 31 minutes without a request.
        using var idle = Browser();
        await SignInAsync(idle, "mia");
        App.Clock.Shift = TimeSpan.FromMinutes(31);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(idle, HttpMethod.Get, "/api/auth/me")).Status);

        // Absolute: a session used every 20 minutes still ends 12 hours after its sign-in.
        using var busy = Browser();
        await SignInAsync(busy, "mia");
        var start = App.Clock.Shift;
        for (var t = TimeSpan.FromMinutes(20); t < TimeSpan.FromHours(12); t += TimeSpan.FromMinutes(20))
        {
            App.Clock.Shift = start + t;
            Assert.Equal(HttpStatusCode.OK, (await Send(busy, HttpMethod.Get, "/api/auth/me")).Status);
        }
        App.Clock.Shift = start + TimeSpan.FromHours(12) + TimeSpan.FromMinutes(1);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(busy, HttpMethod.Get, "/api/auth/me")).Status);
        App.Clock.Shift = TimeSpan.Zero;
    }

    [Fact]
    public async Task a_required_password_change_comes_first_and_the_user_changes_it_themselves()
    {
        await CreateUserAsync("noah", Roles.Operator, mustChangePassword: true);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "noah"));
        Assert.True((await Send(browser, HttpMethod.Get, "/api/auth/me")).Body.GetProperty("mustChangePassword").GetBoolean());
        var (forbidden, problem) = await Send(browser, HttpMethod.Get, "/api/bulletins");
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.Contains("new password", problem.GetProperty("detail").GetString());

        var token = await AntiforgeryAsync(browser);
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(browser, HttpMethod.Put, "/api/auth/me/password", new { currentPassword = "wrong one entirely", newPassword = "my own new passphrase" }, antiforgery: token)).Status);
        var (tooShort, shortProblem) = await Send(browser, HttpMethod.Put, "/api/auth/me/password", new { currentPassword = Password, newPassword = "short" }, antiforgery: token);
        Assert.Equal(HttpStatusCode.BadRequest, tooShort);
        Assert.Contains("at least 12 characters", shortProblem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await Send(browser, HttpMethod.Put, "/api/auth/me/password", new { currentPassword = Password, newPassword = "my own new passphrase" }, antiforgery: token)).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(browser, HttpMethod.Get, "/api/bulletins")).Status);
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(Browser(), "noah", "my own new passphrase"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SignInAsync(Browser(), "noah"));
        var changed = (await HistoryAsync("user:noah")).Single(e => e.GetProperty("type").GetString() == "password_changed");
        Assert.Equal("redacted", changed.GetProperty("data").GetProperty("passwordHash").GetString());
    }

    [Fact]
    public async Task users_are_managed_by_administrators_and_the_last_one_keeps_the_role()
    {
        var (status, problem) = await SendAsync(HttpMethod.Post, "/api/users", new { userName = "bad name", role = "root", password = "short" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("userName", problem.GetProperty("detail").GetString());
        Assert.Contains("role", problem.GetProperty("detail").GetString());
        Assert.Contains("12 characters", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/users", new { userName = "nul", role = "auditor", password = "twelve chars\u0000 and more" })).Status);

        await CreateUserAsync("ada", Roles.Administrator);
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(HttpMethod.Post, "/api/users", new { userName = "ADA", role = "auditor", password = Password })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(App.Client("aud", Roles.Auditor), HttpMethod.Post, "/api/users", new { userName = "eve", role = "administrator", password = Password })).Status);

        // "dana" (the test user of SendAsync) and "ada" are the administrators; dana may demote ada, then not herself.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/users/ada", new { role = "operator" })).Status);
        foreach (var u in (await GetJsonAsync("/api/users")).EnumerateArray().Where(u => u.GetProperty("role").GetString() == "administrator" && u.GetProperty("userName").GetString() != "dana"))
            await SendAsync(HttpMethod.Put, $"/api/users/{u.GetProperty("userName").GetString()}", new { role = "auditor" });
        var (last, lastProblem) = await SendAsync(HttpMethod.Put, "/api/users/dana", new { role = "operator" });
        Assert.Equal(HttpStatusCode.Conflict, last);
        Assert.Equal("Last administrator", lastProblem.GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(HttpMethod.Post, "/api/users/dana/disable")).Status);
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(HttpMethod.Delete, "/api/users/dana")).Status);

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/api/users/ada")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/api/users/ada")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, await SignInAsync(Browser(), "ada"));
        // The name can be used again; the history goes on.
        await CreateUserAsync("ada", Roles.Auditor, "another passphrase here");
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(Browser(), "ada", "another passphrase here"));
        Assert.Equal(["user_created", "user_changed", "user_deleted", "user_created", "user_signed_in"], Types(await HistoryAsync("user:ada")));
    }

    [Fact]
    public async Task no_header_names_the_user_the_credential_does()
    {
        using var client = App.Client("olga", Roles.Operator);
        client.DefaultRequestHeaders.Add("X-Patch-User", "mallory");
        var response = await client.PostAsync("/api/targets", new StringContent("""{"name":"Servers","include":[{"operatingSystemContains":"Server"}]}""", System.Text.Encoding.UTF8, "application/json"));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        var history = await HistoryAsync(body.GetProperty("id").GetString()!);
        Assert.All(history, e => Assert.Equal("olga", e.GetProperty("actor").GetString()));
    }
}
