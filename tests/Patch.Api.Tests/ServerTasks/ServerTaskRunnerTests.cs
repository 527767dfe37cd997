using System.Net;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Common;
using Patch.Application.ServerTasks;
using Patch.Domain.ServerTasks;

namespace Patch.Api.Tests.ServerTasks;

public class when_server_tasks_run(AppFixture app) : AppTest(app)
{
    private ServerTaskRunner Runner => App.Host.Services.GetRequiredService<ServerTaskRunner>();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A second API node on the same database: its own runner, the same definitions.</summary>
    private ServerTaskRunner OtherNode() => new(App.Host.Services.GetServices<ServerTaskDefinition>(), App.Host.Services, App.Store,
        App.Host.Services.GetRequiredService<NpgsqlDataSource>(), App.Clock, App.Host.Services.GetRequiredService<IConfiguration>(), NullLogger<ServerTaskRunner>.Instance);

    /// <summary>
    /// A catalog change is analysed by a run that started after it: a change already covered by such a run starts none
    /// (a burst of imports is analysed by a few runs, not one each); a later change starts one.
    /// </summary>
    [Fact]
    public async Task a_catalog_change_is_analysed_by_a_run_that_began_after_it_not_by_one_run_each()
    {
        async Task<int> RunsAsync() => (await GetJsonAsync("/api/server-tasks/runs?task=vulnerability-analysis&pageSize=1")).GetProperty("total").GetInt32();
        var lifetime = App.Host.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>();
        var before = Runner.Now;
        await Patch.Application.Compliance.AnalyseFleetHandler.Handle(new Patch.Application.Compliance.AnalyseFleet("test: first change", null, before), Runner, lifetime);
        var runs = await RunsAsync();
        Assert.True(runs >= 1);
        // Changed before that run began (by more than two nodes' clocks may disagree): it read the change, nothing more to run.
        var skew = Patch.Application.Compliance.AnalyseFleetHandler.ClockSkew;
        await Patch.Application.Compliance.AnalyseFleetHandler.Handle(new Patch.Application.Compliance.AnalyseFleet("test: covered", null, before - skew), Runner, lifetime);
        Assert.Equal(runs, await RunsAsync());
        // Changed just before it began, within the clocks' disagreement: it might not have read it, a run of its own.
        await Patch.Application.Compliance.AnalyseFleetHandler.Handle(new Patch.Application.Compliance.AnalyseFleet("test: just before", null, before), Runner, lifetime);
        Assert.Equal(++runs, await RunsAsync());
        // Changed after it began: a run of its own.
        App.Clock.Shift += TimeSpan.FromSeconds(1);
        await Patch.Application.Compliance.AnalyseFleetHandler.Handle(new Patch.Application.Compliance.AnalyseFleet("test: later", null, Runner.Now), Runner, lifetime);
        Assert.Equal(runs + 1, await RunsAsync());
        App.Clock.Shift = TimeSpan.Zero;
    }

    [Fact]
    public async Task every_task_is_listed_with_its_schedule_next_and_last_run()
    {
        var tasks = await GetJsonAsync("/api/server-tasks");
        var names = tasks.EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        foreach (var name in new[] { "catalog-sources", "cisa-kev-import", "microsoft-cvrf-import", "package-cleanup", "read-model-rebuild", "vulnerability-analysis", "wake-on-lan" })
            Assert.Contains(name, names);
        var cleanup = tasks.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "package-cleanup");
        Assert.Equal("0 1 * * *", cleanup.GetProperty("cron").GetString());
        Assert.True(cleanup.GetProperty("enabled").GetBoolean());
        var next = cleanup.GetProperty("nextRun").GetDateTimeOffset();
        Assert.Equal(1, next.UtcDateTime.Hour);
        Assert.True(next > App.Clock.GetUtcNow());
        // The test host turns the public feeds off, as CI must.
        Assert.False(tasks.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "microsoft-cvrf-import").GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public async Task a_run_on_demand_answers_202_and_a_second_request_gets_the_run_already_going()
    {
        var (status, first) = await SendAsync(HttpMethod.Post, $"/api/server-tasks/{TestTasks.Wait}/run");
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.False(first.GetProperty("alreadyRunning").GetBoolean());
        var runId = first.GetProperty("runId").GetString()!;

        var (again, second) = await SendAsync(HttpMethod.Post, $"/api/server-tasks/{TestTasks.Wait}/run");
        Assert.Equal(HttpStatusCode.Accepted, again);
        Assert.True(second.GetProperty("alreadyRunning").GetBoolean());
        Assert.Equal(runId, second.GetProperty("runId").GetString());

        // Another API node on the same database does not start a second run either.
        var other = await OtherNode().StartAsync(TestTasks.Wait, "on demand", Actor.ServerTask("test"), new Dictionary<string, string>(), Ct);
        Assert.Equal(new TaskStart(runId, true), other);

        TestTasks.Gate.Release();
        var run = await Runner.WaitAsync(runId, Ct);
        Assert.Equal("completed", run!.Status);
        Assert.Equal(1, run.Counts["waited"]);
        Assert.StartsWith("user:", run.By);
        Assert.Equal("on demand", run.Trigger);
    }

