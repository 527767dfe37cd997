using Marten;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Common;

/// <summary>
/// A server-task run around a piece of work (C8 run history): started, then completed with the work's counts or failed
/// with the reason — a shutdown included, so no run is left "running". A run started beforehand (<see cref="StartAsync"/>)
/// is finished by the same work.
/// </summary>
public static class ServerTaskRecorder
{
    public static async Task<ServerTaskRun> RunAsync(IDocumentStore store, TimeProvider time, Actor actor, string task, string trigger,
        IReadOnlyDictionary<string, string> parameters, Func<string, CancellationToken, Task<IReadOnlyDictionary<string, int>>> work, CancellationToken ct,
        Action<Exception>? onFailure = null, string? startedRunId = null)
    {
        var runId = startedRunId ?? await StartAsync(store, time, actor, task, trigger, parameters, ct);
        object end;
        try
        {
            end = new ServerTaskCompleted(runId, ServerTaskStatus.Completed, await work(runId, ct), time.GetUtcNow());
        }
        catch (Exception e)
        {
            onFailure?.Invoke(e);
            end = new ServerTaskFailed(runId, $"{e.GetType().Name}: {e.Message}", time.GetUtcNow());
        }
        await using (var finish = store.OpenSession(actor, runId))
        {
            finish.Events.Append(runId, end);
            await finish.SaveChangesAsync(CancellationToken.None);
        }
        await using var read = store.QuerySession();
        return (await read.LoadAsync<ServerTaskRun>(runId, CancellationToken.None))!;
    }

    /// <summary>Records a run as started (before its work is queued, so the caller can poll it at once); returns its id.</summary>
    public static async Task<string> StartAsync(IDocumentStore store, TimeProvider time, Actor actor, string task, string trigger,
        IReadOnlyDictionary<string, string> parameters, CancellationToken ct)
    {
        var runId = StreamIds.ServerTaskRun(Guid.NewGuid());
        await using var start = store.OpenSession(actor, runId);
        start.Events.StartStream<ServerTaskRun>(runId, new ServerTaskStarted(runId, task, trigger, parameters, time.GetUtcNow()));
        await start.SaveChangesAsync(ct);
        return runId;
    }
}
