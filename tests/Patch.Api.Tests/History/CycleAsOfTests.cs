using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Cycle;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// The install cycle asked about the past: policies edited, targets changed, custom severities assigned, agents install
/// and restart — and every report, list and drill-down answers each earlier instant exactly as it answered live then.
/// </summary>
public class when_the_install_cycle_is_asked_about_the_past(AppFixture app) : CycleTestBase(app)
{
    private async Task<string> NowAsync()
    {
        await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("select now()");
        return new DateTimeOffset(DateTime.SpecifyKind((DateTime)(await cmd.ExecuteScalarAsync())!, DateTimeKind.Utc)).ToString("O");
    }

    private async Task<string> RawAsync(string url)
    {
        using var client = App.Client();
        var response = await client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url}: {(int)response.StatusCode} {text}");
        // The home page's delivery window is counted back from the moment asked: now live, the instant asOf.
        if (url.StartsWith("/api/home", StringComparison.Ordinal))
        {
            var home = JsonNode.Parse(text)!;
            home["delivery"]!.AsObject().Remove("from");
            home["delivery"]!.AsObject().Remove("to");
            return home.ToJsonString();
        }
        return text;
    }

    private static string WithAsOf(string url, string at) => url + (url.Contains('?') ? '&' : '?') + "asOf=" + Uri.EscapeDataString(at);

    private async Task<(string At, Dictionary<string, string> Answers)> SnapshotAsync(IEnumerable<string> reports)
    {
        var answers = new Dictionary<string, string>();
        foreach (var url in reports) answers[url] = await RawAsync(url);
        await Task.Delay(20, TestContext.Current.CancellationToken);
        var at = await NowAsync();
        await Task.Delay(20, TestContext.Current.CancellationToken);
        return (at, answers);
    }

    [Fact]
    public async Task every_report_list_and_drill_down_answers_each_past_instant_as_it_did_live()
    {
        var policyId = await CreatePolicyAsync();
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "A only", include = new[] { new { computers = new[] { "CYC-A" } } } });
        var targetId = target.GetProperty("id").GetString()!;
        var (_, levels) = await SendAsync(HttpMethod.Post, "/api/custom-severities", new { name = "Patch now" });
        var levelId = levels[0].GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, "/api/bulletins/KB9200001/custom-severity", new { levelId })).Status);
        var t0 = new DateTimeOffset(DateTimeOffset.UtcNow.AddDays(-2).Date, TimeSpan.Zero);
        var token = await TokenAsync();
        var a = Agent("CYC-A", new ManualClock(t0));
        var b = Agent("CYC-B", new ManualClock(t0));
        await a.EnrolAsync(token, Inventory("KB5034122"));
        await b.EnrolAsync(token, Inventory(), new() { ["u-flaky"] = new Patch.Agent.Cycle.SimulatedInstall(FailTimes: 1) });

        string[] reports =
        [
            "/api/bulletins", "/api/bulletins?groupBy=customSeverity&sort=bulletin", "/api/bulletins/KB9200002", "/api/bulletins/KB9200001",
            "/api/reports/compliance/bulletins", "/api/reports/compliance/computers", "/api/reports/compliance/updates",
            "/api/reports/compliance/computers/CYC-B/updates", "/api/reports/compliance/bulletins/KB9200003/computers",
            "/api/reports/vulnerabilities", "/api/reports/vulnerabilities/families", "/api/reports/vulnerabilities/products",
            "/api/reports/computers-not-reporting", "/api/reports/agent-versions", "/api/home",
            "/api/reports/delivery-summary", $"/api/reports/delivery-summary?policy={policyId}", $"/api/reports/delivery-summary?policy={policyId}&update=u-flaky",
            "/api/reports/reboot-status?pendingOnly=false", "/api/reports/reboot-status",
            "/api/policies", $"/api/policies/{policyId}", $"/api/policies/{policyId}/members",
            "/api/targets", $"/api/targets/{targetId}/members", "/api/targets/builtin:requiring-update:u-flaky/members",
            "/api/computers", "/api/computers/CYC-B/updates", "/api/computers/CYC-B/products", "/api/computers/CYC-B/deliveries",
            "/api/server-tasks/runs", "/api/catalog/imports", "/api/custom-severities", "/api/maintenance-windows", "/api/agent-configurations",
            "/api/agent-configurations/agent-config:default", "/api/settings/core", "/api/settings/vendors/ms",
        ];
        var snapshots = new List<(string At, Dictionary<string, string> Answers)> { await SnapshotAsync(reports) };

        // B installs (the flaky update fails once) and restarts; the level is renamed.
        await b.CycleAsync();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/custom-severities/{levelId}", new { name = "Urgent" })).Status);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Nightly", targets = new[] { targetId }, schedule = new { timeZone = "UTC", start = "01:00:00", duration = "02:00:00", recurrence = new { kind = "Daily" } },
        })).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() })).Status);
        snapshots.Add(await SnapshotAsync(reports));

        // The policy is disabled and reaches A's target only; A reports a new inventory; the severity moves to another bulletin.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, $"/api/policies/{policyId}/disable")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/policies/{policyId}", new { targets = new[] { targetId } })).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/api/bulletins/KB9200001/custom-severity")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, "/api/bulletins/KB9200003/custom-severity", new { levelId })).Status);
        b.Clock.Now = t0.AddHours(5);
        await b.CycleAsync();
        snapshots.Add(await SnapshotAsync(reports));

        Assert.NotEqual(snapshots[0].Answers["/api/reports/reboot-status?pendingOnly=false"], snapshots[1].Answers["/api/reports/reboot-status?pendingOnly=false"]);
        Assert.NotEqual(snapshots[1].Answers[$"/api/policies/{policyId}"], snapshots[2].Answers[$"/api/policies/{policyId}"]);
        Assert.NotEqual(snapshots[0].Answers["/api/reports/delivery-summary"], snapshots[1].Answers["/api/reports/delivery-summary"]);
        await AssertPastAsync(reports, snapshots, "");

        // Rebuilt from the event log, the delivery and reboot read models keep the same past.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/server-tasks/delivery-reports/rebuild")).Status);
        await AssertPastAsync(reports, snapshots, " after the delivery rebuild");

        // Every read model rebuilt from the events as a server task: the same rows and the same versions, row for row.
        var before = await DumpAsync();
        var (accepted, started) = await SendAsync(HttpMethod.Post, "/api/server-tasks/read-model-rebuild/run?model=all");
        Assert.Equal(HttpStatusCode.Accepted, accepted);
        var run = await WaitAsync(started.GetProperty("statusUrl").GetString()!);
        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.True(run.GetProperty("counts").GetProperty("events").GetInt32() > 0, run.ToString());
        var after = await DumpAsync();
        foreach (var table in before.Keys) Assert.True(before[table] == after[table], $"{table} after the rebuild:\nlive:    {before[table]}\nrebuilt: {after[table]}");
        await AssertPastAsync(reports, snapshots, " after every read model was rebuilt");
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/server-tasks/read-model-rebuild/run?model=everything")).Status);
    }

    private async Task<System.Text.Json.JsonElement> WaitAsync(string statusUrl)
    {
        for (var i = 0; i < 600; i++)
        {
            var (_, run) = await SendAsync(HttpMethod.Get, statusUrl);
            if (run.GetProperty("status").GetString() != "running") return run;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException(statusUrl);
    }

    /// <summary>Every row of the compliance, delivery and reboot read models and of their histories (delivery_latest's sequence number aside: a rebuild renumbers it).</summary>
    private async Task<Dictionary<string, string>> DumpAsync()
    {
        var tables = new[] { "compliance_state", "compliance_bulletin", "compliance_update", "compliance_computer", "compliance_computer_family", "compliance_vulnerability",
            "delivery_latest", "delivery_counts", "restart_state", "catalog_stamp" };
        var dump = new Dictionary<string, string>();
        foreach (var table in tables.Concat(tables.Where(t => t != "catalog_stamp").Select(t => t + "_history")))
        {
            await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
                $"select coalesce(jsonb_agg(r order by r::text), '[]')::text from (select to_jsonb(t) - 'seq' r from patch.{table} t) x");
            dump[table] = (string)(await cmd.ExecuteScalarAsync())!;
        }
        return dump;
    }

    private async Task AssertPastAsync(string[] reports, List<(string At, Dictionary<string, string> Answers)> snapshots, string when)
    {
        foreach (var (at, answers) in snapshots)
            foreach (var url in reports)
            {
                var past = await RawAsync(WithAsOf(url, at));
                Assert.True(answers[url] == past, $"{url} as of {at}{when}:\nlive: {answers[url]}\nasOf: {past}");
            }
    }
}
