using System.Collections.Concurrent;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.ServerTasks;

namespace Patch.Application.ServerTasks;

/// <summary>A run the runner started (<c>AlreadyRunning</c>: the id is of the run that was already going).</summary>
public sealed record TaskStart(string RunId, bool AlreadyRunning);

/// <summary>
/// The one way server tasks run (C8): a run record around the work (<see cref="ServerTaskRecorder"/>), never two runs of
/// one task at once — also across API nodes, by a PostgreSQL advisory lock held for the run — cancellation on request
/// (whichever node runs it notices within a second), and, at start, runs left "running" by a node that stopped are
/// recorded as interrupted.
/// </summary>
public sealed partial class ServerTaskRunner(IEnumerable<ServerTaskDefinition> definitions, IServiceProvider services, IDocumentStore store, NpgsqlDataSource db,
    TimeProvider time, IConfiguration config, ILogger<ServerTaskRunner> logger) : IHostedService
{
    private readonly Dictionary<string, ServerTaskDefinition> _tasks = definitions.ToDictionary(d => d.Name);
    private readonly ConcurrentDictionary<string, Running> _running = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>When this process started: the baseline of schedules of tasks that never ran.</summary>
    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();

    public IReadOnlyCollection<ServerTaskDefinition> Tasks => _tasks.Values;

    public ServerTaskDefinition? Find(string name) => _tasks.GetValueOrDefault(name);

    /// <summary>The schedule an administrator set, else Patch:ServerTasks:{name}:Cron / TimeZone / Enabled, else the task's default.</summary>
    public async Task<EffectiveSchedule> ScheduleOfAsync(IQuerySession session, ServerTaskDefinition task, CancellationToken ct)
    {
        if (await session.LoadAsync<ServerTaskSchedule>(ServerTaskSchedule.StreamId(task.Name), ct) is { } set)
            return new EffectiveSchedule(set.Cron, set.TimeZone, set.Enabled, set.Changed);
        var section = config.GetSection($"Patch:ServerTasks:{task.Name}");
        var cron = section["Cron"] is { } c ? (c.Trim().Length == 0 ? null : c.Trim()) : task.DefaultCron;
        var enabled = task.EnabledFrom?.Invoke(config) ?? task.DefaultEnabled;
        return new EffectiveSchedule(cron, section["TimeZone"] ?? task.DefaultTimeZone, section.GetValue("Enabled", enabled), null);
    }

    /// <summary>
    /// When the task is next due: at the first start for a task that fills a fresh server and never ran, else the first
    /// cron occurrence after its last run (or after the schedule was set, or this process started). Null when off.
    /// </summary>
    public DateTimeOffset? NextRun(ServerTaskDefinition task, EffectiveSchedule schedule, ServerTaskRun? last)
    {
        if (!schedule.Enabled) return null;
        if (last is null && task.RunWhenNeverRun) return StartedAt;
        if (schedule.Cron is not { } cron || TaskSchedules.Problem(cron, schedule.TimeZone) is not null) return null;
        var baseline = last?.Started is { } l && (schedule.Since is not { } s || l > s) ? l : schedule.Since ?? StartedAt;
        return TaskSchedules.Next(cron, schedule.TimeZone, baseline);
    }

    /// <summary>The runner's clock now: the instant a run that starts from here on is recorded as started at or after.</summary>
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>When the task's latest run started (any trigger), or null if it never ran.</summary>
    public async Task<ServerTaskRun?> LastRunAsync(string task, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return await session.Query<ServerTaskRun>().Where(r => r.Task == task).OrderByDescending(r => r.Started).FirstOrDefaultAsync(ct);
    }

    /// <summary>
    /// Starts a run in the background and returns its id, or the id of the run already going. For a scheduled run,
    /// <paramref name="occurrence"/> is the instant it is due for: if a run started since (another node's), none starts (null).
    /// </summary>
    public async Task<TaskStart?> StartAsync(string name, string trigger, Actor actor, IReadOnlyDictionary<string, string> parameters, CancellationToken ct,
        DateTimeOffset? occurrence = null)
    {
        var task = _tasks.GetValueOrDefault(name) ?? throw new ArgumentException($"No server task '{name}'.", nameof(name));
        for (var attempt = 0; ; attempt++)
        {
            var gate = await OpenGateAsync(ct);
            try
            {
                if (!await LockAsync(gate, "pg_try_advisory_lock", name, ct))
                {
                    await gate.DisposeAsync();
                    if (occurrence is not null) return null;
                    // The holder records its run right after it takes the lock, and may end it at any moment: ask again until one or the other is seen.
                    if (await RunningRunIdAsync(name, ct) is { } holder) return new TaskStart(holder, true);
                    if (attempt == 100) throw new InvalidOperationException($"Server task {name} is locked by a run that cannot be found.");
                    await Task.Delay(50, ct);
                    continue;
                }
                if (occurrence is { } due && await LastRunAsync(name, ct) is { } last && last.Started >= due)
                {
                    await ReleaseAsync(gate, name);
                    return null;
                }
                await FailAbandonedAsync(name, ct);
                var runId = await ServerTaskRecorder.StartAsync(store, time, actor, name, trigger, parameters, ct);
                var running = new Running(CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token));
                _running[runId] = running;
                running.Work = Task.Run(() => ExecuteAsync(task, new TaskContext(runId, trigger, actor, parameters, services), gate, running), CancellationToken.None);
                return new TaskStart(runId, false);
            }
            catch
            {
                await ReleaseAsync(gate, name);
                throw;
            }
        }
    }

    /// <summary>
    /// Waits for a run to end (in this process or another node's) and returns its record. A run of the runner's that no
    /// node runs (its task's lock is free: the node died) is recorded as interrupted, checked every two seconds.
    /// </summary>
    public async Task<ServerTaskRun?> WaitAsync(string runId, CancellationToken ct)
    {
        if (_running.TryGetValue(runId, out var local) && local.Work is { } work) await work.WaitAsync(ct);
        for (var poll = 1; ; poll++)
        {
            await using var session = store.QuerySession();
            var run = await session.LoadAsync<ServerTaskRun>(runId, ct);
            if (run is null || run.Status != ServerTaskStatus.Running) return run;
            if (poll % 8 == 0 && _tasks.ContainsKey(run.Task) && !_running.ContainsKey(runId) && await EndIfRunByNoneAsync(run.Task, ct)) continue;
            await Task.Delay(250, ct);
        }
    }

    /// <summary>Waits until no run of this process is going (runs started meanwhile included, and those to start after one going).</summary>
    public async Task WhenIdleAsync(CancellationToken ct)
    {
        while (_running.Values.Select(r => r.Work).OfType<Task>().Concat(_waiting.Keys).ToArray() is { Length: > 0 } works)
        {
            ct.ThrowIfCancellationRequested();
            // A run that failed has been recorded; only its end matters here.
            await Task.WhenAll(works).WaitAsync(ct).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }

    /// <summary>Asks a running run to stop (recorded as an event); false when it is not running.</summary>
    public async Task<bool> CancelAsync(string runId, Actor actor, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor, runId);
        var stream = await session.Events.FetchForWriting<ServerTaskRun>(runId, ct);
        if (stream.Aggregate is not { Status: ServerTaskStatus.Running } run || !_tasks.ContainsKey(run.Task)) return false;
        stream.AppendOne(new ServerTaskCancelRequested(runId, $"{actor.Kind}:{actor.Name}", time.GetUtcNow()));
        await session.SaveChangesAsync(ct);
        if (_running.TryGetValue(runId, out var local)) await local.Cancel.CancelAsync();
        // Run by no node (the task's lock is free): left by a node that died, it ends now rather than wait for a watcher.
        else await EndIfRunByNoneAsync(run.Task, ct);
        return true;
    }

    private async Task ExecuteAsync(ServerTaskDefinition task, TaskContext context, NpgsqlConnection gate, Running running)
    {
        using var watch = new CancellationTokenSource();
        var watcher = WatchAsync(context.RunId, task.Name, gate, running, watch.Token);
        using var activity = PatchTelemetry.Source.StartActivity($"server_task {task.Name}");
        activity?.SetTag("patch.task", task.Name);
        activity?.SetTag("patch.run", context.RunId);
        activity?.SetTag("patch.trigger", context.Trigger);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = ServerTaskStatus.Failed;
        try
        {
            await using var scope = services.CreateAsyncScope();
            TaskOutcome outcome;
            try { outcome = await task.Work(context with { Services = scope.ServiceProvider }, running.Cancel.Token); }
            finally { running.WorkEnded = true; }
            // Work that ended without its lock (it did not heed the cancellation in time) is not recorded as done.
            if (running.Lost is not null) throw new OperationCanceledException(running.Cancel.Token);
            await ServerTaskRecorder.CompleteAsync(store, time, context.Actor, context.RunId, outcome);
            result = outcome.Status;
        }
        catch (OperationCanceledException) when (running.Cancel.IsCancellationRequested || running.Lost is not null)
        {
            if (running.Lost is { } lost)
            {
                await ServerTaskRecorder.FailAsync(store, time, context.Actor, context.RunId, lost);
                await services.GetRequiredService<Notifications.Notifier>().PublishAsync(Domain.Notifications.NotificationKinds.TaskFailed,
                    new { task = task.Name, run = context.RunId, trigger = context.Trigger, error = lost });
            }
            else if (_stopping.IsCancellationRequested)
                await ServerTaskRecorder.FailAsync(store, time, context.Actor, context.RunId, "interrupted by a server shutdown");
            else
            {
                await ServerTaskRecorder.CompleteAsync(store, time, context.Actor, context.RunId, new TaskOutcome(new Dictionary<string, int>(), ServerTaskStatus.Cancelled));
                result = ServerTaskStatus.Cancelled;
            }
        }
        catch (Exception e)
        {
            logger.LogError(e, "Server task {Task} run {RunId} failed", task.Name, context.RunId);
            await ServerTaskRecorder.FailAsync(store, time, context.Actor, context.RunId, $"{e.GetType().Name}: {e.Message}");
            await services.GetRequiredService<Notifications.Notifier>().PublishAsync(Domain.Notifications.NotificationKinds.TaskFailed,
                new { task = task.Name, run = context.RunId, trigger = context.Trigger, error = ServerTaskRecorder.Printable(e.Message) });
        }
        finally
        {
            activity?.SetTag("patch.result", result);
            if (result == ServerTaskStatus.Failed) activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error);
            PatchTelemetry.ServerTaskDuration.Record(clock.Elapsed.TotalSeconds, new("task", task.Name), new("result", result));
            await watch.CancelAsync();
            // The lock is released whatever became of the watch.
            try { await watcher; }
            catch (Exception e) { logger.LogWarning(e, "Watching run {RunId} ended with an error", context.RunId); }
            await ReleaseAsync(gate, task.Name);
            _running.TryRemove(context.RunId, out _);
            running.Cancel.Dispose();
        }
    }

    /// <summary>Runs of the runner's tasks left "running" with no node holding their lock were interrupted: recorded so.</summary>
    public Task StartAsync(CancellationToken ct) => RecoverAsync(ct);

    /// <summary>Stops every run of this process (each is recorded as interrupted by the shutdown).</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        await _stopping.CancelAsync();
        var works = _running.Values.Select(r => r.Work).OfType<Task>().ToArray();
        try { await Task.WhenAll(works).WaitAsync(TimeSpan.FromSeconds(30), ct); }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException) { logger.LogWarning("Server tasks still running at shutdown: {Count}", works.Count(w => !w.IsCompleted)); }
    }

    private sealed class Running(CancellationTokenSource cancel)
    {
        public CancellationTokenSource Cancel { get; } = cancel;
        public Task? Work { get; set; }

        /// <summary>Why the run stopped without its task's lock, once it lost it.</summary>
        public string? Lost { get; set; }

        /// <summary>Whether the task's work returned (its end is being recorded: the run ending is no longer news to the watch).</summary>
        public volatile bool WorkEnded;
    }
}
