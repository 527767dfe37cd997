using System.Net;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Audit;

/// <summary>The audit (C12): every event, filtered by actor, kind, time, stream, type and correlation id, with what changed.</summary>
public class when_an_auditor_reads_the_log(AppFixture app) : AppTest(app)
{
    /// <summary>Webhook subscriptions are administrators' (a Slack or Teams URL carries its secret): nor their events in the audit or a stream's history.</summary>
    [Fact]
    public async Task webhook_streams_are_read_by_administrators_only()
    {
        var (_, created) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "Chat", url = "https://hooks.example.com/services/T000/B000/SECRETPART", events = new[] { "task-failed" } });
        var id = created.GetProperty("webhook").GetProperty("id").GetString()!;
        Assert.Single((await GetJsonAsync($"/api/audit?stream={Uri.EscapeDataString(id)}")).GetProperty("items").EnumerateArray());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"/api/history/{id}")).Status);

        using var auditor = App.Client("audrey", Patch.Domain.Users.Roles.Auditor);
        var page = System.Text.Json.JsonDocument.Parse(await auditor.GetStringAsync("/api/audit?stream=webhook*&pageSize=1000", TestContext.Current.CancellationToken)).RootElement;
        Assert.Empty(page.GetProperty("items").EnumerateArray());
        var all = await auditor.GetStringAsync("/api/audit?pageSize=1000", TestContext.Current.CancellationToken);
        Assert.DoesNotContain("SECRETPART", all);
        Assert.Equal(HttpStatusCode.Forbidden, (await auditor.GetAsync($"/api/history/{id}", TestContext.Current.CancellationToken)).StatusCode);
        Assert.True((await SendAsync(HttpMethod.Delete, $"/api/webhooks/{id}")).Status is HttpStatusCode.OK or HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task settings_changes_show_who_changed_what_from_what_to_what()
    {
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US" }, excludedSoftwareReleases = new[] { "Windows 7 for 32-bit Systems" } })).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = new[] { "Windows 7 for 32-bit Systems" } })).Status);

        var page = await GetJsonAsync("/api/audit?type=CoreSettingsChanged");
        var rows = page.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        var latest = rows[0];
        Assert.True(latest.GetProperty("sequence").GetInt64() > rows[1].GetProperty("sequence").GetInt64(), "newest first");
        Assert.Equal("settings:core", latest.GetProperty("streamId").GetString());
        Assert.Equal("dana", latest.GetProperty("actor").GetString());
        Assert.Equal("user", latest.GetProperty("actorKind").GetString());
        var change = Assert.Single(latest.GetProperty("changes").EnumerateArray());
        Assert.Equal("managedCultures", change.GetProperty("field").GetString());
        Assert.Equal("[\"en-US\"]", change.GetProperty("before").GetString());
        Assert.Equal("[\"en-US\",\"de-DE\"]", change.GetProperty("after").GetString());
        Assert.Equal("/api/history/settings%3Acore", latest.GetProperty("history").GetString());
        // The first change sets both fields from nothing.
        Assert.Equal(2, rows[1].GetProperty("changes").GetArrayLength());

        var correlation = latest.GetProperty("correlationId").GetString();
        Assert.Equal(1, (await GetJsonAsync($"/api/audit?correlationId={correlation}")).GetProperty("total").GetInt64());
        Assert.Equal(2, (await GetJsonAsync("/api/audit?stream=settings:core&actor=dana")).GetProperty("total").GetInt64());
        Assert.Equal(2, (await GetJsonAsync("/api/audit?stream=settings:*&actorKind=user")).GetProperty("total").GetInt64());
        Assert.Equal(0, (await GetJsonAsync("/api/audit?actor=nobody")).GetProperty("total").GetInt64());
        Assert.Equal(0, (await GetJsonAsync($"/api/audit?from={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(1).ToString("O"))}")).GetProperty("total").GetInt64());
        Assert.Equal(2, (await GetJsonAsync($"/api/audit?type=core_settings_changed&to={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"))}")).GetProperty("total").GetInt64());

        using var client = App.Client();
        var csv = await client.GetStringAsync("/api/audit?type=CoreSettingsChanged&format=csv", TestContext.Current.CancellationToken);
        Assert.StartsWith("sequence,timestamp,streamId,version,type,actor,actorKind,correlationId,causationId,changed,data,history", csv, StringComparison.Ordinal);
        Assert.Contains("managedCultures: [\"\"en-US\"\"] → [\"\"en-US\"\",\"\"de-DE\"\"]", csv, StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_target_edit_shows_the_fields_it_changed_and_only_those()
    {
        var (status, created) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "Servers", include = new[] { new { operatingSystemContains = "Server" } } });
        Assert.True(status is HttpStatusCode.OK or HttpStatusCode.Created, created.ToString());
        var id = created.GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/targets/{id}", new { name = "All servers", include = new[] { new { operatingSystemContains = "Server" } } })).Status);

        var rows = (await GetJsonAsync("/api/audit?stream=target:*")).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        var edit = rows[0];
        Assert.Equal(id, edit.GetProperty("streamId").GetString());
        var change = Assert.Single(edit.GetProperty("changes").EnumerateArray());
        Assert.Equal("name", change.GetProperty("field").GetString());
        Assert.Equal("Servers", change.GetProperty("before").GetString());
        Assert.Equal("All servers", change.GetProperty("after").GetString());
        Assert.Equal("name: Servers → All servers", edit.GetProperty("changed").GetString());
    }

    /// <summary>The custom severity levels share one stream: a new level is shown as created, not as a rename of the level before it.</summary>
    [Fact]
    public async Task a_new_custom_severity_level_is_no_change_of_another()
    {
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/api/custom-severities", new { name = "Urgent" })).Status);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/api/custom-severities", new { name = "Later" })).Status);

        var created = (await GetJsonAsync("/api/audit?stream=settings:custom-severities")).GetProperty("items")[0];
        Assert.Equal("name: (none) → Later; levelId: (none) → " + created.GetProperty("data").GetProperty("levelId").GetString(),
            created.GetProperty("changed").GetString());
    }

    [Fact]
    public async Task stored_secret_hashes_never_show()
    {
        await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "audit", maxUses = 1 });
        var rows = (await GetJsonAsync("/api/audit?stream=enrolment-token:*")).GetProperty("items").EnumerateArray().ToList();
        Assert.NotEmpty(rows);
        Assert.Contains(rows, r => r.GetProperty("data").TryGetProperty("secretSha256", out var hash) && hash.GetString() == "redacted");
        Assert.All(rows, r => Assert.DoesNotContain(r.GetProperty("data").EnumerateObject(), p => p.Name.EndsWith("Sha256", StringComparison.OrdinalIgnoreCase) && p.Value.GetString() != "redacted"));
    }

    [Theory]
    [InlineData("/api/audit?from=yesterday", "from: 'yesterday'")]
    [InlineData("/api/audit?from=2026-10-02T00:00:00Z&to=2026-10-01T00:00:00Z", "is after to")]
    [InlineData("/api/audit?sort=actor", "sort: 'actor'")]
    [InlineData("/api/audit?asOf=2026-10-01T00:00:00Z", "'asOf': not a parameter")]
    public async Task a_bad_filter_is_refused_naming_it(string url, string expected)
    {
        var problem = await GetJsonAsync(url, 400);
        Assert.Contains(expected, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
