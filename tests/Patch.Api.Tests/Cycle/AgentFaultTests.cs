using System.Text.Json;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Agent.Inventory;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Cycle;
using static Patch.Domain.Cycle.UpdateStatus;

namespace Patch.Api.Tests.Cycle;

/// <summary>Between the agent and the server: away (connection refused) or answering, and an acknowledgement that can be lost on the way back.</summary>
public sealed class FlakyLink(HttpMessageHandler server) : DelegatingHandler(server)
{
    public bool Away { get; set; }

    /// <summary>The next request to a path ending so ("/events", "/enrol") reaches the server, but its answer never comes back.</summary>
    public string? LoseNextAnswerTo { get; set; }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (Away) throw new HttpRequestException("Connection refused (the server is away)");
        var response = await base.SendAsync(request, ct);
        if (LoseNextAnswerTo is { } path && request.RequestUri!.AbsolutePath.EndsWith(path, StringComparison.Ordinal))
        {
            LoseNextAnswerTo = null;
            throw new HttpRequestException("The connection was reset before the answer arrived");
        }
        return response;
    }
}

public class when_the_agent_meets_faults(AppFixture app) : CycleTestBase(app)
{
    private (SimulatedAgent Agent, FlakyLink Link, CycleRunner Runner) FlakyAgent(string name, ManualClock clock, int maxOutbox = Outbox.DefaultCap)
    {
        var link = new FlakyLink(App.Host.Server.CreateHandler());
        var agent = new SimulatedAgent(name, new HttpClient(link) { BaseAddress = new Uri("http://localhost/") }, clock);
        Agents.Add(agent);
        var runner = new CycleRunner(new CycleContext(agent.Directory, agent.Client,
            new SimulatedInventorySource(new JsonInventorySource(Path.Combine(agent.Directory, "inventory.json")), agent.Directory),
            new SimulationInstaller(agent.Directory, clock), new SimulationRestarter(agent.Directory, clock), clock, agent.Log.Add, maxOutbox));
        return (agent, link, runner);
    }

    /// <summary>The agent events the server stored for the computer, in the order of their time.</summary>
    private async Task<List<(Guid Id, DateTimeOffset At, string? Status, string? UpdateId)>> ServerEventsAsync(string computer)
    {
        await using var session = App.Store.QuerySession();
        return (await session.Events.FetchStreamAsync(Patch.Domain.Computers.AgentStatusReported.StreamId(computer))).Select(e => e.Data switch
        {
            Patch.Domain.Computers.AgentStatusReported s => (s.EventId, s.OccurredAt, (string?)s.Status, s.UpdateId),
            Patch.Domain.Computers.AgentCycleReported c => (c.EventId, c.OccurredAt, (string?)null, (string?)null),
            Patch.Domain.Computers.AgentRestartReported r => (r.EventId, r.OccurredAt, (string?)null, (string?)null),
            _ => (Guid.Empty, default, null, null),
        }).Where(e => e.Item1 != Guid.Empty).OrderBy(e => e.Item2).ToList();
    }

