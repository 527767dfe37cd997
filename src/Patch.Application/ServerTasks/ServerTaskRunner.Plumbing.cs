using Marten;
using Microsoft.Extensions.Logging;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.ServerTasks;

namespace Patch.Application.ServerTasks;

/// <summary>The runner's plumbing: the per-task advisory lock, the cancellation watch, and recovery of interrupted runs.</summary>
public sealed partial class ServerTaskRunner
{
    /// <summary>A cancellation asked on another node reaches this one through the run's record.</summary>
    private async Task WatchForCancelAsync(string runId, Running running, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
                await using var session = store.QuerySession();
                if ((await session.LoadAsync<ServerTaskRun>(runId, stop))?.CancelRequestedBy is not null)
                {
                    await running.Cancel.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (e is NpgsqlException or ObjectDisposedException)
        {
            logger.LogWarning(e, "Watching run {RunId} for a cancellation failed", runId);
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
