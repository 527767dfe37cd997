using Marten;
using Microsoft.Extensions.DependencyInjection;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Common;

/// <summary>What a piece of work under a run reports: its counts and result (completed, or unchanged when it found nothing to do).</summary>
public sealed record TaskOutcome(IReadOnlyDictionary<string, int> Counts, string Status = ServerTaskStatus.Completed);

/// <summary>
/// The one recorder of server-task runs (C8 run history): every task — the runner's, a catalog import, a staging job, a
/// Wake-on-LAN send — starts, completes and fails its run here, with trigger, actor, counts and error. A failure's
/// reason loses its control characters, so the record is kept whatever the failure quoted.
/// </summary>
public static class ServerTaskRecorder
{
    public static async Task<ServerTaskRun> RunAsync(IDocumentStore store, TimeProvider time, Actor actor, string task, string trigger,
        IReadOnlyDictionary<string, string> parameters, Func<string, CancellationToken, Task<IReadOnlyDictionary<string, int>>> work, CancellationToken ct,
        Action<Exception>? onFailure = null, string? startedRunId = null)
    {
        var runId = startedRunId ?? await StartAsync(store, time, actor, task, trigger, parameters, ct);
        try
        {
            await CompleteAsync(store, time, actor, runId, new TaskOutcome(await work(runId, ct)));
        }
        catch (Exception e)
        {
            onFailure?.Invoke(e);
            await FailAsync(store, time, actor, runId, $"{e.GetType().Name}: {e.Message}");
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
        start.Events.StartStream<ServerTaskRun>(runId, Started(runId, task, trigger, parameters, actor, time));
        await start.SaveChangesAsync(ct);
        return runId;
    }

    /// <summary>
    /// Records a run as started and queues the message of its work in one transaction (Wolverine's outbox on the Marten
    /// session): the caller can poll the run at once, and a run is never left "running" without the job that ends it.
    /// </summary>
    public static async Task<string> StartQueuedAsync(IDocumentStore store, IServiceScopeFactory scopes, TimeProvider time, Actor actor, string task, string trigger,
        IReadOnlyDictionary<string, string> parameters, Func<string, object> message, CancellationToken ct)
    {
        var runId = StreamIds.ServerTaskRun(Guid.NewGuid());
        await using var scope = scopes.CreateAsyncScope();
        var outbox = scope.ServiceProvider.GetRequiredService<Wolverine.Marten.IMartenOutbox>();
        await using var session = store.OpenSession(actor, runId);
        outbox.Enroll(session);
        session.Events.StartStream<ServerTaskRun>(runId, Started(runId, task, trigger, parameters, actor, time));
        await outbox.PublishAsync(message(runId));
        await session.SaveChangesAsync(ct);
        return runId;
    }

    public static ServerTaskStarted Started(string runId, string task, string trigger, IReadOnlyDictionary<string, string> parameters, Actor actor, TimeProvider time) =>
        new(runId, task, trigger, parameters, time.GetUtcNow(), $"{actor.Kind}:{actor.Name}");

    /// <summary>The end of a run, for work that appends it in its own transaction (a catalog import commits its facts and its end together).</summary>
    public static ServerTaskCompleted Completed(string runId, TaskOutcome outcome, TimeProvider time) =>
        new(runId, outcome.Status, outcome.Counts, time.GetUtcNow());

    public static Task CompleteAsync(IDocumentStore store, TimeProvider time, Actor actor, string runId, TaskOutcome outcome) =>
        EndAsync(store, actor, runId, Completed(runId, outcome, time));

    /// <summary>Records the run as failed (never cancelled by the caller's token: the record must be kept).</summary>
    public static Task FailAsync(IDocumentStore store, TimeProvider time, Actor actor, string runId, string error) =>
        EndAsync(store, actor, runId, new ServerTaskFailed(runId, Printable(error), time.GetUtcNow()));

    /// <summary>
    /// Appends a run's end — only to a run that exists (the store replaced meanwhile, by an import of another store, gets no
    /// run out of nothing) and has not ended: a run ends once, so a start-up recovery that read it as running never fails a
    /// run that completed meanwhile, nor does a cancellation that comes after an import committed its end with its facts.
    /// </summary>
    private static async Task EndAsync(IDocumentStore store, Actor actor, string runId, object end)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var session = store.OpenSession(actor, runId);
            var stream = await session.Events.FetchForWriting<ServerTaskRun>(runId, CancellationToken.None);
            if (stream.Aggregate is not { Ended: null }) return;
            stream.AppendOne(end);
            try
            {
                await session.SaveChangesAsync(CancellationToken.None);
                return;
            }
            catch (Exception e) when (attempt < 3 && StoreConflict.Is(e))
            {
                // Another end, or a cancellation request, was appended meanwhile: read the run again.
            }
        }
    }

    /// <summary>The text with every control character but tab, CR and LF replaced by '?', and at most 4,000 characters.</summary>
    public static string Printable(string text)
    {
        var printable = new string(text.Select(c => char.IsControl(c) && c is not ('\t' or '\r' or '\n') ? '?' : c).ToArray());
        return printable.Length > 4000 ? printable[..4000] + "…" : printable;
    }
}
