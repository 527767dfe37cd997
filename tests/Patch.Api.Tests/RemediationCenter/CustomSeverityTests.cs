using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.RemediationCenter;

public class when_administering_custom_severity_levels(AppFixture app) : AppTest(app)
{
    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
    }

    private static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Read(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {response.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task levels_are_created_renamed_reordered_assigned_and_deleted_with_their_rules()
    {
        using var client = App.Client("alice");
        await Read(await client.PostAsync("/api/custom-severities", Json(new { name = "Patch now" })), HttpStatusCode.Created);
        var levels = await Read(await client.PostAsync("/api/custom-severities", Json(new { name = "Next cycle" })), HttpStatusCode.Created);
        var now = levels[0].GetProperty("id").GetString()!;
        var next = levels[1].GetProperty("id").GetString()!;

        var duplicate = await Read(await client.PostAsync("/api/custom-severities", Json(new { name = "patch NOW" })), HttpStatusCode.Conflict);
        Assert.Contains("already exists", duplicate.GetProperty("detail").GetString());
        await Read(await client.PostAsync("/api/custom-severities", Json(new { name = new string('x', 65) })), HttpStatusCode.BadRequest);
        await Read(await client.PostAsync("/api/custom-severities", Json(new { })), HttpStatusCode.BadRequest);

        levels = await Read(await client.PutAsync($"/api/custom-severities/{next}", Json(new { name = "This month" })), HttpStatusCode.OK);
        Assert.Equal("This month", levels[1].GetProperty("name").GetString());
        await Read(await client.PutAsync("/api/custom-severities/order", Json(new { levelIds = new[] { next } })), HttpStatusCode.BadRequest);
        levels = await Read(await client.PutAsync("/api/custom-severities/order", Json(new { levelIds = new[] { next, now } })), HttpStatusCode.OK);
        Assert.Equal(["This month", "Patch now"], levels.EnumerateArray().Select(l => l.GetProperty("name").GetString()));

        await Read(await client.PutAsync("/api/bulletins/KB5034763/custom-severity", Json(new { levelId = now })), HttpStatusCode.NoContent);
        await Read(await client.PostAsync("/api/bulletins/custom-severity", Json(new { bulletinIds = new[] { "KB5034122", "microsoft:KB5034123" }, levelId = next })), HttpStatusCode.NoContent);
        var missing = await Read(await client.PostAsync("/api/bulletins/custom-severity", Json(new { bulletinIds = new[] { "KB5034129", "KB9999999" }, levelId = next })), HttpStatusCode.NotFound);
        Assert.Contains("KB9999999", missing.GetProperty("detail").GetString());
        await Read(await client.PutAsync("/api/bulletins/KB5034129/custom-severity", Json(new { levelId = "nope" })), HttpStatusCode.BadRequest);

        var row = await GetJsonAsync("/api/bulletins?customSeverity=Patch%20now");
        Assert.Equal(1, row.GetProperty("total").GetInt32());
        Assert.Equal("Patch now", row.GetProperty("items")[0].GetProperty("customSeverity").GetString());
        Assert.Equal("Critical", row.GetProperty("items")[0].GetProperty("severity").GetString());
        Assert.Equal(2, (await GetJsonAsync($"/api/bulletins?customSeverity={next}")).GetProperty("total").GetInt32());
        Assert.Equal(0, (await GetJsonAsync("/api/bulletins?customSeverity=Patch%20now,This%20month&q=KB5034129")).GetProperty("total").GetInt32());
        var sorted = await GetJsonAsync("/api/bulletins?sort=customSeverity&pageSize=3");
        Assert.Equal("This month", sorted.GetProperty("items")[0].GetProperty("customSeverity").GetString());
        var groups = await GetJsonAsync("/api/bulletins?groupBy=customSeverity");
        Assert.Contains(groups.GetProperty("groups").EnumerateArray(), g => g.GetProperty("key").GetString() == "This month" && g.GetProperty("count").GetInt32() == 2);

        var refused = await Read(await client.DeleteAsync($"/api/custom-severities/{now}"), HttpStatusCode.Conflict);
        Assert.Contains("assigned to 1 bulletin", refused.GetProperty("detail").GetString());
        await Read(await client.DeleteAsync("/api/bulletins/KB5034763/custom-severity"), HttpStatusCode.NoContent);
        levels = await Read(await client.DeleteAsync($"/api/custom-severities/{now}"), HttpStatusCode.OK);
        Assert.Equal(["This month"], levels.EnumerateArray().Select(l => l.GetProperty("name").GetString()));
        Assert.Equal(2, levels[0].GetProperty("assignedBulletins").GetInt32());

        var history = await GetJsonAsync("/api/history/settings:custom-severities");
        Assert.Equal(["custom_severity_level_created", "custom_severity_level_created", "custom_severity_level_renamed", "custom_severity_levels_reordered", "custom_severity_level_deleted"],
            history.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        Assert.All(history.EnumerateArray(), e => Assert.Equal("alice", e.GetProperty("actor").GetString()));
    }

    [Fact]
    public async Task vendor_severity_cannot_be_edited()
    {
        using var client = App.Client();
        var put = await client.PutAsync("/api/bulletins/KB5034763", Json(new { severity = "Low" }));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
        Assert.Equal("Critical", (await GetJsonAsync("/api/bulletins/KB5034763")).GetProperty("severity").GetString());
    }

    [Fact]
    public async Task a_repeated_assignment_appends_nothing()
    {
        using var client = App.Client();
        var levels = await Read(await client.PostAsync("/api/custom-severities", Json(new { name = "High" })), HttpStatusCode.Created);
        var id = levels[0].GetProperty("id").GetString();
        await client.PutAsync("/api/bulletins/KB5034763/custom-severity", Json(new { levelId = id }));
        var before = await App.CatalogEventCountAsync();
        await Read(await client.PutAsync("/api/bulletins/KB5034763/custom-severity", Json(new { levelId = id })), HttpStatusCode.NoContent);
        Assert.Equal(before, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task a_body_that_is_not_json_is_a_400_problem()
    {
        using var client = App.Client();
        var response = await client.PostAsync("/api/custom-severities", new StringContent("{name:", Encoding.UTF8, "application/json"));
        var problem = await Read(response, HttpStatusCode.BadRequest);
        Assert.Equal("Bad request", problem.GetProperty("title").GetString());
    }
}

public class when_reading_history_and_settings(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task every_event_records_the_actor_its_kind_and_the_correlation_id()
    {
        using var client = App.Client("bob");
        client.DefaultRequestHeaders.Add("X-Correlation-Id", "change-42");
        var body = new ByteArrayContent(File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
        var response = await client.PostAsync("/api/catalog/imports?format=patch", body);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        var runId = result.GetProperty("runId").GetString();

        var history = await GetJsonAsync("/api/bulletins/KB5034763/history");
        Assert.Equal(4, history.GetArrayLength());
        Assert.All(history.EnumerateArray(), e =>
        {
            Assert.Equal("bob", e.GetProperty("actor").GetString());
            Assert.Equal("user", e.GetProperty("actorKind").GetString());
            Assert.Equal("change-42", e.GetProperty("correlationId").GetString());
            Assert.Equal(runId, e.GetProperty("causationId").GetString());
        });
        Assert.Equal("bulletin_imported", history[0].GetProperty("type").GetString());
        Assert.Equal("software_update_added", history[1].GetProperty("type").GetString());

        var run = await GetJsonAsync($"/api/server-tasks/runs/{runId}");
        Assert.Equal("catalog-import", run.GetProperty("task").GetString());
        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal(7, run.GetProperty("counts").GetProperty("bulletinsAdded").GetInt32());
        Assert.True(run.GetProperty("ended").GetDateTimeOffset() >= run.GetProperty("started").GetDateTimeOffset());
        var runHistory = await GetJsonAsync($"/api/history/{runId}");
        Assert.Equal(["server_task_started", "server_task_completed"], runHistory.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        await GetJsonAsync("/api/history/microsoft:KB0000000", 404);
        await GetJsonAsync("/api/server-tasks/runs/task-run:nope", 404);
    }

    [Fact]
    public async Task core_settings_are_validated_and_kept_as_events()
    {
        using var client = App.Client("carol");
        var settings = await GetJsonAsync("/api/settings/core");
        Assert.Equal(["en-US"], settings.GetProperty("managedCultures").EnumerateArray().Select(c => c.GetString()));

        var bad = await client.PutAsync("/api/settings/core", new StringContent("""{"managedCultures":["english"],"excludedSoftwareReleases":[]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("'english'", await bad.Content.ReadAsStringAsync());
        var missing = await client.PutAsync("/api/settings/core", new StringContent("""{"managedCultures":["en-US"]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);

        var ok = await client.PutAsync("/api/settings/core", new StringContent("""{"managedCultures":["en-US","fr-FR","en-us"],"excludedSoftwareReleases":["Windows 7 for x64-based Systems Service Pack 1"]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var history = await GetJsonAsync("/api/history/settings:core");
        Assert.Single(history.EnumerateArray());
        Assert.Equal("carol", history[0].GetProperty("actor").GetString());
        Assert.Equal(["en-US", "fr-FR"], (await GetJsonAsync("/api/settings/core")).GetProperty("managedCultures").EnumerateArray().Select(c => c.GetString()));
    }

    [Fact]
    public async Task server_task_runs_are_listed_newest_first_with_failures()
    {
        await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
        await App.ImportAsync("patch", Encoding.UTF8.GetBytes("{"), HttpStatusCodeExpectation.Any);
        var runs = await GetJsonAsync("/api/server-tasks/runs?task=catalog-import");
        Assert.Equal(2, runs.GetProperty("total").GetInt32());
        Assert.Equal("failed", runs.GetProperty("items")[0].GetProperty("status").GetString());
        Assert.Equal("completed", runs.GetProperty("items")[1].GetProperty("status").GetString());
        await GetJsonAsync("/api/server-tasks/runs?pageSize=0", 400);
    }
}
