using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Staging;
using Patch.Domain.Cycle;
using static Patch.Domain.Cycle.UpdateStatus;

namespace Patch.Api.Tests.Cycle;

public class when_the_cycle_meets_edge_cases(AppFixture app) : CycleTestBase(app)
{
    private static object Settings(string mode = "EndOfCycle") => new
    {
        installSchedules = Array.Empty<object>(), reinstallationAttempts = 2, allowUserToInitiate = true,
        reboot = new { allowReboot = true, mode }, overrideMaintenanceWindows = false,
        notifications = new { notifyUser = true, showProgress = true, allowDefer = true, deferralChoicesMinutes = new[] { 15 }, maxDeferrals = 1 },
        pollIntervalMinutes = 30,
    };

    private async Task<HttpResponseMessage> PostEventsAsync(string credential, string json)
    {
        using var http = App.Host.Server.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/events") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        return await http.SendAsync(request);
    }

    /// <summary>The simulation installer, with the clock moved forward while chosen updates install (a long install).</summary>
    private sealed class SlowInstaller(IInstaller inner, ManualClock clock, Dictionary<string, TimeSpan> takes) : IInstaller
    {
        public async Task<InstallResult> InstallAsync(InstallRequest request, CancellationToken ct)
        {
            var result = await inner.InstallAsync(request, ct);
            if (takes.TryGetValue(request.Update.UpdateId, out var span)) clock.Now += span;
            return result;
        }
    }

