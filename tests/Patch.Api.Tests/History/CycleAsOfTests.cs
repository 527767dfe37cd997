using System.Net;
using Patch.Api.Tests.Cycle;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// The install cycle asked about the past: policies edited, targets changed, custom severities assigned, agents install
/// and restart — and every report, list and drill-down answers each earlier instant exactly as it answered live then.
/// </summary>
public class when_the_install_cycle_is_asked_about_the_past(AppFixture app) : CycleTestBase(app)
{
    [Fact]
    public async Task every_report_list_and_drill_down_answers_each_past_instant_as_it_did_live()
    {
        var policyId = await CreatePolicyAsync();
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "A only", include = new[] { new { computers = new[] { "CYC-A" } } } });
        var targetId = target.GetProperty("id").GetString()!;
        var (_, levels) = await SendAsync(HttpMethod.Post, "/api/custom-severities", new { name = "Patch now" });
        var levelId = levels[0].GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, "/api/bulletins/KB9200001/custom-severity", new { levelId })).Status);
        // Agents' clocks count 100 ns ticks, PostgreSQL microseconds: .1234567 is where cutting and rounding part.
        var t0 = new DateTimeOffset(DateTimeOffset.UtcNow.AddDays(-2).Date, TimeSpan.Zero).AddTicks(1_234_567);
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
            "/api/agent-configurations/agent-config:default", "/api/settings/core", "/api/settings/vendors/microsoft",
        ];
        var snapshots = new List<Snapshot> { await PastAnswers.TakeAsync(App, reports) };

        // B installs (the flaky update fails once) and restarts; the level is renamed; a window and the languages change.
        await b.CycleAsync();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/custom-severities/{levelId}", new { name = "Urgent" })).Status);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Nightly", targets = new[] { targetId }, schedule = new { timeZone = "UTC", start = "01:00:00", duration = "02:00:00", recurrence = new { kind = "Daily" } },
        })).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() })).Status);
        snapshots.Add(await PastAnswers.TakeAsync(App, reports));

        // The policy is disabled and reaches A's target only; B cycles again; the severity moves to another bulletin.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, $"/api/policies/{policyId}/disable")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/policies/{policyId}", new { targets = new[] { targetId } })).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/api/bulletins/KB9200001/custom-severity")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, "/api/bulletins/KB9200003/custom-severity", new { levelId })).Status);
        b.Clock.Now = t0.AddHours(5);
        await b.CycleAsync();
        snapshots.Add(await PastAnswers.TakeAsync(App, reports));

        Assert.NotEqual(snapshots[0].Answers["/api/reports/reboot-status?pendingOnly=false"], snapshots[1].Answers["/api/reports/reboot-status?pendingOnly=false"]);
        Assert.NotEqual(snapshots[1].Answers[$"/api/policies/{policyId}"], snapshots[2].Answers[$"/api/policies/{policyId}"]);
        Assert.NotEqual(snapshots[0].Answers["/api/reports/delivery-summary"], snapshots[1].Answers["/api/reports/delivery-summary"]);
        await PastAnswers.AssertSameAsync(App, snapshots, "");

        // Rebuilt from the event log, the delivery and reboot read models keep the same past.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/server-tasks/read-model-rebuild/run?model=delivery&wait=true")).Status);
        await PastAnswers.AssertSameAsync(App, snapshots, " after the delivery rebuild");

        // Every read model rebuilt from the events as a server task: the same rows and the same versions, row for row.
        await PastAnswers.RebuildAndCompareAsync(App);
        await PastAnswers.AssertSameAsync(App, snapshots, " after every read model was rebuilt");
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/server-tasks/read-model-rebuild/run?model=everything")).Status);
    }
}