    [Fact]
    public async Task days_away_keep_a_bounded_outbox_with_every_last_status_then_all_goes_in_order_once()
    {
        var policyId = await CreatePolicyAsync();
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddDays(-6));
        var (agent, link, runner) = FlakyAgent("AWAY-1", clock, maxOutbox: 12);
        await agent.EnrolAsync(await TokenAsync(), Inventory());
        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);

        // Days away: statuses keep changing (a status a minute for three updates), far more than the cap.
        link.Away = true;
        var ledger = AgentLedger.Load(agent.Directory);
        var statuses = new[] { DownloadRequired, InstallationScheduled, FailedRescheduled, Retry, Installed };
        var t = clock.Now;
        foreach (var update in new[] { ("KB9200001", "u-noreboot"), ("KB9200002", "u-reboot"), ("KB9200003", "u-flaky") })
            foreach (var status in statuses)
                ledger.Outbox.Add(new AgentEvent(Guid.NewGuid(), t = t.AddMinutes(1), status, update.Item1, update.Item2, PolicyId: policyId));
        (ledger with { LastEventAt = t }).Save(agent.Directory);
        for (var day = 0; day < 4; day++)
        {
            clock.Now = clock.Now.AddDays(1);
            await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        }
        var waiting = AgentLedger.Load(agent.Directory).Outbox;
        Assert.True(waiting.Count <= 12, $"{waiting.Count} events waiting; the cap is 12");
        Assert.Contains(agent.Log, l => l.Contains("compacted to keep at most 12 unsent events"));
        foreach (var update in new[] { "u-noreboot", "u-reboot", "u-flaky" })
            Assert.Equal(Installed, waiting.Last(e => e.UpdateId == update).Status);
        Assert.Equal(waiting.OrderBy(e => e.OccurredAt).Select(e => e.Id), waiting.Select(e => e.Id));

        // Back: the first answer is lost on the way (the server stored the batch), the agent sends it again under the same ids.
        link.Away = false;
        link.LoseNextAnswerTo = "/events";
        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        Assert.Empty(AgentLedger.Load(agent.Directory).Outbox);
        var stored = await ServerEventsAsync("AWAY-1");
        Assert.Equal(stored.Count, stored.Select(e => e.Id).Distinct().Count());
        Assert.All(waiting, w => Assert.Contains(stored, s => s.Id == w.Id));
        var latest = await GetJsonAsync($"/api/reports/delivery-summary?policy={policyId}&update=u-flaky");
        Assert.Equal(Installed, Assert.Single(latest.GetProperty("items").EnumerateArray()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task a_clock_set_back_or_forward_reorders_and_drops_nothing()
    {
        await CreatePolicyAsync();
        var start = DateTimeOffset.UtcNow.AddHours(-6);
        var clock = new ManualClock(start);
        var (agent, link, runner) = FlakyAgent("CLOCK-1", clock);
        await agent.EnrolAsync(await TokenAsync(), Inventory());
        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        link.Away = true;
        // Cycles while away, the clock set back three hours, then forward three days (beyond what the server takes as
        // "not in the future"), then right again.
        foreach (var at in new[] { start, start.AddHours(-3), start.AddDays(3), start.AddHours(1) })
        {
            clock.Now = at;
            await runner.RunAsync(CycleTrigger.Scheduled, null, install: true, CancellationToken.None);
        }
        var emitted = AgentLedger.Load(agent.Directory).Outbox.Select(e => e.Id).ToList();
        Assert.True(emitted.Count >= 8, $"{emitted.Count} events emitted");

        link.Away = false;
        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        Assert.True(!agent.Log.Any(l => l.Contains("refused by the server and dropped")), string.Join("\n", agent.Log));
        var stored = await ServerEventsAsync("CLOCK-1");
        var mine = stored.Where(s => emitted.Contains(s.Id)).Select(s => s.Id).ToList();
        Assert.Equal(emitted, mine);
        Assert.All(stored, s => Assert.True(s.At <= DateTimeOffset.UtcNow.AddSeconds(5), $"an event dated {s.At:O}, after the server's time"));
    }

    [Fact]
    public async Task an_enrolment_whose_answer_was_lost_is_the_same_enrolment_when_the_agent_tries_again()
    {
        var (agent, link, _) = FlakyAgent("LOST-1", new ManualClock(DateTimeOffset.UtcNow));
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "once", maxUses = 1 });
        var token = issued.GetProperty("token").GetString()!;
        var secret = Patch.Domain.Agents.Secrets.New();
        link.LoseNextAnswerTo = "/enrol";
        await Assert.ThrowsAsync<HttpRequestException>(() => agent.Client.EnrolAsync(token, "LOST-1", null, "0.1.0", CancellationToken.None, credential: secret));
        // The server enrolled it and used the token's only use; the retry with the same secret gets that enrolment.
        var again = await agent.Client.EnrolAsync(token, "LOST-1", null, "0.1.0", CancellationToken.None, credential: secret);
        var third = await agent.Client.EnrolAsync(token, "LOST-1", null, "0.1.0", CancellationToken.None, credential: secret);
        Assert.Equal(again, third);
        Assert.EndsWith("." + secret, again.Credential);
        using var me = App.AnonymousClient();
        me.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", again.Credential);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await me.GetAsync("/agent/v1/me")).StatusCode);
        var tokens = await GetJsonAsync("/api/enrolment-tokens");
        Assert.Equal(1, tokens.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "once").GetProperty("uses").GetInt32());
        // Anyone else — another secret — is still refused: the computer has an agent.
        var other = await Assert.ThrowsAsync<AgentException>(() => agent.Client.EnrolAsync(token, "LOST-1", null, "0.1.0", CancellationToken.None, credential: Patch.Domain.Agents.Secrets.New()));
        Assert.Equal(401, other.StatusCode);
        Assert.Equal(1, (await GetJsonAsync("/api/history/computer:lost-1")).EnumerateArray().Count(e => e.GetProperty("type").GetString() == "agent_enrolled"));
    }

    /// <summary>
    /// A credential rotation whose answer was lost after the server took it, and the agent back only after the old
    /// credential's grace (10 minutes): the agent kept the secret it chose before asking, asks again with it, and gets the
    /// same rotation — it was locked out for good (every call 401) until an administrator reset it.
    /// </summary>
    [Fact]
    public async Task a_credential_rotation_whose_answer_was_lost_is_the_same_rotation_when_the_agent_asks_again()
    {
        var (agent, link, _) = FlakyAgent("ROTATE-1", new ManualClock(DateTimeOffset.UtcNow));
        await agent.EnrolAsync(await TokenAsync(), Inventory());
        var before = AgentState.Load(agent.Directory)!;
        link.LoseNextAnswerTo = "/credential";
        await Assert.ThrowsAsync<HttpRequestException>(() => CredentialRotation.RotateAsync(agent.Client, before, agent.Directory, DateTimeOffset.UtcNow, CancellationToken.None));
        var kept = AgentState.Load(agent.Directory)!;
        Assert.Equal(before.Credential, kept.Credential);
        Assert.NotNull(kept.PendingSecret);
        try
        {
            App.Clock.Shift = TimeSpan.FromMinutes(11);
            var (after, rotated) = await CredentialRotation.RotateAsync(agent.Client, kept, agent.Directory, DateTimeOffset.UtcNow, CancellationToken.None);
            Assert.EndsWith("." + kept.PendingSecret, rotated.Credential);
            Assert.Null(after.PendingSecret);
            Assert.Equal(after, AgentState.Load(agent.Directory));
            using var me = App.AnonymousClient();
            me.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", after.Credential);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await me.GetAsync("/agent/v1/me")).StatusCode);
            me.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", before.Credential);
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await me.GetAsync("/agent/v1/me")).StatusCode);
        }
        finally
        {
            App.Clock.Shift = TimeSpan.Zero;
        }
        // One rotation recorded, however many times it was asked.
        Assert.Equal(1, (await GetJsonAsync("/api/history/computer:rotate-1")).EnumerateArray().Count(e => e.GetProperty("type").GetString() == "agent_credential_rotated"));
    }

    /// <summary>
    /// A run waiting for a cycle whose inventory cannot be read (WMI broken) is tried again in a quarter of an hour, as
    /// after any failure outside the updates — it stayed due, and the service ran a cycle at every one-minute tick.
    /// </summary>
    [Fact]
    public async Task a_waiting_run_whose_inventory_cannot_be_read_is_tried_again_later_not_at_every_tick()
    {
        await CreatePolicyAsync();
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddHours(-1));
        var agent = Agent("NOWMI-1", clock);
        await agent.EnrolAsync(await TokenAsync(), Inventory());
        await agent.Runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        var ledger = AgentLedger.Load(agent.Directory);
        ledger.Waiting!.Add(new WaitingRun(CycleTrigger.Scheduled, null, clock.GetUtcNow().AddMinutes(-1)));
        ledger.Save(agent.Directory);
        Assert.Single(CycleRunner.DueCycles(AgentLedger.Load(agent.Directory), clock.GetUtcNow()));

        await File.WriteAllTextAsync(Path.Combine(agent.Directory, "inventory.json"), "{ not an inventory");
        await agent.CycleAsync();
        var waiting = Assert.Single(AgentLedger.Load(agent.Directory).Waiting!);
        Assert.Equal(clock.GetUtcNow().AddMinutes(15), waiting.Until);
        Assert.Empty(CycleRunner.DueCycles(AgentLedger.Load(agent.Directory), clock.GetUtcNow().AddMinutes(1)));
    }

    [Fact]
    public async Task a_corrupt_state_file_is_set_aside_with_a_clear_message_and_the_agent_recovers()
    {
        await CreatePolicyAsync();
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddHours(-1));
        var (agent, _, runner) = FlakyAgent("TORN-1", clock);
        await agent.EnrolAsync(await TokenAsync(), Inventory());
        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);

        // A torn ledger: set aside, the cycle runs from an empty ledger and evaluates the updates again.
        var ledgerFile = AgentLedger.PathIn(agent.Directory);
        await File.WriteAllTextAsync(ledgerFile, "{\"entries\": {\"u-flaky\": {\"updateId\": \"u-fl");
        var report = await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        Assert.Contains(agent.Log, l => l.Contains($"The agent's state file {ledgerFile} could not be read") && l.Contains("set aside as"));
        Assert.Single(Directory.GetFiles(agent.Directory, "updates.json.corrupt-*"));
        Assert.NotEmpty(report.Updates);
        Assert.NotEmpty(AgentLedger.Load(agent.Directory).Entries);

        // A torn identity: set aside, and the agent says to enrol again (its credential was in it); enrolling again works.
        var stateFile = Path.Combine(agent.Directory, "agent.json");
        await File.WriteAllBytesAsync(stateFile, [0x7B, 0x00, 0x00, 0xFF]);
        var refused = await Assert.ThrowsAsync<AgentException>(() => runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None));
        Assert.Contains("could not be read", refused.Message);
        Assert.Contains("enrol this computer again", refused.Message);
        Assert.Single(Directory.GetFiles(agent.Directory, "agent.json.corrupt-*"));
        await Assert.ThrowsAsync<AgentException>(() => runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None)); // "Not enrolled"
        await SendAsync(HttpMethod.Delete, "/api/computers/TORN-1/agent");
        await agent.EnrolAsync(await TokenAsync(), Inventory());
        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
        Assert.NotNull(AgentLedger.Load(agent.Directory).Assignments);
    }
}