    [Fact]
    public async Task an_install_that_overruns_its_window_completes_the_next_waits_and_runs_when_the_window_opens_again()
    {
        var t0 = new DateTimeOffset(DateTimeOffset.UtcNow.AddDays(-2).Date, TimeSpan.Zero).AddHours(1);
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "W", include = new[] { new { computers = new[] { "WIN-A" } } } });
        await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Two hours", targets = new[] { target.GetProperty("id").GetString() },
            schedule = new { timeZone = "UTC", start = t0.AddHours(2).ToString("HH:mm:ss"), duration = "02:00:00", recurrence = new { kind = "Daily" } },
        });
        await CreatePolicyAsync();
        var clock = new ManualClock(t0);
        var a = Agent("WIN-A", clock);
        await a.EnrolAsync(await TokenAsync(), Inventory());
        var runner = new CycleRunner(new CycleContext(a.Directory, a.Client,
            new Patch.Agent.Inventory.SimulatedInventorySource(new Patch.Agent.Inventory.JsonInventorySource(Path.Combine(a.Directory, "inventory.json")), a.Directory),
            new SlowInstaller(new SimulationInstaller(a.Directory, clock), clock, new() { ["u-flaky"] = TimeSpan.FromMinutes(5) }),
            new SimulationRestarter(a.Directory, clock), clock));

        // Before the window: everything waits, and the service knows when to come back.
        var first = await runner.RunAsync(CycleTrigger.Scheduled, null, install: true, CancellationToken.None);
        Assert.Equal(3, first.Waiting.Count);
        Assert.Equal(t0.AddHours(2), Assert.Single(a.Ledger.Waiting!).Until);
        Assert.Empty(CycleRunner.DueCycles(a.Ledger, t0.AddHours(1)));
        Assert.Equal([(CycleTrigger.Scheduled, (string?)null)], CycleRunner.DueCycles(a.Ledger, t0.AddHours(2)));

        // Three minutes before the window closes: the first installs, the second runs five minutes and completes past the
        // end, the third (the one that needs a restart) waits for the next window.
        clock.Now = t0.AddHours(4).AddMinutes(-3);
        var second = await runner.RunAsync(CycleTrigger.Scheduled, null, install: true, CancellationToken.None);
        Assert.Equal(["u-noreboot", "u-flaky"], second.Installed);
        Assert.Equal(["u-reboot"], second.Waiting);
        Assert.Equal(t0.AddHours(26), second.WaitingUntil);
        Assert.Null(second.Restart);

        // The service's next round when the window opens again runs it, and restarts at the end of the cycle.
        clock.Now = t0.AddHours(26);
        var due = Assert.Single(CycleRunner.DueCycles(a.Ledger, clock.Now));
        var third = await runner.RunAsync(due.Trigger, due.PolicyId, install: true, CancellationToken.None);
        Assert.Equal(["u-reboot"], third.Installed);
        Assert.Empty(a.Ledger.Waiting!);
        // The default configuration warns 15 minutes before a restart: it is planned that far after the cycle, still inside the window.
        Assert.False(third.Restarted);
        Assert.Equal(t0.AddHours(26).AddMinutes(15), third.Restart!.PlannedAt);
        Assert.Contains(StatusTable.Notices(a.Ledger, clock.Now), n => n.StartsWith("Warning: the computer restarts at", StringComparison.Ordinal));
        clock.Now = clock.Now.AddMinutes(15);
        Assert.True(await runner.RestartIfDueAsync(CancellationToken.None));
    }

    [Fact]
    public async Task a_restart_the_installer_initiated_is_not_asked_for_again_and_a_never_restart_ends_when_the_computer_starts()
    {
        await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { settings = Settings(mode: "Never") });
        await CreatePolicyAsync();
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var a = Agent("RST-A", clock);
        await a.EnrolAsync(await TokenAsync(), Inventory(), new() { ["u-noreboot"] = new SimulatedInstall(ExitCode: InstallerExitCodes.AlreadyInstalled) });

        // Never: the restart stays pending with no time, and the agent does not restart.
        var report = await a.CycleAsync();
        Assert.Null(report.Restart!.PlannedAt);
        Assert.False(report.Restarted);
        Assert.Empty(a.Simulation.Restarts);
        Assert.Equal("Never", a.Ledger.Entries["u-noreboot"].LastAppliedText);   // 0x00240006: another source had installed it
        Assert.NotNull(a.Ledger.Entries["u-reboot"].LastApplied);
        Assert.True(Assert.Single((await GetJsonAsync("/api/reports/reboot-status")).GetProperty("items").EnumerateArray()).GetProperty("pending").GetBoolean());

        // Someone restarts the computer: the agent notices at its next round and reports it.
        clock.Now = clock.Now.AddMinutes(5);
        var simulation = a.Simulation;
        simulation.Restarts.Add(clock.Now);
        simulation.Save(a.Directory);
        Assert.False(await a.Runner.RestartIfDueAsync(CancellationToken.None));
        Assert.Null(a.Ledger.Restart);
        Assert.Empty((await GetJsonAsync("/api/reports/reboot-status")).GetProperty("items").EnumerateArray());
        Assert.Equal(["restartPending", "restarted"], await RestartKindsAsync("RST-A"));

        // 1641: the installer restarted the computer itself; the agent asks for no other restart, and the rest of the
        // chain waits for the next cycle.
        var b = Agent("RST-B", new ManualClock(DateTimeOffset.UtcNow));
        await b.EnrolAsync(await TokenAsync(), Inventory(), new() { ["u-noreboot"] = new SimulatedInstall(ExitCode: InstallerExitCodes.RestartInitiated) });
        var initiated = await b.CycleAsync();
        Assert.Equal(["u-noreboot"], initiated.Installed);
        Assert.Single(b.Simulation.Restarts);
        Assert.Null(b.Ledger.Restart);
        Assert.Equal(["restartPending", "restarted"], await RestartKindsAsync("RST-B"));
        Assert.Equal(["u-flaky", "u-reboot"], (await b.CycleAsync()).Installed);
    }

    [Fact]
    public async Task the_server_refuses_unknown_policies_keeps_times_in_utc_and_the_agent_sets_aside_only_the_refused_event()
    {
        var policyId = await CreatePolicyAsync();
        var a = Agent("EVT-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory());
        var credential = AgentState.Load(a.Directory)!.Credential;

        var unknown = await PostEventsAsync(credential, $$"""{"events":[{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","status":"Installed","bulletin":"KB9200002","updateId":"u-reboot","policyId":"policy:nope"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("no Software Update policy 'policy:nope'", await unknown.Content.ReadAsStringAsync());

        var nul = await PostEventsAsync(credential, $$"""{"events":[{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","status":"Installed","bulletin":"KB9200002","updateId":"u-reboot","policyId":"{{policyId}}","detail":"exit\u0000code"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, nul.StatusCode);
        Assert.Contains("control characters", await nul.Content.ReadAsStringAsync());
        // A status of an update the policy does not distribute, of another bulletin, without its bulletin; a field of another
        // kind; one id given to two events (stop 53: each was stored, or dropped, in silence).
        foreach (var (events, said) in new[]
        {
            ($$"""{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","status":"Installed","bulletin":"KB9200002","updateId":"nope","policyId":"{{policyId}}"}""", "events[0].updateId: 'nope' is not an update of policy"),
            ($$"""{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","status":"Installed","bulletin":"KB1","updateId":"u-reboot","policyId":"{{policyId}}"}""", "events[0].bulletin: 'KB1' is not the bulletin of update 'u-reboot'"),
            ($$"""{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","status":"Installed","updateId":"u-reboot","policyId":"{{policyId}}"}""", "events[0]: a status names its bulletin and updateId"),
            ($$"""{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","kind":"restarted","policyId":"{{policyId}}"}""", "events[0].policyId: not part of a 'restarted' event"),
            ($$"""{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","status":"Installed","bulletin":"KB9200002","updateId":"u-reboot","policyId":"{{policyId}}","trigger":"x"}""", "events[0].trigger: not part of a 'status' event"),
            ($$"""{"id":"00000000-0000-0000-0000-000000000001","occurredAt":"{{DateTimeOffset.UtcNow:O}}","kind":"restarted"},{"id":"00000000-0000-0000-0000-000000000001","occurredAt":"{{DateTimeOffset.UtcNow:O}}","kind":"cycleStarted"}""", "events[1].id: 00000000-0000-0000-0000-000000000001 is given to two different events"),
        })
        {
            using var refused = await PostEventsAsync(credential, $$"""{"events":[{{events}}]}""");
            var text = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, text);
            Assert.Contains(said, text);
        }
        var noAt = await PostEventsAsync(credential, $$"""{"events":[{"id":"{{Guid.NewGuid()}}","occurredAt":"{{DateTimeOffset.UtcNow:O}}","kind":"restartDeferred"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, noAt.StatusCode);

        var local = DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(2));
        var offset = await PostEventsAsync(credential, $$"""{"events":[{"id":"{{Guid.NewGuid()}}","occurredAt":"{{local:O}}","status":"Installation Scheduled","bulletin":"KB9200002","updateId":"u-reboot","policyId":"{{policyId}}","lastApplied":"{{local:O}}"},{"id":"{{Guid.NewGuid()}}","occurredAt":"{{local:O}}","kind":"restartPending","at":"{{local.AddHours(1):O}}"}]}""");
        Assert.Equal(HttpStatusCode.OK, offset.StatusCode);
        var row = Assert.Single((await GetJsonAsync($"/api/reports/delivery-summary?policy={policyId}&update=u-reboot")).GetProperty("items").EnumerateArray());
        Assert.Equal(local.UtcDateTime, row.GetProperty("at").GetDateTimeOffset().UtcDateTime, TimeSpan.FromMilliseconds(1));

        // An outbox holding an event the server refuses (a policy deleted meanwhile can't be named) delivers the others.
        var ledger = a.Ledger;
        ledger.Outbox.Add(new AgentEvent(Guid.NewGuid(), DateTimeOffset.UtcNow, Installed, "KB9200001", "u-noreboot", PolicyId: "policy:gone"));
        ledger.Outbox.Add(new AgentEvent(Guid.NewGuid(), DateTimeOffset.UtcNow, null, null, null, "kept", Patch.Domain.Computers.AgentCycleReported.Completed, Trigger: "test"));
        ledger.Save(a.Directory);
        await a.Runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        Assert.Empty(a.Ledger.Outbox);
        Assert.Contains(a.Log, l => l.Contains("refused by the server and dropped"));
        await using var session = App.Store.QuerySession();
        var cycles = (await session.Events.FetchStreamAsync(Patch.Domain.Computers.AgentStatusReported.StreamId("EVT-A"))).Select(e => e.Data)
            .OfType<Patch.Domain.Computers.AgentCycleReported>().ToList();
        Assert.Contains(cycles, c => c.Detail == "kept");
    }

    /// <summary>
    /// An agent whose clock ran hours ahead (its client not yet knowing the server's time) reported a pending restart and a
    /// failed install; its clock corrected, it reports the restart done and the update installed. Dated by the server's
    /// receipt (the agent's time kept beside it), the later events win: the computer is no longer shown waiting for a restart
    /// with a failed update.
    /// </summary>
    [Fact]
    public async Task events_from_a_clock_running_ahead_are_dated_by_their_receipt_so_the_corrected_clocks_events_win()
    {
        var policyId = await CreatePolicyAsync();
        var a = Agent("FAST-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory());
        var credential = AgentState.Load(a.Directory)!.Credential;
        var ahead = DateTimeOffset.UtcNow.AddHours(3);
        var early = await PostEventsAsync(credential, $$"""{"events":[{"id":"{{Guid.NewGuid()}}","occurredAt":"{{ahead:O}}","status":"Failed to Install","bulletin":"KB9200002","updateId":"u-reboot","policyId":"{{policyId}}"},{"id":"{{Guid.NewGuid()}}","occurredAt":"{{ahead:O}}","kind":"restartPending","at":"{{ahead.AddHours(1):O}}"}]}""");
        Assert.Equal(HttpStatusCode.OK, early.StatusCode);
        await Task.Delay(20, TestContext.Current.CancellationToken);
        var now = DateTimeOffset.UtcNow;
        var later = await PostEventsAsync(credential, $$"""{"events":[{"id":"{{Guid.NewGuid()}}","occurredAt":"{{now:O}}","status":"Installed","bulletin":"KB9200002","updateId":"u-reboot","policyId":"{{policyId}}"},{"id":"{{Guid.NewGuid()}}","occurredAt":"{{now:O}}","kind":"restarted"}]}""");
        Assert.Equal(HttpStatusCode.OK, later.StatusCode);

        // A batch from a clock six minutes ahead keeps its order: the whole batch is moved back, not only its events past the tolerance.
        var six = DateTimeOffset.UtcNow.AddMinutes(6);
        var ordered = await PostEventsAsync(credential, $$"""{"events":[{"id":"{{Guid.NewGuid()}}","occurredAt":"{{six.AddMinutes(-5):O}}","status":"Installation Scheduled","bulletin":"KB9200001","updateId":"u-noreboot","policyId":"{{policyId}}"},{"id":"{{Guid.NewGuid()}}","occurredAt":"{{six:O}}","status":"Installed","bulletin":"KB9200001","updateId":"u-noreboot","policyId":"{{policyId}}"}]}""");
        Assert.Equal(HttpStatusCode.OK, ordered.StatusCode);
        Assert.Equal("Installed", (await GetJsonAsync("/api/computers/FAST-A/deliveries")).EnumerateArray().Single(d => d.GetProperty("updateId").GetString() == "u-noreboot").GetProperty("status").GetString());

        var reboot = Assert.Single((await GetJsonAsync("/api/reports/reboot-status?pendingOnly=false&computer=FAST-A")).GetProperty("items").EnumerateArray());
        Assert.False(reboot.GetProperty("pending").GetBoolean());
        var delivery = (await GetJsonAsync("/api/computers/FAST-A/deliveries")).EnumerateArray().Single(d => d.GetProperty("updateId").GetString() == "u-reboot");
        Assert.Equal("Installed", delivery.GetProperty("status").GetString());
        // The agent's own time is kept on the events it dated ahead (the planned restart's time untouched).
        await using var session = App.Store.QuerySession();
        var restart = (await session.Events.FetchStreamAsync(Patch.Domain.Computers.AgentStatusReported.StreamId("FAST-A"))).Select(e => e.Data)
            .OfType<Patch.Domain.Computers.AgentRestartReported>().Single(r => r.Kind == "restartPending");
        Assert.Equal(ahead.UtcDateTime, restart.AgentTime!.Value.UtcDateTime, TimeSpan.FromMilliseconds(1));
        Assert.True(restart.OccurredAt <= DateTimeOffset.UtcNow);
        Assert.Equal(ahead.AddHours(1).UtcDateTime, restart.At!.Value.UtcDateTime, TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task bad_report_ranges_integer_enums_and_meaningless_targets_are_400s_and_a_target_used_by_a_clone_stays()
    {
        foreach (var query in new[] { "to=garbage", "from=2026-11-01&to=2026-10-01", "from=yesterday" })
        {
            var detail = (await GetJsonAsync($"/api/reports/delivery-summary?{query}", 400)).GetProperty("detail").GetString()!;
            // An instant that is none is named by its parameter ("to: 'garbage' is not an ISO 8601 …"), a range backwards as the range.
            Assert.True(detail.Contains("from/to") || detail.Contains($"{query.Split('=')[0]}: '") && detail.Contains("is not an ISO 8601"), detail);
        }
        // asOf is no longer the range's end but the instant the report is asked about (what the server knew then).
        Assert.Contains("not an ISO 8601", (await GetJsonAsync("/api/reports/delivery-summary?asOf=garbage", 400)).GetProperty("detail").GetString());
        Assert.Equal(0, (await GetJsonAsync($"/api/reports/delivery-summary?from={Uri.EscapeDataString("2026-01-01T00:00:00+02:00")}")).GetProperty("total").GetInt32());

        var (badEnum, _) = await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default",
            """{"settings":{"installSchedules":[],"reinstallationAttempts":1,"allowUserToInitiate":true,"reboot":{"allowReboot":true,"mode":7},"overrideMaintenanceWindows":false,"notifications":{"notifyUser":true,"showProgress":true,"allowDefer":false,"deferralChoicesMinutes":[],"maxDeferrals":0},"pollIntervalMinutes":60}}""");
        Assert.Equal(HttpStatusCode.BadRequest, badEnum);
        var (requiring, requiringProblem) = await SendAsync(HttpMethod.Post, "/api/agent-configurations/agent-config:default/clone", new { name = "R", targets = new[] { "builtin:requiring-updates" } });
        Assert.Equal(HttpStatusCode.BadRequest, requiring);
        Assert.Contains("no meaning for an agent configuration", requiringProblem.GetProperty("detail").GetString());
        var (priority, _) = await SendAsync(HttpMethod.Put, "/api/agent-configurations/agent-config:default", new { priority = 5 });
        Assert.Equal(HttpStatusCode.BadRequest, priority);

        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "Labs", include = new[] { new { namePattern = "LAB-*" } } });
        var targetId = target.GetProperty("id").GetString();
        await SendAsync(HttpMethod.Post, "/api/agent-configurations/agent-config:default/clone", new { name = "Labs config", targets = new[] { targetId } });
        var (inUse, inUseProblem) = await SendAsync(HttpMethod.Delete, $"/api/targets/{targetId}");
        Assert.Equal(HttpStatusCode.Conflict, inUse);
        Assert.Contains("agent configuration 'Labs config'", inUseProblem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task the_delivery_tables_rebuild_from_the_event_log_as_a_server_task()
    {
        var policyId = await CreatePolicyAsync();
        var a = Agent("RBD-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory(), new() { ["u-flaky"] = new SimulatedInstall(FailTimes: 1) });
        await a.CycleAsync();
        var before = (await GetJsonAsync($"/api/reports/delivery-summary?policy={policyId}")).GetRawText();
        var (status, run) = await SendAsync(HttpMethod.Post, "/api/server-tasks/read-model-rebuild/run?model=delivery&wait=true");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("completed", run.GetProperty("status").GetString());
        var rebuilt = run.GetProperty("counts");
        Assert.True(rebuilt.TryGetProperty("deliveries", out _), run.ToString());
        Assert.Equal(3, rebuilt.GetProperty("deliveries").GetInt64());
        Assert.True(rebuilt.GetProperty("statusEvents").GetInt64() >= 9);
        Assert.Equal(1, rebuilt.GetProperty("computersWithRestarts").GetInt64());
        Assert.Equal(before, (await GetJsonAsync($"/api/reports/delivery-summary?policy={policyId}")).GetRawText());
    }

    [Fact]
    public async Task a_partial_download_that_is_already_whole_starts_over_instead_of_failing_for_ever()
    {
        await CreatePolicyAsync();
        var a = Agent("DL-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory());
        await a.Runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        var u = a.Ledger.Assignments!.Policies[0].Updates.Single(x => x.UpdateId == "u-noreboot");
        // The agent stopped after writing the whole file but before renaming it: a Range from its end is a 416.
        var folder = Path.Combine(a.Directory, "packages", u.Sha256);
        Directory.CreateDirectory(folder);
        await File.WriteAllBytesAsync(Path.Combine(folder, "noreboot.msu.partial"), Patch.Api.Tests.Staging.ContentServer.Bytes(30_000, 41));
        var report = await a.CycleAsync();
        Assert.Contains("u-noreboot", report.Installed);
        Assert.False(File.Exists(Path.Combine(folder, "noreboot.msu.partial")));
    }

    [Fact]
    public async Task a_second_agent_process_on_the_same_state_waits_for_the_first_then_says_why()
    {
        await CreatePolicyAsync();
        var a = Agent("LCK-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory());
        using (await AgentLock.AcquireAsync(a.Directory, TimeSpan.Zero, CancellationToken.None))
        {
            var busy = await Assert.ThrowsAsync<AgentException>(() => AgentLock.AcquireAsync(a.Directory, TimeSpan.FromMilliseconds(300), CancellationToken.None));
            Assert.Contains("Another agent process is working on", busy.Message);
        }
        Assert.Equal(3, (await a.CycleAsync()).Installed.Count);
    }
}

/// <summary>An update of several files (Patch catalog 1.1 <c>files</c>, as a checkpoint cumulative update): staged file by file and installed with its prerequisites beside it.</summary>
public class when_an_update_has_several_files(AppFixture app) : CycleTestBase(app)
{
    [Fact]
    public async Task the_agent_downloads_the_prerequisites_beside_the_package_each_verified()
    {
        var checkpoint = Server.Add("windows10.0-kb9200100-x64_checkpoint.msu", ContentServer.Bytes(10_000, 91));
        var main = Server.Add("windows10.0-kb9200101-x64.msu", ContentServer.Bytes(12_000, 92));
        var catalog = new
        {
            schemaVersion = "1.1", catalogId = "files-test", vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w10", name = Windows10, vendor = "ms" } },
            bulletins = new[]
            {
                new
                {
                    id = "KB9200101", vendor = "ms", title = "Checkpoint cumulative update", severity = "Critical",
                    updates = new[]
                    {
                        new
                        {
                            id = "u-checkpointed", product = "w10", restart = "notRequired",
                            files = new object[]
                            {
                                new { url = checkpoint.Url, fileName = "windows10.0-kb9200100-x64_checkpoint.msu", size = checkpoint.Size, sha1 = Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(ContentServer.Bytes(10_000, 91))) },
                                new { url = main.Url, fileName = "windows10.0-kb9200101-x64.msu", size = main.Size, sha256 = main.Sha256 },
                            },
                        },
                    },
                },
            },
        };
        await App.ImportAsync("patch", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(catalog));
        var staged = await StageAndWaitAsync("KB9200101");
        var status = staged.GetProperty("bulletins")[0].GetProperty("updateStatus")[0];
        Assert.Equal("downloaded", status.GetProperty("state").GetString());
        Assert.True(status.GetProperty("verified").GetBoolean());
        Assert.Equal(main.Sha256, status.GetProperty("sha256").GetString());
        var (created, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB9200101" } });
        Assert.Equal(HttpStatusCode.Created, created);
        Assert.Equal(checkpoint.Sha256, policy.GetProperty("updates")[0].GetProperty("prerequisites")[0].GetProperty("sha256").GetString());

        var a = Agent("FILES-A", new ManualClock(DateTimeOffset.UtcNow));
        await a.EnrolAsync(await TokenAsync(), Inventory());
        await a.CycleAsync();
        Assert.Contains("Installed", await StatusesAsync("FILES-A", "u-checkpointed"));
        var folder = Path.Combine(a.Directory, "packages", main.Sha256);
        Assert.True(File.Exists(Path.Combine(folder, "windows10.0-kb9200101-x64.msu")));
        Assert.Equal(ContentServer.Bytes(10_000, 91), await File.ReadAllBytesAsync(Path.Combine(folder, "windows10.0-kb9200100-x64_checkpoint.msu"), TestContext.Current.CancellationToken));
    }
}
