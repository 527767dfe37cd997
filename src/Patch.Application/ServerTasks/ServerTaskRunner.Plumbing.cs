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
            var gate = await db.OpenConnectionAsync(ct);
            if (!await LockAsync(gate, "pg_try_advisory_lock", runs.Key, ct)) { await gate.DisposeAsync(); continue; }
            foreach (var run in runs)
                await ServerTaskRecorder.FailAsync(store, time, Actor.ServerTask(run.Task), run.Id, "interrupted: the server stopped while it ran");
            await ReleaseAsync(gate, runs.Key);
        }
    }
}