/// <summary>The outbox's rules as pure functions: compaction keeps order and every update's last status; dating keeps order and the server's clock.</summary>
public class when_the_outbox_is_compacted_and_dated
{
    private static AgentEvent Status(int minute, string update, string status) =>
        new(Guid.NewGuid(), new DateTimeOffset(2026, 11, 1, 0, minute, 0, TimeSpan.Zero), status, "KB1", update, PolicyId: "policy:p");

    [Fact]
    public void compaction_removes_the_oldest_replaced_statuses_first_and_never_a_last_status_or_a_restart()
    {
        var outbox = new List<AgentEvent>
        {
            Status(0, "a", DownloadRequired), Status(1, "b", DownloadRequired), Status(2, "a", InstallationScheduled),
            new(Guid.NewGuid(), new DateTimeOffset(2026, 11, 1, 0, 3, 0, TimeSpan.Zero), null, null, null, Kind: "restartPending", At: DateTimeOffset.UnixEpoch),
            new(Guid.NewGuid(), new DateTimeOffset(2026, 11, 1, 0, 4, 0, TimeSpan.Zero), null, null, null, Kind: "cycleStarted"),
            Status(5, "a", Installed), Status(6, "b", Installed), Status(7, "c", Retry),
        };
        var original = outbox.ToList();
        Assert.Equal(3, Outbox.Compact(outbox, 5));
        Assert.Equal([original[3], original[4], original[5], original[6], original[7]], outbox);
        // Past what can go: the cycle report goes, the last statuses and the restart stay even over the cap.
        Assert.Equal(1, Outbox.Compact(outbox, 2));
        Assert.Equal([original[3], original[5], original[6], original[7]], outbox);
        Assert.Equal(0, Outbox.Compact(outbox, 2));
    }

    [Fact]
    public void dating_keeps_each_event_after_the_last_acknowledged_and_none_after_the_server()
    {
        var server = new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero);
        var batch = new List<AgentEvent> { Status(0, "a", DownloadRequired) with { OccurredAt = server.AddHours(-1) },
            Status(0, "a", Installed) with { OccurredAt = server.AddHours(-4) }, Status(0, "b", Retry) with { OccurredAt = server.AddDays(3) } };
        var dated = Outbox.Dated(batch, lastSent: server.AddHours(-2), serverNow: server);
        Assert.Equal(batch.Select(e => e.Id), dated.Select(e => e.Id));
        Assert.Equal([server.AddHours(-1), server.AddHours(-1).AddMilliseconds(1), server], dated.Select(e => e.OccurredAt));
        Assert.Equal([server.AddHours(-2).AddMilliseconds(1), server.AddHours(-2).AddMilliseconds(2)],
            Outbox.Dated([batch[1], batch[1] with { Id = Guid.NewGuid() }], lastSent: server.AddHours(-2), serverNow: null).Select(e => e.OccurredAt));
    }
}
