using System.Net;
using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

/// <summary>
/// The fifth black-box sweep (stop 54): state and references — a computer registered again by name, an event id reused,
/// empty target criteria, cultures and levels that are none, deletes said twice, probes, patch documents, the windows
/// page's tags. (A status for a deleted policy and wake for a disabled one are in Policies/PolicyTests, which stage updates.)
/// </summary>
public class when_a_fifth_probe_sends_what_no_client_should(AppFixture app) : SecurityTestBase(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("""{"name":"Empty pattern","include":[{"namePattern":""}]}""", "namePattern, operatingSystemContains, product: empty")]
    [InlineData("""{"name":"Empty list","include":[{"computers":[]}]}""", "computers: an empty list names no computer")]
    public async Task a_target_rule_with_an_empty_criterion_is_refused(string body, string detail)
    {
        var (status, said) = await RawAsync(HttpMethod.Post, "/api/targets", Utf8(body), "application/json");

        Assert.True(status == HttpStatusCode.BadRequest, said);
        Assert.Contains(detail, said);
    }

    [Fact]
    public async Task a_computer_registered_again_by_name_alone_keeps_what_it_had()
    {
        var (created, _) = await SendAsync(HttpMethod.Post, "/api/computers",
            new { name = "KEEP-001", domain = "corp.example", operatingSystem = "Windows 11 Enterprise", macAddress = "00:1A:2B:3C:4D:5E" });
        Assert.True(created is HttpStatusCode.OK or HttpStatusCode.Created, created.ToString());

        var (again, _) = await SendAsync(HttpMethod.Post, "/api/computers", new { name = "KEEP-001" });

        Assert.True(again is HttpStatusCode.OK or HttpStatusCode.Created, again.ToString());
        var computer = (await GetJsonAsync("/api/computers?q=KEEP-001")).GetProperty("items")[0];
        Assert.Equal("corp.example", computer.GetProperty("domain").GetString());
        Assert.Equal("Windows 11 Enterprise", computer.GetProperty("operatingSystem").GetString());
    }

    [Fact]
    public async Task an_event_id_received_before_as_another_event_is_refused_and_the_same_event_again_is_a_duplicate()
    {
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "reused-id", maxUses = 1 });
        var (_, enrolled) = await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = token.GetProperty("token").GetString(), computerName = "REUSED-ID-1", agentVersion = "0.1.0" });
        using var agent = App.AnonymousClient();
        var credential = enrolled.GetProperty("credential").GetString();
        var id = Guid.NewGuid();
        var at = DateTimeOffset.UtcNow.AddMinutes(-5);
        var first = new { id, occurredAt = at, kind = "restartPending", at = at.AddHours(1) };
        Assert.Equal(HttpStatusCode.OK, (await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new[] { first } }, credential)).Status);

        var (same, sameAnswer) = await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new[] { first } }, credential);
        var other = new { id, occurredAt = at.AddMinutes(1), kind = "restarted" };
        var fresh = new { id = Guid.NewGuid(), occurredAt = at.AddMinutes(2), kind = "restarted" };
        var (reused, reusedAnswer) = await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new object[] { fresh, other } }, credential);

        Assert.Equal(HttpStatusCode.OK, same);
        Assert.Equal(1, sameAnswer.GetProperty("duplicates").GetInt32());
        Assert.True(reused == HttpStatusCode.Conflict, reusedAnswer.ToString());
        Assert.Contains($"events[1].id: {id} was received before as another event", reusedAnswer.GetProperty("detail").GetString());
        // Refused whole: the batch's new event was not kept either (the agent sends it again, without the reused id).
        var (again, againAnswer) = await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new[] { fresh } }, credential);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(1, againAnswer.GetProperty("new").GetInt32());
    }

    [Theory]
    [InlineData("U1\u0085")]
    [InlineData("u7\u2003")]
    public async Task a_user_name_with_a_character_around_it_that_is_no_space_is_refused_not_trimmed(string name)
    {
        var (status, said) = await RawAsync(HttpMethod.Post, "/api/users",
            Utf8($$"""{"userName":"{{name}}","displayName":"U","role":"operator","password":"{{Password}}","mustChangePassword":false}"""), "application/json");

        Assert.True(status == HttpStatusCode.BadRequest, said);
        Assert.Contains("may only hold ASCII letters", said);
    }

    [Theory]
    [InlineData("xx-NOPE")]
    [InlineData("qq")]
    public async Task a_managed_culture_this_server_does_not_know_is_refused(string culture)
    {
        var (status, said) = await RawAsync(HttpMethod.Put, "/api/settings/core",
            Utf8($$"""{"managedCultures":["en-US","{{culture}}"],"excludedSoftwareReleases":[]}"""), "application/json");

        Assert.True(status == HttpStatusCode.BadRequest, said);
        Assert.Contains($"'{culture}'", said);
    }

    [Fact]
    public async Task a_value_with_a_default_is_optional_in_the_openapi_document_as_on_the_server()
    {
        var doc = JsonDocument.Parse(await File.ReadAllTextAsync(SharedData.RepoFile("docs/openapi.json"), Ct)).RootElement;
        var schemas = doc.GetProperty("components").GetProperty("schemas");

        var recurrence = schemas.GetProperty("Recurrence").GetProperty("required").EnumerateArray().Select(r => r.GetString()).ToList();
        var options = schemas.GetProperty("PackageOptions").GetProperty("required").EnumerateArray().Select(r => r.GetString()).ToList();

        Assert.Contains("kind", recurrence);
        Assert.DoesNotContain("offsetDays", recurrence);
        Assert.Contains("multicast", options);
        Assert.DoesNotContain("distributeNewUpdates", options);
    }

    [Theory]
    [InlineData("22:00:00.5", "03:00:00", "Daily", "has a fraction of a second")]
    [InlineData("22:00:00", "1.01:00:00", "Daily", "a daily window lasts at most 24 hours")]
    public async Task a_window_that_starts_within_a_second_or_overlaps_itself_is_refused(string start, string duration, string kind, string detail)
    {
        var (status, said) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Probe window", targets = new[] { "builtin:all-with-agent" },
            schedule = new { timeZone = "Europe/Berlin", start, duration, recurrence = new { kind } },
        });

        Assert.True(status == HttpStatusCode.BadRequest, said.ToString());
        Assert.Contains(detail, said.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task a_sign_in_form_without_its_antiforgery_token_shows_the_form_again_and_says_why()
    {
        using var browser = Browser();
        using (await browser.GetAsync("/sign-in", Ct)) { }
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "sign-in", ["Input.UserName"] = "dana", ["Input.Password"] = Password,
        });

        using var response = await browser.PostAsync("/sign-in", form, Ct);
        var html = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("This sign-in form has expired or came from another page", html);
        Assert.Contains("name=\"Input.UserName\"", html);
        Assert.DoesNotContain(response.Headers, h => h.Key == "Set-Cookie" && h.Value.Any(v => v.StartsWith("patch.session")));
    }

    [Fact]
    public async Task a_window_deleted_twice_is_said_to_be_deleted_as_a_change_to_it_is()
    {
        var (created, window) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Deleted twice", targets = new[] { "builtin:all-with-agent" },
            schedule = new { timeZone = "UTC", start = "02:00:00", duration = "02:00:00", recurrence = new { kind = "Daily" } },
        });
        Assert.True(created == HttpStatusCode.Created, window.ToString());
        var id = window.GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/maintenance-windows/{id}")).Status);

        var (again, said) = await SendAsync(HttpMethod.Delete, $"/api/maintenance-windows/{id}");

        Assert.Equal(HttpStatusCode.NotFound, again);
        Assert.Equal("Maintenance window deleted", said.GetProperty("title").GetString());
    }

    [Theory]
    [InlineData("GET", "/health/live?x=1", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/health/ready", HttpStatusCode.MethodNotAllowed)]
    [InlineData("DELETE", "/health/live", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "/health/live", HttpStatusCode.OK)]
    [InlineData("HEAD", "/health/ready", HttpStatusCode.OK)]
    public async Task a_probe_is_read_with_get_and_takes_no_parameter(string method, string url, HttpStatusCode expected)
    {
        // Signed in, so that a method the probe does not take is answered 405 (anonymous, any such request is a 401 first).
        using var client = App.Client("dana");
        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), url), Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task the_windows_page_sends_each_windows_tag_with_its_change_and_its_delete()
    {
        var (_, window) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Tagged window", targets = new[] { "builtin:all-with-agent" },
            schedule = new { timeZone = "UTC", start = "03:00:00", duration = "01:00:00", recurrence = new { kind = "Daily" } },
        });
        var segment = Uri.EscapeDataString(window.GetProperty("id").GetString()!);
        await CreateUserAsync("wanda", Roles.Administrator);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "wanda"));

        var html = await browser.GetStringAsync("/maintenance-windows", Ct);

        Assert.Matches($"data-api=\"PUT /api/maintenance-windows/{System.Text.RegularExpressions.Regex.Escape(segment)}\"[^>]*data-if-match=\"&quot;1&quot;\"", html);
        Assert.Matches($"data-action=\"DELETE /api/maintenance-windows/{System.Text.RegularExpressions.Regex.Escape(segment)}\" data-if-match=\"&quot;1&quot;\"", html);
    }

    [Theory]
    [InlineData("application/merge-patch+json")]
    [InlineData("application/json-patch+json")]
    public async Task a_patch_document_is_refused_not_read_as_the_whole_resource(string type)
    {
        var (status, said) = await RawAsync(HttpMethod.Post, "/api/targets", Utf8("""{"name":"Patched","include":[{"namePattern":"x"}]}"""), type);

        Assert.True(status == HttpStatusCode.UnsupportedMediaType, said);
        Assert.Contains("asks for a partial change", said);
    }
}
