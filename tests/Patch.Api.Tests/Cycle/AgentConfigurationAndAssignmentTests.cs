using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Cycle;
using static Patch.Domain.Cycle.UpdateStatus;

namespace Patch.Api.Tests.Cycle;

public class when_configuring_agents_and_polling_assignments(AppFixture app) : CycleTestBase(app)
{
    private static object Settings(string mode = "EndOfCycle", bool allowUser = true, string? message = null, object? rebootSchedule = null, string? preInstall = null, int attempts = 2) => new
    {
        installSchedules = new[] { new { timeZone = "UTC", start = "03:00:00", recurrence = new { kind = "Daily" } } },
        reinstallationAttempts = attempts, allowUserToInitiate = allowUser,
        reboot = new { allowReboot = true, mode, schedule = rebootSchedule }, overrideMaintenanceWindows = false,
        notifications = new { notifyUser = true, customMessage = message, showProgress = true, pendingRestartWarningMinutes = 15, reminderMinutes = 60, allowDefer = true,
            deferralChoicesMinutes = new[] { 15, 60 }, maxDeferrals = 1 },
        pollIntervalMinutes = 30, preInstallCommand = preInstall,
    };

    [Fact]
    public async Task the_default_policy_cannot_be_retargeted_or_deleted_and_clones_win_by_priority()
    {
        var list = await GetJsonAsync("/api/agent-configurations");
        var only = Assert.Single(list.EnumerateArray());
        Assert.Equal("agent-config:default", only.GetProperty("id").GetString());
        Assert.Equal(3, only.GetProperty("settings").GetProperty("reinstallationAttempts").GetInt32());

        var (retarget, problem) = await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { targets = new[] { "builtin:all-with-agent" } });
        Assert.Equal(HttpStatusCode.BadRequest, retarget);
        Assert.Equal("The default policy cannot be retargeted", problem.GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(HttpMethod.Delete, "/api/agent-configurations/agent-config:default")).Status);

        var tooLong = new string('x', 129);
        var (invalid, invalidProblem) = await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { settings = Settings(message: tooLong) });
        Assert.Equal(HttpStatusCode.BadRequest, invalid);
        Assert.Contains("notifications.customMessage: 1 to 128 printable characters (this one has 129)", invalidProblem.GetProperty("detail").GetString());
        var (badSchedule, scheduleProblem) = await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { settings = Settings(mode: "Scheduled") });
        Assert.Equal(HttpStatusCode.BadRequest, badSchedule);
        Assert.Contains("reboot.schedule: required with mode Scheduled", scheduleProblem.GetProperty("detail").GetString());
        await GetJsonAsync("/api/history/agent-config:default", 404);

        var (ok, edited) = await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { settings = Settings(message: new string('m', 128)) });
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal(2, edited.GetProperty("settings").GetProperty("reinstallationAttempts").GetInt32());
        var history = (await GetJsonAsync("/api/history/agent-config:default")).EnumerateArray().ToList();
        Assert.Equal(["agent_configuration_created", "agent_configuration_edited"], history.Select(h => h.GetProperty("type").GetString()));
        Assert.Contains(history[1].GetProperty("data").GetProperty("changes").EnumerateArray(), c => c.GetProperty("field").GetString() == "notifications");

        var token = await TokenAsync();
        var a = Agent("CFG-A", new ManualClock(DateTimeOffset.UtcNow));
        var b = Agent("CFG-B", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(token, Inventory());
        await b.EnrolAsync(token, Inventory());
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "A", include = new[] { new { computers = new[] { "CFG-A" } } } });
        var (cloned, clone) = await SendAsync(HttpMethod.Post, "/api/agent-configurations/agent-config:default/clone",
            new { name = "Servers", targets = new[] { "builtin:all-with-agent" }, priority = 50, settings = Settings(attempts: 5) });
        Assert.Equal(HttpStatusCode.Created, cloned);
        var (_, narrow) = await SendAsync(HttpMethod.Post, "/api/agent-configurations/agent-config:default/clone",
            new { name = "Only A", targets = new[] { target.GetProperty("id").GetString() }, priority = 10, settings = Settings(attempts: 7) });
        var (noTargets, noTargetsProblem) = await SendAsync(HttpMethod.Post, "/api/agent-configurations/agent-config:default/clone", new { name = "Nothing" });
        Assert.Equal(HttpStatusCode.BadRequest, noTargets);
        Assert.Contains("targets: a clone needs at least one target", noTargetsProblem.GetProperty("detail").GetString());

        // A is in both clones: the lower priority wins. B only in "Servers".
        Assert.Equal("Only A", (await GetJsonAsync("/api/computers/CFG-A/agent-configuration")).GetProperty("configuration").GetProperty("name").GetString());
        Assert.Equal("Servers", (await GetJsonAsync("/api/computers/CFG-B/agent-configuration")).GetProperty("configuration").GetProperty("name").GetString());
        var state = AgentState.Load(a.Directory)!;
        var assignments = await a.Client.AssignmentsAsync(state.Credential, null, CancellationToken.None);
        Assert.Equal(7, assignments.Assignments!.Configuration.ReinstallationAttempts);

        // Deleting the narrow clone hands A to the next one that targets it.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, $"/api/agent-configurations/{narrow.GetProperty("id").GetString()}")).Status);
        Assert.Equal("Servers", (await GetJsonAsync("/api/computers/CFG-A/agent-configuration")).GetProperty("configuration").GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, $"/api/agent-configurations/{clone.GetProperty("id").GetString()}")).Status);
        Assert.True((await GetJsonAsync("/api/computers/CFG-A/agent-configuration")).GetProperty("configuration").GetProperty("isDefault").GetBoolean());
        // Deleted, it is said to be deleted by every change to it: a second delete, a clone (stop 54: 200, and "not found").
        foreach (var (method, url) in new[] { (HttpMethod.Delete, ""), (HttpMethod.Post, "/clone") })
        {
            var (status, said) = await SendAsync(method, $"/api/agent-configurations/{clone.GetProperty("id").GetString()}{url}", method == HttpMethod.Post ? new { targets = new[] { "builtin:all-with-agent" } } : null);
            Assert.True(status == HttpStatusCode.NotFound, said.ToString());
            Assert.Equal("Agent configuration deleted", said.GetProperty("title").GetString());
        }
    }

    [Fact]
    public async Task assignments_are_cheap_to_poll_and_a_disabled_policy_stops_installs_at_the_next_poll()
    {
        var policyId = await CreatePolicyAsync();
        var token = await TokenAsync();
        var a = Agent("ASG-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(token, Inventory());
        var credential = AgentState.Load(a.Directory)!.Credential;

        using var http = App.Host.Server.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, "/agent/v1/assignments");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        var first = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var etag = first.Headers.ETag!.ToString();
        var body = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement;
        var policy = Assert.Single(body.GetProperty("policies").EnumerateArray());
        Assert.Equal(policyId, policy.GetProperty("policyId").GetString());
        Assert.Equal(60, policy.GetProperty("program").GetProperty("terminateAfterMinutes").GetInt32());
        Assert.Equal("System", policy.GetProperty("program").GetProperty("runWith").GetString());
        var reboot = policy.GetProperty("updates").EnumerateArray().Single(u => u.GetProperty("updateId").GetString() == "u-reboot");
        Assert.Equal("Required", reboot.GetProperty("restart").GetString());
        Assert.Equal(30_000, reboot.GetProperty("size").GetInt64());
        Assert.StartsWith("/agent/v1/packages/", reboot.GetProperty("packageUrl").GetString());

        var again = new HttpRequestMessage(HttpMethod.Get, "/agent/v1/assignments");
        again.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        again.Headers.TryAddWithoutValidation("If-None-Match", etag);
        var notModified = await http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());
        var anonymous = await http.GetAsync("/agent/v1/assignments");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        // Evaluate without installing (the service's poll), then disable: the next cycle installs nothing.
        var evaluated = await a.Runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        Assert.All(evaluated.Updates, u => Assert.Equal(InstallationScheduled, u.Status));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, $"/api/policies/{policyId}/disable")).Status);
        var report = await a.CycleAsync();
        Assert.Empty(report.Installed);
        Assert.Empty(a.Simulation.Attempts);
        Assert.Empty(a.Ledger.Assignments!.Policies);
        Assert.Empty(a.Ledger.Entries);

        // Enabled again: installed; then removed from the computer: the next evaluation schedules it again and the cycle reinstalls it.
        await SendAsync(HttpMethod.Post, $"/api/policies/{policyId}/enable");
        Assert.Equal(3, (await a.CycleAsync()).Installed.Count);
        var simulation = a.Simulation;
        simulation.Removed.Add("KB9200001");
        simulation.Save(a.Directory);
        await a.Client.SendInventoryAsync(credential, new Patch.Agent.Inventory.SimulatedInventorySource(new Patch.Agent.Inventory.JsonInventorySource(Path.Combine(a.Directory, "inventory.json")), a.Directory).Read(), CancellationToken.None);
        var reinstall = await a.CycleAsync();
        Assert.Equal(["u-noreboot"], reinstall.Installed);
        // Scheduled at the first poll; gone from the table while the policy was disabled; scheduled again, installed; removed, installed again.
        Assert.Equal([InstallationScheduled, InstallationScheduled, DownloadRequired, InstallationScheduled, Installed, InstallationScheduled, Installed],
            await StatusesAsync("ASG-A", "u-noreboot"));
    }

    [Fact]
    public async Task restarts_wait_for_their_schedule_can_be_deferred_within_limits_and_show_in_reboot_status()
    {
        var inOneHour = DateTimeOffset.UtcNow.AddHours(1);
        await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new
        {
            settings = Settings(mode: "Scheduled", allowUser: false, rebootSchedule: new { timeZone = "UTC", start = inOneHour.ToString("HH:mm:00"), recurrence = new { kind = "Daily" } }),
        });
        await CreatePolicyAsync();
        var token = await TokenAsync();
        var a = Agent("RBT-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(token, Inventory());

        // A person may not start a cycle: the configuration does not allow it.
        var refused = await Assert.ThrowsAsync<AgentException>(() => a.CycleAsync(CycleTrigger.User));
        Assert.Contains("allow user to initiate is off", refused.Message);
        var report = await a.CycleAsync();
        Assert.Equal(3, report.Installed.Count);
        Assert.False(report.Restarted);
        Assert.NotNull(report.Restart!.PlannedAt);
        Assert.True(report.Restart.PlannedAt > a.Clock.Now);

        var pending = Assert.Single((await GetJsonAsync("/api/reports/reboot-status")).GetProperty("items").EnumerateArray());
        Assert.Equal("RBT-A", pending.GetProperty("computer").GetString());
        Assert.Single((await GetJsonAsync("/api/reports/reboot-status?computer=RBT-A")).GetProperty("items").EnumerateArray());
        Assert.Empty((await GetJsonAsync("/api/reports/reboot-status?computer=NOBODY")).GetProperty("items").EnumerateArray());
        // The computer's deliveries: the latest status of each update of the policy.
        var deliveries = (await GetJsonAsync("/api/computers/RBT-A/deliveries")).EnumerateArray().ToList();
        Assert.Equal(3, deliveries.Count);
        Assert.All(deliveries, d => Assert.Equal("Installed", d.GetProperty("status").GetString()));
        await GetJsonAsync("/api/computers/NOBODY/deliveries", 404);
        Assert.True(pending.GetProperty("pending").GetBoolean());
        Assert.Equal(0, pending.GetProperty("deferrals").GetInt32());
        Assert.Equal(1, (await GetJsonAsync("/api/home")).GetProperty("pendingRestarts").GetInt32());

        var notAChoice = await Assert.ThrowsAsync<AgentException>(() => a.Runner.DeferAsync(7, CancellationToken.None));
        Assert.Contains("Choose one of 15, 60 minutes", notAChoice.Message);
        var deferred = await a.Runner.DeferAsync(60, CancellationToken.None);
        Assert.Equal(1, deferred.Deferrals);
        var tooMany = await Assert.ThrowsAsync<AgentException>(() => a.Runner.DeferAsync(15, CancellationToken.None));
        Assert.Contains("No deferrals left", tooMany.Message);
        var row = Assert.Single((await GetJsonAsync("/api/reports/reboot-status")).GetProperty("items").EnumerateArray());
        Assert.Equal(1, row.GetProperty("deferrals").GetInt32());
        Assert.InRange((row.GetProperty("deferredUntil").GetDateTimeOffset() - deferred.DeferredUntil!.Value).Duration(), TimeSpan.Zero, TimeSpan.FromMilliseconds(1));

        // Not yet due; past the deferral it restarts once.
        Assert.False(await a.Runner.RestartIfDueAsync(CancellationToken.None));
        a.Clock.Now = a.Clock.Now.AddMinutes(61);
        Assert.True(await a.Runner.RestartIfDueAsync(CancellationToken.None));
        Assert.Single(a.Simulation.Restarts);
        Assert.Empty((await GetJsonAsync("/api/reports/reboot-status")).GetProperty("items").EnumerateArray());
        var all = Assert.Single((await GetJsonAsync("/api/reports/reboot-status?pendingOnly=false")).GetProperty("items").EnumerateArray());
        Assert.Equal(0, all.GetProperty("deferrals").GetInt32());
        Assert.Equal(["restartPending", "restartDeferred", "restarted"], await RestartKindsAsync("RBT-A"));
    }

    [Fact]
    public async Task a_failing_pre_install_command_stops_the_cycle_before_any_install()
    {
        await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { settings = Settings(preInstall: "echo snapshot failed >&2; exit 3") });
        await CreatePolicyAsync();
        var a = Agent("HOOK-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory());
        var stopped = await a.CycleAsync();
        Assert.Equal("the pre-install command failed (exit code 3): no update was installed", stopped.StoppedBecause);
        Assert.Empty(stopped.Installed);
        Assert.Empty(a.Simulation.Attempts);
        await using (var session = App.Store.QuerySession())
        {
            var cycle = (await session.Events.FetchStreamAsync(Patch.Domain.Computers.AgentStatusReported.StreamId("HOOK-A"))).Select(e => e.Data)
                .OfType<Patch.Domain.Computers.AgentCycleReported>().Select(e => e.Kind).ToList();
            Assert.Equal(["cycleStarted", "cycleStopped"], cycle);
        }

        // A command that succeeds lets the cycle go on; a cycle a person started marks its installs "Installed by user".
        await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { settings = Settings(preInstall: "test -d .") });
        var byUser = await a.CycleAsync(CycleTrigger.User);
        Assert.Equal(3, byUser.Installed.Count);
        Assert.All(byUser.Updates, u => Assert.Equal(InstalledByUser, u.Status));
        var delivered = Assert.Single((await GetJsonAsync("/api/reports/delivery-summary")).GetProperty("items").EnumerateArray());
        Assert.Equal(3, delivered.GetProperty("succeeded").GetInt32());
    }

    [Fact]
    public async Task wake_on_lan_sends_the_magic_packet_for_each_member_with_a_mac_address()
    {
        using var admin = App.Client();
        foreach (var (name, mac) in new[] { ("WOL-1", "00:1A:2B:3C:4D:5E"), ("WOL-2", "00-1A-2B-3C-4D-5F"), ("WOL-3", (string?)null) })
            Assert.True((await admin.PostAsync("/api/computers", new StringContent(JsonSerializer.Serialize(new { name, macAddress = mac }), System.Text.Encoding.UTF8, "application/json"))).IsSuccessStatusCode);
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "WOL", include = new[] { new { namePattern = "WOL-*" } } });
        var soon = DateTimeOffset.UtcNow.AddMinutes(5);
        var policyId = await CreatePolicyAsync(new { schedule = "Own", ownSchedule = new { timeZone = "UTC", start = soon.ToString("HH:mm:00"), recurrence = new { kind = "Daily" } }, wakeOnLan = true, overrideMaintenanceWindows = false, multicast = false },
            [target.GetProperty("id").GetString()!]);

        var run = await SendAsync(HttpMethod.Post, $"/api/policies/{policyId}/wake");
        Assert.Equal("completed", run.Body.GetProperty("status").GetString(), ignoreCase: true);
        Assert.Equal(2, run.Body.GetProperty("counts").GetProperty("packetsSent").GetInt32());
        Assert.Equal(1, run.Body.GetProperty("counts").GetProperty("withoutMacAddress").GetInt32());
        var packets = new List<byte[]>();
        for (var i = 0; i < 2; i++) packets.Add((await App.WakeListener.ReceiveAsync(TestContext.Current.CancellationToken)).Buffer);
        Assert.All(packets, p => Assert.Equal(102, p.Length));
        Assert.Equal([Convert.ToHexString(WakeOnLan.MagicPacket("00:1A:2B:3C:4D:5E")), Convert.ToHexString(WakeOnLan.MagicPacket("00:1A:2B:3C:4D:5F"))],
            packets.Select(Convert.ToHexString).Order());
        Assert.Equal("FFFFFFFFFFFF001A2B3C4D5E", Convert.ToHexString(WakeOnLan.MagicPacket("00:1A:2B:3C:4D:5E"))[..24]);

        // The scheduled check wakes them once before the run, not again for the same run.
        var scheduler = (Patch.Application.Delivery.ScheduledWakeOnLan)App.Host.Services.GetService(typeof(Patch.Application.Delivery.ScheduledWakeOnLan))!;
        var woken = await scheduler.CheckAsync(CancellationToken.None);
        Assert.Equal(policyId, Assert.Single(woken).Policy);
        Assert.Empty(await scheduler.CheckAsync(CancellationToken.None));
        for (var i = 0; i < 2; i++) Assert.Equal(102, (await App.WakeListener.ReceiveAsync(TestContext.Current.CancellationToken)).Buffer.Length);
    }

    [Fact]
    public async Task the_status_command_prints_the_software_updates_table_with_show_updates_filters()
    {
        await CreatePolicyAsync();
        var a = Agent("CLI-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory(), new() { ["u-flaky"] = new SimulatedInstall(FailTimes: 9) });
        await a.CycleAsync();

        var dll = Path.Combine(AppContext.BaseDirectory, "Patch.Agent.dll");
        async Task<(int Code, string Out)> Run(params string[] args)
        {
            var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            foreach (var arg in args) psi.ArgumentList.Add(arg);
            using var p = System.Diagnostics.Process.Start(psi)!;
            var output = await p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken) + await p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await p.WaitForExitAsync(TestContext.Current.CancellationToken);
            return (p.ExitCode, output);
        }

        var (code, table) = await Run("status", "--state", a.Directory);
        Assert.Equal(0, code);
        Assert.Contains("Software updates for this computer", table);
        Assert.Contains("Software update installation: next", table);
        Assert.Contains("Notice: New software update/s ready to apply", table);
        Assert.Contains("Warning: the computer restarts at", table);
        var lines = table.Split('\n').Select(l => l.TrimEnd()).ToList();
        Assert.Contains(lines, l => l.StartsWith(Installed, StringComparison.Ordinal) && l.Contains("KB9200002") && l.Contains("u-reboot"));
        Assert.Contains(lines, l => l.StartsWith(FailedRescheduled, StringComparison.Ordinal) && l.Contains("u-flaky") && l.Contains("Never") && l.EndsWith("UTC"));
        var (_, onlyFailed) = await Run("status", "--state", a.Directory, "--show", "Installation Failed - Rescheduled");
        Assert.DoesNotContain("u-reboot", onlyFailed);
        Assert.Contains("u-flaky", onlyFailed);
        var (_, hidden) = await Run("status", "--state", a.Directory, "--hide", "Installed");
        Assert.DoesNotContain("u-reboot", hidden);
        var (bad, message) = await Run("status", "--state", a.Directory, "--show", "Bogus");
        Assert.Equal(1, bad);
        Assert.Contains("Unknown status 'Bogus'", message);
        var (offline, offlineMessage) = await Run("cycle", "--state", a.Directory, "--inventory", Path.Combine(a.Directory, "inventory.json"), "--simulate");
        // The server is away (nothing listens at the state's address): the cycle runs on the last assignments, and its
        // events wait on disk for the next cycle. The flaky update failed again, so the exit code is 1.
        Assert.Equal(1, offline);
        Assert.Contains("using the last assignments", offlineMessage);
        Assert.Contains("Events kept for later", offlineMessage);
        Assert.NotEmpty(a.Ledger.Outbox);
    }

    [Fact]
    public async Task the_vendors_default_window_and_alternate_download_location_reach_the_agent()
    {
        var alternate = Directory.CreateTempSubdirectory("patch-alternate-").FullName;
        try
        {
            // The alternate location holds one package with the right content and one with the wrong content.
            await File.WriteAllBytesAsync(Path.Combine(alternate, "noreboot.msu"), Patch.Api.Tests.Staging.ContentServer.Bytes(30_000, 41));
            await File.WriteAllBytesAsync(Path.Combine(alternate, "reboot.msu"), new byte[30_000]);
            var (_, window) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
            {
                name = "Vendor default", schedule = new { timeZone = "UTC", start = "00:00:00", duration = "23:59:00", recurrence = new { kind = "Daily" } },
            });
            var vendor = System.Text.Json.Nodes.JsonNode.Parse((await GetJsonAsync("/api/settings/vendors/microsoft")).GetRawText())!;
            vendor["defaultMaintenanceWindowId"] = window.GetProperty("id").GetString();
            vendor["package"]!["clientLocation"] = alternate;
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/settings/vendors/microsoft", vendor.ToJsonString())).Status);
            await CreatePolicyAsync();
            var a = Agent("ALT-A", new ManualClock(DateTimeOffset.UtcNow.Date.AddHours(12)));
            await a.EnrolAsync(await TokenAsync(), Inventory());

            var report = await a.CycleAsync();
            Assert.Equal("Vendor default", Assert.Single(a.Ledger.Assignments!.MaintenanceWindows).Name);
            Assert.Equal(3, report.Installed.Count);
            Assert.Contains(a.Log, l => l.Contains("u-noreboot: taken from the alternate location"));
            Assert.DoesNotContain(a.Log, l => l.Contains("u-reboot: taken from the alternate location"));
            Assert.Equal([InstallationScheduled, Installed], await StatusesAsync("ALT-A", "u-noreboot"));
            Assert.Equal([InstallationScheduled, DownloadRequired, InstallationScheduled, Installed], await StatusesAsync("ALT-A", "u-reboot"));
        }
        finally
        {
            Directory.Delete(alternate, recursive: true);
        }
    }
}
