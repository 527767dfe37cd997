using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.ServerTasks;

namespace Patch.Application.ServerTasks;

/// <summary>The runner's plumbing: the per-task advisory lock, the cancellation watch, and recovery of interrupted runs.</summary>
public sealed partial class ServerTaskRunner
{
    /// <summary>
    /// Watches a run while its work goes: a cancellation asked on another node reaches this one through the run's record
    /// (within a second), and a run that lost its task's lock stops — the lock's connection closed (a proxy's idle
    /// timeout, a PostgreSQL restart, a terminated backend: checked every Patch:ServerTasks:LockCheckSeconds), or another
    /// node, finding the lock free, ended the run as interrupted. Without the lock another node may start the task.
    /// </summary>
    private async Task WatchAsync(string runId, string task, NpgsqlConnection gate, Running running, CancellationToken stop)
    {
        var every = Math.Max(1, config.GetValue("Patch:ServerTasks:LockCheckSeconds", 30));
        for (var tick = 1; !stop.IsCancellationRequested; tick++)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
                string? lost = null;
                if (tick % every == 0 && !await StillConnectedAsync(gate, stop))
                    lost = "lost the task's lock (its database connection closed): stopped, as another server may run the task";
                else
                {
                    await using var session = store.QuerySession();
                    var run = await session.LoadAsync<ServerTaskRun>(runId, stop);
                    if (run?.CancelRequestedBy is not null)
                    {
                        await running.Cancel.CancelAsync();
                        return;
                    }
                    if (run is { Status: not ServerTaskStatus.Running } && !running.WorkEnded)
                        lost = $"lost the task's lock: a server that found it free ended the run ({run.Error ?? run.Status})";
                }
                if (lost is null) continue;
                logger.LogError("Server task {Task} run {RunId}: {Lost}", task, runId, lost);
                running.Lost = lost;
                await running.Cancel.CancelAsync();
                return;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            // The database may be restarting (Marten wraps what Npgsql throws): watching goes on, the lock's check decides
            // whether the lock outlived it.
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Watching run {RunId} failed; again in a second", runId);
            }
        }
    }

    /// <summary>
    /// A session's advisory lock goes only with its session (or an unlock): the lock is held while its connection is. A
    /// check that failed on a connection still open (a timeout: the database stalled) says nothing of it: held.
    /// </summary>
    private static async Task<bool> StillConnectedAsync(NpgsqlConnection gate, CancellationToken ct)
    {
        if (gate.State != System.Data.ConnectionState.Open) return false;
        try
        {
            await using var command = new NpgsqlCommand("select 1", gate) { CommandTimeout = 15 };
            await command.ExecuteScalarAsync(ct);
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or System.IO.IOException or InvalidOperationException)
        {
            return gate.FullState == System.Data.ConnectionState.Open;
        }
    }

    private async Task<string?> RunningRunIdAsync(string name, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return (await session.Query<ServerTaskRun>().Where(r => r.Task == name && r.Status == ServerTaskStatus.Running)
            .OrderByDescending(r => r.Started).FirstOrDefaultAsync(ct))?.Id;
    }

    /// <summary>
    /// Opens the connection that holds a task's lock. Over TCP, PostgreSQL learns that a node died (power, network) only
    /// when its keepalives go unanswered — after two hours with the operating system's defaults, all that while holding
    /// the lock for the run the node left: asked here after a minute of silence, every 10 s, six times (≈ 2 minutes).
    /// </summary>
    private async Task<NpgsqlConnection> OpenGateAsync(CancellationToken ct)
    {
        var gate = await db.OpenConnectionAsync(ct);
        try
        {
            await using var keepalive = new NpgsqlCommand("set tcp_keepalives_idle = 60; set tcp_keepalives_interval = 10; set tcp_keepalives_count = 6", gate);
            await keepalive.ExecuteNonQueryAsync(ct);
            return gate;
        }
        catch
        {
            await gate.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Runs of the task still recorded "running" that no runner runs — this node holds the task's lock, which every run
    /// holds while it runs: left by a node that died, recorded as interrupted (not only at a node's start: a run left while
    /// its dead node still held the lock would otherwise stay "running").
    /// </summary>
    private async Task FailAbandonedAsync(string name, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var runs = await session.Query<ServerTaskRun>().Where(r => r.Task == name && r.Status == ServerTaskStatus.Running).ToListAsync(ct);
        foreach (var run in runs.Where(r => !_running.ContainsKey(r.Id)))
            await ServerTaskRecorder.FailAsync(store, time, Actor.ServerTask(run.Task), run.Id, "interrupted: the server that ran it stopped");
    }

    /// <summary>When the task's lock is free (no node runs it), its runs still recorded "running" are ended as interrupted; false when it is held.</summary>
    private async Task<bool> EndIfRunByNoneAsync(string task, CancellationToken ct)
    {
        if (await TryHoldAsync(task, ct) is not { } hold) return false;
        await using (hold) await FailAbandonedAsync(task, ct);
        return true;
    }

    /// <summary>
    /// Holds a task's lock for work outside the runner that records runs of that task (a replication bundle's import),
    /// so that it never runs beside one of the runner's; null while a run holds it. Disposing releases it.
    /// </summary>
    public async Task<IAsyncDisposable?> TryHoldAsync(string name, CancellationToken ct)
    {
        var gate = await OpenGateAsync(ct);
        try
        {
            if (await LockAsync(gate, "pg_try_advisory_lock", name, ct)) return new Hold(this, gate, name);
        }
        catch
        {
            await ReleaseAsync(gate, name);
            throw;
        }
        await gate.DisposeAsync();
        return null;
    }

    private sealed class Hold(ServerTaskRunner runner, NpgsqlConnection gate, string name) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => new(runner.ReleaseAsync(gate, name));
    }

    private static async Task<bool> LockAsync(NpgsqlConnection gate, string function, string name, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"select {function}(hashtext('patch.server-task'), hashtext(@name))", gate);
        command.Parameters.AddWithValue("name", name);
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    private async Task ReleaseAsync(NpgsqlConnection gate, string name)
    {
        try
        {
            if (gate.State == System.Data.ConnectionState.Open) await LockAsync(gate, "pg_advisory_unlock", name, CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            logger.LogWarning(e, "Releasing the lock of {Task} failed; closing its connection releases it", name);
        }
        await gate.DisposeAsync();
    }

    /// <summary>Runs of the runner's tasks left "running" with no node holding their lock were interrupted: recorded so.</summary>
    private async Task RecoverAsync(CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var stale = (await session.Query<ServerTaskRun>().Where(r => r.Status == ServerTaskStatus.Running).ToListAsync(ct))
            .Where(r => _tasks.ContainsKey(r.Task) && !_running.ContainsKey(r.Id)).GroupBy(r => r.Task);
        foreach (var runs in stale)
        {
            var gate = await OpenGateAsync(ct);
            if (!await LockAsync(gate, "pg_try_advisory_lock", runs.Key, ct)) { await gate.DisposeAsync(); continue; }
            foreach (var run in runs)
                await ServerTaskRecorder.FailAsync(store, time, Actor.ServerTask(run.Task), run.Id, "interrupted: the server stopped while it ran");
            await ReleaseAsync(gate, runs.Key);
        }
    }
}
