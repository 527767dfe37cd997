using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// Compliance over time and time to remediate on two computers whose story is known: each needs one update; one
/// installs it, the other does not. The figures are computed here by hand from the instants the server recorded.
/// </summary>
public class when_asking_how_compliance_moved_and_how_fast_it_was_remediated(AppFixture app) : AppTest(app)
{
    private readonly Dictionary<string, string> _credentials = [];

    private async Task InventoryAsync(string token, string name, params string[] kbs)
    {
        using var client = App.Client();
        if (!_credentials.TryGetValue(name, out var credential))
        {
            var enrol = await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token, computerName = name, agentVersion = "0.1.0" }), Encoding.UTF8, "application/json"));
            credential = _credentials[name] = JsonDocument.Parse(await enrol.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString()!;
        }
        var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/inventory")
        {
            Content = new StringContent(JsonSerializer.Serialize(new
            {
                osCaption = "Microsoft Windows", osVersion = "10.0.22631.2861", architecture = "x64", servicePack = 0, isServer = false, cultures = new[] { "en-US" },
                softwareReleases = Array.Empty<string>(), installedKbs = kbs, agentVersion = "0.1.0",
            }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        Assert.True((await client.SendAsync(request)).IsSuccessStatusCode);
    }

    private async Task<DateTimeOffset[]> InventoryTimesAsync(string computer)
    {
        await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
            "select timestamp from patch.mt_events where stream_id = $1 and type = 'inventory_reported' order by seq_id");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = $"computer:{computer.ToLowerInvariant()}" });
        var times = new List<DateTimeOffset>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) times.Add(reader.GetFieldValue<DateTimeOffset>(0));
        return [.. times];
    }

    private static JsonElement Group(JsonElement rows, string group) => rows.EnumerateArray().Single(r => r.GetProperty("group").GetString() == group);

    [Fact]
    public async Task the_trend_and_the_time_to_remediate_are_the_figures_worked_out_by_hand()
    {
        await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
        // The analysis the import queued has run: racing the computers' own inventories, it could date their needs itself.
        for (var i = 0; i < 100; i++)
        {
            var runs = (await GetJsonAsync("/api/server-tasks/runs?task=vulnerability-analysis")).GetProperty("items");
            if (runs.GetArrayLength() > 0 && runs[0].GetProperty("status").GetString() != "running") break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "trend", maxUses = 5 });
        var token = issued.GetProperty("token").GetString()!;
        // Windows 11 23H2 at build 2861: exactly one applicable update, KB5034123, missing.
        await InventoryAsync(token, "D1");
        await InventoryAsync(token, "D2");
        await Task.Delay(300, TestContext.Current.CancellationToken);
        await InventoryAsync(token, "D1", "KB5034123");
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "D1 only", include = new[] { new { computers = new[] { "D1" } } } });
        var targetId = target.GetProperty("id").GetString()!;

        var today = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd");
        var yesterday = DateTimeOffset.UtcNow.AddDays(-1).ToString("yyyy-MM-dd");
        var trend = await GetJsonAsync($"/api/reports/compliance/trend?from={yesterday}&to={today}");
        var all = trend.EnumerateArray().Where(p => p.GetProperty("group").GetString() == "All").ToList();
        Assert.Equal([yesterday, today], all.Select(p => p.GetProperty("day").GetString()));
        // Yesterday nothing was known; today 2 needs, 1 met.
        Assert.Equal(0, all[0].GetProperty("applicable").GetInt64());
        Assert.Equal(JsonValueKind.Null, all[0].GetProperty("compliancePercent").ValueKind);
        Assert.Equal((2L, 1L, 50.0), (all[1].GetProperty("applicable").GetInt64(), all[1].GetProperty("compliant").GetInt64(), all[1].GetProperty("compliancePercent").GetDouble()));
        var targetTrend = await GetJsonAsync($"/api/reports/compliance/trend?from={today}&target={Uri.EscapeDataString(targetId)}");
        var d1Today = targetTrend.EnumerateArray().Single(p => p.GetProperty("group").GetString() == "All");
        Assert.Equal((1L, 1L, 100.0), (d1Today.GetProperty("applicable").GetInt64(), d1Today.GetProperty("compliant").GetInt64(), d1Today.GetProperty("compliancePercent").GetDouble()));

        // D1 needed it from its first inventory to its second; D2 still needs it (censored). By hand: at D1's time one of two
        // at risk is remediated — half the items: p50 is D1's time; 90% is never reached while D2 is open.
        var d1 = await InventoryTimesAsync("D1");
        var expected = (d1[1] - d1[0]).TotalDays;
        // D2 is open (censored) until now: ask once it has been open longer than D1's need lasted, so it is still at risk
        // at D1's remediation — the figures below then follow by hand whatever the machine's speed.
        var d2Needed = (await InventoryTimesAsync("D2"))[0];
        var d2OpenLongerAt = d2Needed + (d1[1] - d1[0]) + TimeSpan.FromMilliseconds(500);
        if (DateTimeOffset.Parse(await PastAnswers.NowAsync(App)) is var dbNow && dbNow < d2OpenLongerAt)
            await Task.Delay(d2OpenLongerAt - dbNow, TestContext.Current.CancellationToken);
        var ttr = Group(await GetJsonAsync("/api/reports/compliance/time-to-remediate"), "All");
        Assert.Equal((2, 1, 1), (ttr.GetProperty("items").GetInt32(), ttr.GetProperty("remediated").GetInt32(), ttr.GetProperty("open").GetInt32()));
        Assert.Equal(expected, ttr.GetProperty("p50Days").GetDouble(), 9);
        Assert.Equal(JsonValueKind.Null, ttr.GetProperty("p90Days").ValueKind);
        var d1Only = Group(await GetJsonAsync($"/api/reports/compliance/time-to-remediate?target={Uri.EscapeDataString(targetId)}"), "All");
        Assert.Equal((1, 1, 0), (d1Only.GetProperty("items").GetInt32(), d1Only.GetProperty("remediated").GetInt32(), d1Only.GetProperty("open").GetInt32()));
        Assert.Equal(expected, d1Only.GetProperty("p99Days").GetDouble(), 9);
        // Needs that began before the range are not counted.
        Assert.Equal(0, Group(await GetJsonAsync($"/api/reports/compliance/time-to-remediate?from={yesterday}&to={yesterday}"), "All").GetProperty("items").GetInt32());

        using var client = App.Client();
        var csv = await client.GetStringAsync("/api/reports/compliance/time-to-remediate?format=csv");
        Assert.StartsWith("group,items,remediated,open,p50Days,p90Days,p99Days", csv);
        await GetJsonAsync($"/api/reports/compliance/trend?from={today}&to={yesterday}", 400);
        await GetJsonAsync($"/api/reports/compliance/trend?to={DateTimeOffset.UtcNow.AddDays(2):yyyy-MM-dd}", 400);
        await GetJsonAsync("/api/reports/compliance/trend?from=2020-01-01", 400);
        await GetJsonAsync("/api/reports/compliance/time-to-remediate?start=whenever", 400);
        await GetJsonAsync("/api/reports/compliance/trend?target=target:nope", 404);
    }
}
