using System.Net;
using System.Text.Json;
using Patch.Agent.Cycle;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Cycle;
using static Patch.Domain.Cycle.UpdateStatus;

namespace Patch.Api.Tests.Cycle;

public class when_three_simulated_agents_run_the_install_cycle(AppFixture app) : CycleTestBase(app)
{
    [Fact]
    public async Task every_status_sequence_the_compliance_reports_and_the_delivery_summary_come_out_exactly()
    {
        // Two reinstallation attempts after a failure: three tries in all. Restart at the end of the cycle (no warning first).
        var (edited, config) = await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new
        {
            settings = new
            {
                installSchedules = Array.Empty<object>(), reinstallationAttempts = 2, allowUserToInitiate = true,
                reboot = new { allowReboot = true, mode = "EndOfCycle" }, overrideMaintenanceWindows = false,
                notifications = new { notifyUser = true, customMessage = "Updates install in 10 minutes. Save your work.", showProgress = true, pendingRestartWarningMinutes = (int?)null,
                    reminderMinutes = 60, allowDefer = true, deferralChoicesMinutes = new[] { 15, 60 }, maxDeferrals = 2 },
                pollIntervalMinutes = 30,
            },
        });
        Assert.True(edited == HttpStatusCode.OK, config.ToString());

        // CYC-A is in a maintenance window that opens six hours after the agents' first cycle.
        var t0 = new DateTimeOffset(DateTimeOffset.UtcNow.AddDays(-2).Date, TimeSpan.Zero).AddHours(DateTimeOffset.UtcNow.Hour);
        var opens = t0.AddHours(6);
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "CYC-A only", include = new[] { new { computers = new[] { "CYC-A" } } } });
        var (windowStatus, window) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Nightly", targets = new[] { target.GetProperty("id").GetString() },
            schedule = new { timeZone = "UTC", start = opens.ToString("HH:mm:ss"), duration = "02:00:00", recurrence = new { kind = "Daily" } },
        });
        Assert.True(windowStatus == HttpStatusCode.Created, window.ToString());
        var policyId = await CreatePolicyAsync();

        var token = await TokenAsync();
        var a = Agent("CYC-A", new ManualClock(t0));
        var b = Agent("CYC-B", new ManualClock(t0));
        var c = Agent("CYC-C", new ManualClock(t0));
        await a.EnrolAsync(token, Inventory("KB5034122"));
        await b.EnrolAsync(token, Inventory(), new() { ["u-flaky"] = new SimulatedInstall(FailTimes: 2) });
        await c.EnrolAsync(token, Inventory(), new() { ["u-flaky"] = new SimulatedInstall(FailTimes: 5) });
        Assert.Equal(3, (await GetJsonAsync($"/api/policies/{policyId}/members")).GetProperty("count").GetInt32());

        // Cycle 1. A is outside its window: everything waits. B and C install; the flaky update fails once on each.
        var a1 = await a.CycleAsync();
        Assert.Equal(["u-noreboot", "u-flaky", "u-reboot"], a1.Waiting);
        Assert.Equal(opens, a1.WaitingUntil);
        Assert.Empty(a1.Installed);
        Assert.Empty(a.Simulation.Attempts);
        var b1 = await b.CycleAsync();
        Assert.Equal(["u-noreboot", "u-reboot"], b1.Installed);
        Assert.Equal(["u-flaky"], b1.Failed);
        // Chaining: no-restart updates first, the one that needs a restart last, then one restart.
        Assert.Equal(["u-noreboot", "u-flaky", "u-reboot"], b.Simulation.Attempts);
        Assert.Single(b.Simulation.Restarts);
        Assert.True(b1.Restarted);
        var c1 = await c.CycleAsync();
        Assert.Equal(["u-flaky"], c1.Failed);

        var summary1 = await GetJsonAsync($"/api/reports/delivery-summary");
        var row1 = Assert.Single(summary1.GetProperty("items").EnumerateArray());
        Assert.Equal((9, 4, 0, 5), Counts(row1));

        // Cycle 2, seven hours later: A's window is open, it installs all three in chain order with one restart.
        foreach (var agent in new[] { a, b, c }) agent.Clock.Now = t0.AddHours(7);
        var a2 = await a.CycleAsync();
        Assert.Equal(["u-noreboot", "u-flaky", "u-reboot"], a2.Installed);
        Assert.Equal(["u-noreboot", "u-flaky", "u-reboot"], a.Simulation.Attempts);
        Assert.Single(a.Simulation.Restarts);
        var b2 = await b.CycleAsync();
        Assert.Equal(["u-flaky"], b2.Failed);
        var c2 = await c.CycleAsync();
        Assert.Equal(["u-flaky"], c2.Failed);

        // Cycle 3: B's third try succeeds; C's third failure spends its attempts. Cycle 4: C does not try again.
        foreach (var agent in new[] { a, b, c }) agent.Clock.Now = t0.AddHours(8);
        Assert.Equal(["u-flaky"], (await b.CycleAsync()).Installed);
        Assert.Equal(["u-flaky"], (await c.CycleAsync()).Failed);
        c.Clock.Now = t0.AddHours(9);
        var c4 = await c.CycleAsync();
        Assert.Empty(c4.Failed);
        Assert.Equal(3, c.Simulation.Attempts.Count(x => x == "u-flaky"));
        Assert.Equal(FailedToInstall, c4.Updates.Single(u => u.UpdateId == "u-flaky").Status);
        Assert.Single(c.Simulation.Restarts);

        // Every status the server received, in order.
        Assert.Equal([InstallationScheduled, DownloadRequired, InstallationScheduled, Installed], await StatusesAsync("CYC-A", "u-reboot"));
        Assert.Equal([InstallationScheduled, DownloadRequired, InstallationScheduled, FailedRescheduled, FailedRescheduled, Installed], await StatusesAsync("CYC-B", "u-flaky"));
        Assert.Equal([InstallationScheduled, DownloadRequired, InstallationScheduled, FailedRescheduled, FailedRescheduled, FailedToInstall], await StatusesAsync("CYC-C", "u-flaky"));
        Assert.Equal([InstallationScheduled, DownloadRequired, InstallationScheduled, Installed], await StatusesAsync("CYC-C", "u-reboot"));
        Assert.Equal(["restartPending", "restarted"], await RestartKindsAsync("CYC-A"));
        Assert.Equal(["restartPending", "restarted"], await RestartKindsAsync("CYC-B"));

        // The agents sent their new inventories: compliance follows.
        Assert.Equal(0, (await GetJsonAsync("/api/computers/CYC-A/updates")).GetProperty("missing").GetInt32());
        Assert.Equal(0, (await GetJsonAsync("/api/computers/CYC-B/updates")).GetProperty("missing").GetInt32());
        var cState = await GetJsonAsync("/api/computers/CYC-C/updates?state=Missing");
        Assert.Equal(1, cState.GetProperty("missing").GetInt32());
        Assert.Equal("u-flaky", Assert.Single(cState.GetProperty("updates").EnumerateArray()).GetProperty("updateId").GetString());

        // Delivery summary: per policy, per update, per computer.
        var row = Assert.Single((await GetJsonAsync("/api/reports/delivery-summary")).GetProperty("items").EnumerateArray());
        Assert.Equal(policyId, row.GetProperty("policyId").GetString());
        Assert.Equal("January", row.GetProperty("policy").GetString());
        Assert.Equal((9, 8, 1, 0), Counts(row));
        var perUpdate = (await GetJsonAsync($"/api/reports/delivery-summary?policy={policyId}")).GetProperty("items").EnumerateArray().ToDictionary(r => r.GetProperty("updateId").GetString()!);
        Assert.Equal((3, 2, 1, 0), Counts(perUpdate["u-flaky"]));
        Assert.Equal((3, 3, 0, 0), Counts(perUpdate["u-reboot"]));
        var perComputer = (await GetJsonAsync($"/api/reports/delivery-summary?policy={policyId}&update=u-flaky")).GetProperty("items").EnumerateArray()
            .ToDictionary(r => r.GetProperty("computer").GetString()!, r => (r.GetProperty("status").GetString(), r.GetProperty("outcome").GetString()));
        Assert.Equal((Installed, "succeeded"), perComputer["CYC-B"]);
        Assert.Equal((FailedToInstall, "failed"), perComputer["CYC-C"]);
        // The same range as it stood after the first cycles (to = before cycle 2).
        var earlier = Assert.Single((await GetJsonAsync($"/api/reports/delivery-summary?to={Uri.EscapeDataString(t0.AddHours(1).ToString("O"))}")).GetProperty("items").EnumerateArray());
        Assert.Equal((9, 4, 0, 5), Counts(earlier));
        // From half-way through a day: the counters (up to now) and the history (an explicit end) agree.
        var from = Uri.EscapeDataString(t0.AddMinutes(30).ToString("O"));
        var fast = Counts(Assert.Single((await GetJsonAsync($"/api/reports/delivery-summary?from={from}")).GetProperty("items").EnumerateArray()));
        var history = Counts(Assert.Single((await GetJsonAsync($"/api/reports/delivery-summary?from={from}&to={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"))}")).GetProperty("items").EnumerateArray()));
        Assert.Equal(history, fast);
        // B's and C's first two updates were last reported at t0, before the range: A's three and the two flaky ones remain.
        Assert.Equal((5, 4, 1, 0), fast);
        var csv = await (await App.Client().GetAsync($"/api/reports/delivery-summary?policy={policyId}&format=csv")).Content.ReadAsStringAsync();
        Assert.StartsWith("policyId,updateId,bulletin,executed,succeeded,failed,notCompleted", csv);

        var home = await GetJsonAsync("/api/home");
        Assert.Equal(9, home.GetProperty("delivery").GetProperty("executed").GetInt32());
        Assert.Equal(1, home.GetProperty("delivery").GetProperty("failed").GetInt32());
        Assert.Equal(0, home.GetProperty("pendingRestarts").GetInt32());

        // The local "Software updates for this computer" table on C.
        var ledger = c.Ledger;
        Assert.Equal(FailedToInstall, ledger.Entries["u-flaky"].Status);
        Assert.Equal("Never", ledger.Entries["u-flaky"].LastAppliedText);
        Assert.Equal(t0, ledger.Entries["u-noreboot"].LastApplied);
        Assert.Empty(ledger.Outbox);

        // Rebuilt from the event log, the delivery tables give the same report.
        await Patch.Projections.Delivery.DeliveryTables.RebuildAsync(App.Host.Services.GetService(typeof(Npgsql.NpgsqlDataSource)) as Npgsql.NpgsqlDataSource ?? throw new InvalidOperationException(), CancellationToken.None);
        Assert.Equal((9, 8, 1, 0), Counts(Assert.Single((await GetJsonAsync("/api/reports/delivery-summary")).GetProperty("items").EnumerateArray())));

        // A policy that was delivered is retired, not deleted; agents stop receiving it.
        var (_, retired) = await SendAsync(HttpMethod.Delete, $"/api/policies/{policyId}");
        Assert.Equal("Retired", retired.GetProperty("status").GetString());
        c.Clock.Now = t0.AddHours(10);
        var c5 = await c.CycleAsync();
        Assert.Empty(c5.Failed);
        Assert.Equal(3, c.Simulation.Attempts.Count(x => x == "u-flaky"));
        Assert.Empty(c.Ledger.Assignments!.Policies);
    }

    private static (int, int, int, int) Counts(JsonElement row) =>
        (row.GetProperty("executed").GetInt32(), row.GetProperty("succeeded").GetInt32(), row.GetProperty("failed").GetInt32(), row.GetProperty("notCompleted").GetInt32());
}
