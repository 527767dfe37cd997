using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;

namespace Patch.Application.ServerTasks;

/// <summary>Runs that must read a change made just now (a revision after a staging run, the file resolution after an import).</summary>
public sealed partial class ServerTaskRunner
{
    /// <summary>The tasks with a run to start once the one going ends (one each, however many asked meanwhile).</summary>
    private readonly ConcurrentDictionary<string, Guid> _followUps = new();

    /// <summary>The waits for those runs, until each has started its run (<see cref="WhenIdleAsync"/> waits for them too).</summary>
    private readonly ConcurrentDictionary<Task, byte> _waiting = new();

    /// <summary>
    /// Starts a run that reads what changed until now. When one is already going it may have read before the change:
    /// one more run starts when it ends — one, for every caller that asks meanwhile. Returns at once either way.
    /// </summary>
    public async Task<TaskStart?> StartAfterChangeAsync(string name, string trigger, Actor actor, IReadOnlyDictionary<string, string> parameters, CancellationToken ct)
    {
        var start = await StartAsync(name, trigger, actor, parameters, ct);
        var mine = Guid.NewGuid();
        if (start is not { AlreadyRunning: true } going || !_followUps.TryAdd(name, mine)) return start;
        var wait = Task.Run(async () =>
        {
            try
            {
                await WaitAsync(going.RunId, _stopping.Token);
                // From here a caller's change may come after the next run read: it asks for one more itself.
                _followUps.TryRemove(KeyValuePair.Create(name, mine));
                await StartAsync(name, trigger, actor, parameters, _stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { }
            catch (Exception e)
            {
                logger.LogError(e, "The run of {Task} after {RunId} could not be started", name, going.RunId);
            }
            finally
            {
                // Only this caller's mark: another may have set its own since.
                _followUps.TryRemove(KeyValuePair.Create(name, mine));
            }
        }, CancellationToken.None);
        _waiting[wait] = 0;
        _ = wait.ContinueWith(w => _waiting.TryRemove(w, out _), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        return start;
    }
}