    [Fact]
    public async Task a_run_is_cancelled_from_another_node_and_recorded_so()
    {
        var start = await Runner.StartAsync(TestTasks.Wait, "on demand", Actor.ServerTask("test"), new Dictionary<string, string>(), Ct);
        Assert.True(await OtherNode().CancelAsync(start!.RunId, Actor.ServerTask("other"), Ct));
        var run = await Runner.WaitAsync(start.RunId, Ct);
        Assert.Equal("cancelled", run!.Status);
        Assert.Equal("server-task:other", run.CancelRequestedBy);

        var (status, problem) = await SendAsync(HttpMethod.Post, $"/api/server-tasks/runs/{start.RunId}/cancel");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("has ended (cancelled)", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task a_bad_schedule_is_refused_naming_the_problem_and_a_good_one_is_an_event()
    {
        var (status, problem) = await SendAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", new { cron = "61 * * * *", timeZone = "UTC", enabled = true });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("cron '61 * * * *'", problem.GetProperty("detail").GetString());
        (status, problem) = await SendAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", new { cron = "0 3 * * *", timeZone = "Mars/Olympus", enabled = true });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("time zone 'Mars/Olympus'", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Put, "/api/server-tasks/no-such-task/schedule", new { cron = "0 3 * * *", enabled = true })).Status);

        (status, _) = await SendAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", new { cron = "30 3 * * 1", timeZone = "Europe/Berlin", enabled = true });
        Assert.Equal(HttpStatusCode.OK, status);
        var cleanup = (await GetJsonAsync("/api/server-tasks")).EnumerateArray().Single(t => t.GetProperty("name").GetString() == "package-cleanup");
        Assert.Equal("30 3 * * 1", cleanup.GetProperty("cron").GetString());
        var next = cleanup.GetProperty("nextRun").GetDateTimeOffset();
        Assert.Equal(DayOfWeek.Monday, TimeZoneInfo.ConvertTime(next, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin")).DayOfWeek);
        Assert.Equal(3, TimeZoneInfo.ConvertTime(next, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin")).Hour);
        var history = await GetJsonAsync("/api/history/server-task:package-cleanup");
        Assert.Equal("server_task_schedule_set", history[0].GetProperty("type").GetString());
    }

    [Fact]
    public async Task the_scheduler_runs_a_due_task_once_and_runs_missed_occurrences_once()
    {
        var scheduler = App.Host.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<ServerTaskScheduler>().Single();
        // Only package-cleanup is scheduled here (the others' default schedules would come due too as days pass).
        foreach (var other in (await GetJsonAsync("/api/server-tasks")).EnumerateArray().Select(t => t.GetProperty("name").GetString()).Where(n => n != "package-cleanup"))
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/server-tasks/{other}/schedule", new { cron = (string?)null, timeZone = "UTC", enabled = false })).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", new { cron = "0 * * * *", timeZone = "UTC", enabled = true })).Status);
        Assert.Empty(await scheduler.TickAsync(Ct));

        // Three days pass with the server "down": 72 occurrences were missed, and one run catches up.
        App.Clock.Shift = TimeSpan.FromDays(3);
        var started = Assert.Single(await scheduler.TickAsync(Ct));
        var run = await Runner.WaitAsync(started.RunId, Ct);
        Assert.Equal("schedule", run!.Trigger);
        Assert.Equal("package-cleanup", run.Task);
        Assert.True(run.Parameters.ContainsKey("scheduledFor"));
        Assert.Empty(await scheduler.TickAsync(Ct));

        // Switched off, it does not run when due.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", new { cron = "0 * * * *", timeZone = "UTC", enabled = false })).Status);
        App.Clock.Shift = TimeSpan.FromDays(4);
        Assert.Empty(await scheduler.TickAsync(Ct));
    }

    [Fact]
    public async Task a_run_left_running_by_a_stopped_node_is_recorded_as_interrupted()
    {
        var runId = await ServerTaskRecorder.StartAsync(App.Store, App.Clock, Actor.ServerTask("test"), "package-cleanup", "schedule", new Dictionary<string, string>(), Ct);
        await OtherNode().StartAsync(Ct);
        var run = await GetJsonAsync($"/api/server-tasks/runs/{runId}");
        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Contains("interrupted", run.GetProperty("error").GetString());
    }

    /// <summary>
    /// A run left "running" by a node that died while it still held the task's lock (PostgreSQL notices a dead TCP peer only
    /// later) is not recovered at a node's start: the next run of the task, or a cancellation, finds it run by no one.
    /// </summary>
    [Fact]
    public async Task a_run_left_while_its_lock_was_held_ends_when_the_task_next_starts_or_is_cancelled()
    {
        var left = await ServerTaskRecorder.StartAsync(App.Store, App.Clock, Actor.ServerTask("test"), TestTasks.Wait, "schedule", new Dictionary<string, string>(), Ct);
        var (status, started) = await SendAsync(HttpMethod.Post, $"/api/server-tasks/{TestTasks.Wait}/run");
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.False(started.GetProperty("alreadyRunning").GetBoolean());
        var stale = await GetJsonAsync($"/api/server-tasks/runs/{left}");
        Assert.Equal("failed", stale.GetProperty("status").GetString());
        Assert.Contains("interrupted", stale.GetProperty("error").GetString());
        TestTasks.Gate.Release();
        Assert.Equal("completed", (await Runner.WaitAsync(started.GetProperty("runId").GetString()!, Ct))!.Status);

        // Cancelling such a run ends it at once (no node would ever see the request).
        left = await ServerTaskRecorder.StartAsync(App.Store, App.Clock, Actor.ServerTask("test"), TestTasks.Wait, "schedule", new Dictionary<string, string>(), Ct);
        Assert.True(await Runner.CancelAsync(left, Actor.ServerTask("test"), Ct));
        var cancelled = (await Runner.WaitAsync(left, Ct))!;
        Assert.Equal("failed", cancelled.Status);
        Assert.Contains("interrupted", cancelled.Error);

        // Waiting for one (POST …/run?wait=true answered with it) ends it too, once its lock is found free.
        left = await ServerTaskRecorder.StartAsync(App.Store, App.Clock, Actor.ServerTask("test"), TestTasks.Wait, "schedule", new Dictionary<string, string>(), Ct);
        var waited = await Runner.WaitAsync(left, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal("failed", waited!.Status);
    }

    /// <summary>
    /// The connection that holds a run's lock is cut (a proxy's idle timeout, a PostgreSQL restart): the lock went with it
    /// and another node may start the task, so the run stops and is recorded failed, naming why — not left to run beside
    /// another (the test host checks the lock every second).
    /// </summary>
    [Fact]
    public async Task a_run_that_loses_its_lock_stops_and_is_recorded_failed()
    {
        var start = (await Runner.StartAsync(TestTasks.Wait, "on demand", Actor.ServerTask("test"), new Dictionary<string, string>(), Ct))!;
        await using (var kill = App.Host.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand("""
            select bool_or(pg_terminate_backend(pid)) from pg_locks
            where locktype = 'advisory' and classid = hashtext('patch.server-task')::oid and objid = hashtext($1)::oid and objsubid = 2
            """))
        {
            kill.Parameters.Add(new NpgsqlParameter { Value = TestTasks.Wait });
            Assert.True((bool)(await kill.ExecuteScalarAsync(Ct))!);
        }
        var run = (await Runner.WaitAsync(start.RunId, Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct))!;
        Assert.Equal("failed", run.Status);
        Assert.Contains("lost the task's lock", run.Error);

        // The lock is free: the next run starts (and ends as it should).
        var next = (await Runner.StartAsync(TestTasks.Wait, "on demand", Actor.ServerTask("test"), new Dictionary<string, string>(), Ct))!;
        Assert.False(next.AlreadyRunning);
        TestTasks.Gate.Release();
        Assert.Equal("completed", (await Runner.WaitAsync(next.RunId, Ct))!.Status);
    }

    /// <summary>
    /// A run asked for after a change while one is going (which may have read before it) follows that one — one run for
    /// every caller that asked meanwhile — rather than being dropped as "already running".
    /// </summary>
    [Fact]
    public async Task a_run_asked_after_a_change_while_one_is_going_follows_it_once()
    {
        var going = (await Runner.StartAsync(TestTasks.Wait, "before the change", Actor.ServerTask("test"), new Dictionary<string, string>(), Ct))!;
        Assert.False(going.AlreadyRunning);
        for (var i = 0; i < 3; i++)
            Assert.Equal(new TaskStart(going.RunId, true),
                await Runner.StartAfterChangeAsync(TestTasks.Wait, "after the change", Actor.ServerTask("test"), new Dictionary<string, string>(), Ct));
        TestTasks.Gate.Release(2);
        await Runner.WhenIdleAsync(Ct);
        var runs = (await GetJsonAsync($"/api/server-tasks/runs?task={TestTasks.Wait}&pageSize=100")).GetProperty("items").EnumerateArray()
            .Where(r => r.GetProperty("trigger").GetString() == "after the change").ToList();
        var after = Assert.Single(runs);
        Assert.Equal("completed", after.GetProperty("status").GetString());
        Assert.True(after.GetProperty("started").GetDateTimeOffset() >= (await GetJsonAsync($"/api/server-tasks/runs/{going.RunId}")).GetProperty("ended").GetDateTimeOffset());
    }

    [Fact]
    public async Task run_history_is_paged_and_exported_as_csv_and_unknown_parameters_are_refused()
    {
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/server-tasks/package-cleanup/run?wait=true")).Status);
        var page = await GetJsonAsync("/api/server-tasks/runs?task=package-cleanup&pageSize=2");
        Assert.Equal(3, page.GetProperty("total").GetInt32());
        Assert.Equal(2, page.GetProperty("items").GetArrayLength());
        using var client = App.Client();
        var csv = await client.GetStringAsync("/api/server-tasks/runs?task=package-cleanup&format=csv", Ct);
        var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("id,task,trigger,by,status,started,ended,counts,parameters,error", lines[0]);
        Assert.Equal(4, lines.Length);
        Assert.Contains("packagesRemoved=0", lines[1]);

        var (status, problem) = await SendAsync(HttpMethod.Post, "/api/server-tasks/package-cleanup/run?model=all");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("'model': not a parameter of this operation", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/server-tasks/read-model-rebuild/run?model=most")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "/api/server-tasks/no-such-task/run")).Status);
    }

    /// <summary>
    /// A run's end recorded on a stream without its start (a task that ended after its store was emptied: found when a
    /// test's background task ended after the next test's reset) is a run without parameters: the history still exports.
    /// </summary>
    [Fact]
    public async Task a_run_recorded_without_its_start_still_exports()
    {
        var id = Patch.Domain.StreamIds.ServerTaskRun(Guid.NewGuid());
        await using (var session = App.Store.LightweightSession())
        {
            session.Events.Append(id, new ServerTaskCompleted(id, ServerTaskStatus.Completed, new Dictionary<string, int> { ["removed"] = 1 }, DateTimeOffset.UtcNow));
            await session.SaveChangesAsync(Ct);
        }
        using var client = App.Client();
        var response = await client.GetAsync("/api/server-tasks/runs?format=csv", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("removed=1", await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/server-tasks/runs", Ct)).StatusCode);
    }

    [Fact]
    public async Task an_operator_cannot_run_an_administrators_task()
    {
        using var client = App.Client("op", Patch.Domain.Users.Roles.Operator);
        var response = await client.PostAsync("/api/server-tasks/read-model-rebuild/run", null, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        response = await client.PostAsync("/api/server-tasks/package-cleanup/run?wait=true", null, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
