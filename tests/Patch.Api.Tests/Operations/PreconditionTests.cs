using System.Net;
using System.Text;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Operations;

/// <summary>
/// HTTP preconditions are evaluated, never ignored. Custom targets, policies and agent configurations are tagged by
/// their version: a change sent with a tag that is no longer current is refused (412) — two administrators editing the
/// same target do not overwrite each other. Elsewhere no tag can match, so If-Match with tags is a 412 too, and
/// If-None-Match on a write is refused by name.
/// </summary>
public class when_a_request_carries_preconditions(AppFixture app) : AppTest(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, string? json, params (string Name, string Value)[] headers)
    {
        using var client = App.Client("dana");
        var request = new HttpRequestMessage(method, url);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        return await client.SendAsync(request, Ct);
    }

    private async Task<string?> NameAsync(string id) =>
        (await GetJsonAsync("/api/targets")).EnumerateArray().Single(t => t.GetProperty("id").GetString() == id).GetProperty("name").GetString();

    [Fact]
    public async Task a_change_sent_with_a_tag_no_longer_current_is_not_carried_out()
    {
        const string rules = """ ,"include":[{"operatingSystemContains":"Server"}]}""";
        var created = await SendAsync(HttpMethod.Post, "/api/targets", """{"name":"Servers" """ + rules);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("\"1\"", created.Headers.ETag?.ToString());
        var id = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("id").GetString()!;

        // Two administrators read version 1; the first one's change moves it to 2, the second one's is refused.
        var first = await SendAsync(HttpMethod.Put, $"/api/targets/{id}", """{"name":"Servers (Ann)" """ + rules, ("If-Match", "\"1\""));
        Assert.Equal((HttpStatusCode.OK, "\"2\""), (first.StatusCode, first.Headers.ETag?.ToString()));
        var second = await SendAsync(HttpMethod.Put, $"/api/targets/{id}", """{"name":"Servers (Bob)" """ + rules, ("If-Match", "\"1\""));
        Assert.Equal(HttpStatusCode.PreconditionFailed, second.StatusCode);
        Assert.Contains("its entity tag is now \\\"2\\\"", await second.Content.ReadAsStringAsync(Ct));
        Assert.Equal("Servers (Ann)", await NameAsync(id));
        // A weak tag never matches (strong comparison); "*" holds for a target that exists.
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Delete, $"/api/targets/{id}", null, ("If-Match", "W/\"2\""))).StatusCode);
        var any = await SendAsync(HttpMethod.Put, $"/api/targets/{id}", """{"name":"Servers (any)" """ + rules, ("If-Match", "*"));
        Assert.Equal((HttpStatusCode.OK, "\"3\""), (any.StatusCode, any.Headers.ETag?.ToString()));
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Delete, $"/api/targets/{id}", null, ("If-Match", "\"2\""))).StatusCode);
        // A value that is no entity tag is refused by name, not taken for no condition.
        var unquoted = await SendAsync(HttpMethod.Delete, $"/api/targets/{id}", null, ("If-Match", "3"));
        Assert.Equal(HttpStatusCode.BadRequest, unquoted.StatusCode);
        Assert.Contains("is not a list of entity tags", await unquoted.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/targets/{id}", null, ("If-Match", "\"3\""))).StatusCode);
    }

    [Fact]
    public async Task an_agent_configuration_is_tagged_by_its_version_from_the_default_on()
    {
        const string url = "/api/agent-configurations/agent-config:default";
        var read = await SendAsync(HttpMethod.Get, url, null);
        Assert.Equal("\"0\"", read.Headers.ETag?.ToString());
        const string settings = """
            {"settings":{"installSchedules":[{"timeZone":"UTC","start":"03:00:00","recurrence":{"kind":"Daily"}}],"reinstallationAttempts":2,"allowUserToInitiate":true,
              "reboot":{"allowReboot":true,"mode":"EndOfCycle"},"overrideMaintenanceWindows":false,
              "notifications":{"notifyUser":true,"showProgress":true,"pendingRestartWarningMinutes":15,"reminderMinutes":60,"allowDefer":true,"deferralChoicesMinutes":[15,60],"maxDeferrals":1},
              "pollIntervalMinutes":45}}
            """;
        var edited = await SendAsync(HttpMethod.Put, url, settings, ("If-Match", "\"0\""));
        Assert.Equal(HttpStatusCode.OK, edited.StatusCode);
        var tag = edited.Headers.ETag?.ToString();
        Assert.NotEqual("\"0\"", tag);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Put, url, settings, ("If-Match", "\"0\""))).StatusCode);
        Assert.Equal(tag, (await SendAsync(HttpMethod.Get, url, null)).Headers.ETag?.ToString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, url, settings, ("If-Match", tag!))).StatusCode);
        // As it stood in the past: no tag (no write can be made to the past).
        Assert.Null((await SendAsync(HttpMethod.Get, url + "?asOf=" + Uri.EscapeDataString(DateTimeOffset.UtcNow.ToString("O")), null)).Headers.ETag);
    }

    /// <summary>The other resources two administrators may edit at once: the settings, windows and webhooks — a stale tag refused, the current one taken.</summary>
    [Theory]
    [InlineData("/api/settings/core", null, """{"managedCultures":["en-US","fr-FR"],"excludedSoftwareReleases":[]}""", """{"managedCultures":["en-US","de-DE"],"excludedSoftwareReleases":[]}""")]
    [InlineData("/api/settings/vendors/microsoft", null, "package.deleteUnusedAfterDays=14", "package.deleteUnusedAfterDays=30")]
    [InlineData("/api/maintenance-windows", """{"name":"Nights","schedule":{"timeZone":"Europe/Berlin","start":"22:00:00","duration":"02:00:00","recurrence":{"kind":"Daily"}}}""",
        """{"name":"Nights (short)","schedule":{"timeZone":"Europe/Berlin","start":"22:00:00","duration":"01:00:00","recurrence":{"kind":"Daily"}}}""",
        """{"name":"Nights (long)","schedule":{"timeZone":"Europe/Berlin","start":"22:00:00","duration":"03:00:00","recurrence":{"kind":"Daily"}}}""")]
    [InlineData("/api/webhooks", """{"name":"Ops","url":"https://hooks.example.com/patch","events":["import-failed"]}""",
        """{"name":"Ops (imports)","url":"https://hooks.example.com/patch","events":["import-failed"]}""", """{"name":"Ops (all)","url":"https://hooks.example.com/patch","events":["task-failed"]}""")]
    public async Task settings_windows_and_webhooks_refuse_a_change_from_a_stale_read(string url, string? create, string first, string second)
    {
        if (create is not null)
        {
            var created = await SendAsync(HttpMethod.Post, url, create);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var body = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(Ct)).RootElement;
            url += "/" + Uri.EscapeDataString((body.TryGetProperty("webhook", out var webhook) ? webhook : body).GetProperty("id").GetString()!);
        }
        // The tag a reader holds: a GET's where there is one, else what the list's change answered.
        var got = url.Contains("maintenance-windows") ? null : await SendAsync(HttpMethod.Get, url, null);
        var read = got is null ? "\"1\"" : got.Headers.ETag?.ToString();
        Assert.NotNull(read);
        // Vendor settings are replaced whole: the values read, one of them changed ("name=value").
        if (!first.StartsWith('{'))
        {
            var values = System.Text.Json.Nodes.JsonNode.Parse(await got!.Content.ReadAsStringAsync(Ct))!;
            string With(string change)
            {
                var copy = values.DeepClone();
                var (path, value) = (change.Split('=')[0].Split('.'), int.Parse(change.Split('=')[1]));
                path[..^1].Aggregate(copy, (node, key) => node[key]!)[path[^1]] = value;
                return copy.ToJsonString();
            }
            (first, second) = (With(first), With(second));
        }
        var changed = await SendAsync(HttpMethod.Put, url, first, ("If-Match", read!));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.NotEqual(read, changed.Headers.ETag?.ToString());
        var stale = await SendAsync(HttpMethod.Put, url, second, ("If-Match", read!));
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, url, second, ("If-Match", changed.Headers.ETag!.ToString()))).StatusCode);
    }

    /// <summary>A read of a tagged resource evaluates its preconditions: 304 for the tag held, 412 for a stale If-Match; none on a read of the past.</summary>
    [Fact]
    public async Task a_read_answers_304_for_the_tag_held_and_a_change_to_a_missing_resource_is_a_404_whatever_its_tag()
    {
        const string url = "/api/settings/core";
        var tag = (await SendAsync(HttpMethod.Get, url, null)).Headers.ETag!.ToString();
        var notModified = await SendAsync(HttpMethod.Get, url, null, ("If-None-Match", tag));
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(tag, notModified.Headers.ETag?.ToString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, url, null, ("If-None-Match", "W/\"99\""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, url, null, ("If-Match", tag))).StatusCode);
        var stale = await SendAsync(HttpMethod.Get, url, null, ("If-Match", "\"99\""));
        Assert.Equal((HttpStatusCode.PreconditionFailed, tag), (stale.StatusCode, stale.Headers.ETag?.ToString()));
        var past = await SendAsync(HttpMethod.Get, url + "?asOf=" + Uri.EscapeDataString(DateTimeOffset.UtcNow.ToString("O")), null, ("If-None-Match", tag));
        Assert.Equal(HttpStatusCode.BadRequest, past.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, url, null, ("If-None-Match", "99"))).StatusCode);

        // A change that could not succeed anyway answers why (404), not that its precondition failed.
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Put, "/api/targets/target:nope", """{"name":"x","include":[{"namePattern":"X-*"}]}""", ("If-Match", "\"7\""))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Put, "/api/policies/policy:nope", """{"name":"x"}""", ("If-Match", "\"7\""))).StatusCode);
    }

    [Fact]
    public async Task where_no_tag_is_kept_if_match_cannot_hold_and_if_none_match_on_a_write_is_refused()
    {
        const string schedule = """{"cron":"0 3 * * *","timeZone":"UTC","enabled":true}""";
        var put = await SendAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", schedule, ("If-Match", "\"3\""));
        Assert.Equal(HttpStatusCode.PreconditionFailed, put.StatusCode);
        Assert.Contains("no tag can match", await put.Content.ReadAsStringAsync(Ct));
        Assert.Equal("0 1 * * *", (await GetJsonAsync("/api/server-tasks")).EnumerateArray()
            .Single(t => t.GetProperty("name").GetString() == "package-cleanup").GetProperty("cron").GetString());

        var createOnly = await SendAsync(HttpMethod.Post, "/api/targets", """{"name":"Create only","include":[{"namePattern":"X-*"}]}""", ("If-None-Match", "*"));
        Assert.Equal(HttpStatusCode.BadRequest, createOnly.StatusCode);
        Assert.Contains("If-None-Match", await createOnly.Content.ReadAsStringAsync(Ct));
        Assert.DoesNotContain((await GetJsonAsync("/api/targets")).EnumerateArray(), t => t.GetProperty("name").GetString() == "Create only");

        // A read with a tag never issued holds: the full answer.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/targets", null, ("If-None-Match", "\"old\""))).StatusCode);
    }
}
