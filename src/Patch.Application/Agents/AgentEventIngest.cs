using System.Threading.Channels;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

/// <summary>
/// One event of an agent. <see cref="Kind"/> is "status" (the default: an update's status, with the policy that assigned it),
/// "restartPending" / "restartDeferred" / "restarted" (with <see cref="At"/>: when the restart is planned or deferred to),
/// or "cycleStarted" / "cycleCompleted" / "cycleStopped" (with the cycle's <see cref="Trigger"/>).
/// </summary>
public sealed record AgentEventInput(Guid Id, DateTimeOffset OccurredAt, string? Status, string? Bulletin, string? UpdateId, string? Detail,
    string? Kind = null, string? PolicyId = null, DateTimeOffset? LastApplied = null, DateTimeOffset? At = null, string? Trigger = null)
{
    public const string StatusKind = "status";

    public static readonly string[] Kinds =
    [
        StatusKind, AgentRestartReported.Pending, AgentRestartReported.Deferred, AgentRestartReported.Restarted,
        AgentCycleReported.Started, AgentCycleReported.Completed, AgentCycleReported.Stopped,
    ];

    [System.Text.Json.Serialization.JsonIgnore] public bool IsStatus => Kind is null or StatusKind;

    /// <summary>The agent's own time, when its batch ran ahead of the server's receipt and <see cref="OccurredAt"/> was moved back (set by the server).</summary>
    [System.Text.Json.Serialization.JsonIgnore] public DateTimeOffset? AgentTime { get; init; }

    /// <summary>How far an agent's clock may run ahead of the server's receipt before its batch is moved back to the receipt (ADR 0013).</summary>
    public static readonly TimeSpan ClockTolerance = TimeSpan.FromMinutes(5);

    [System.Text.Json.Serialization.JsonIgnore] public bool IsRestart => Kind is AgentRestartReported.Pending or AgentRestartReported.Deferred or AgentRestartReported.Restarted;
}

public sealed record AgentEventBatch(IReadOnlyList<AgentEventInput>? Events);

public sealed record AgentEventsAccepted(int Received, int New, int Duplicates);

/// <summary>A batch refused because an event's id was received before as another event (<see cref="AgentEventReceipts.Conflict"/>).</summary>
public sealed class AgentEventConflictException(string detail) : Exception(detail);

/// <summary>
/// Agent status events at fleet scale (ADR 0011): many agents' batches are appended in one transaction (collected for
/// up to a few milliseconds or 200 batches), and each request is answered only after that transaction committed.
/// Event ids already received are dropped, so a retried batch appends nothing.
/// </summary>
public sealed partial class AgentEventIngest(IDocumentStore store, NpgsqlDataSource db, ILogger<AgentEventIngest> logger, IConfiguration config)
    : BackgroundService
{
    public const int MaxBatch = 1000;
    private const int MaxBatchesPerTransaction = 200;
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Transactions written at once, each by its own writer from its own queue: while one waits for PostgreSQL (its
    /// appends, its WAL flush), the other's is built and sent. A computer's batches always go to the same writer, so
    /// two transactions never append to one stream at once and a computer's events keep their order.
    /// <c>Patch:Ingest:EventWriters</c>, 1 to 16 (default 4, ADR 0034).
    /// </summary>
    private int Writers => _queues.Length;

    private readonly AgentEventAppend _append = new(store);

    private static readonly IReadOnlyDictionary<string, object> AgentHeaders = new Dictionary<string, object> { ["actorKind"] = "agent" };

    private sealed record Pending(AgentCaller Computer, IReadOnlyList<AgentEventInput> Events, TaskCompletionSource<AgentEventsAccepted> Done);

    /// <summary>One queue per writer; a computer's batches always go to the same one (never two transactions on its stream at once).</summary>
    private readonly Channel<Pending>[] _queues = Enumerable.Range(0, Math.Clamp(config.GetValue("Patch:Ingest:EventWriters", 4), 1, 16))
        .Select(_ => Channel.CreateBounded<Pending>(new BoundedChannelOptions(5_000) { FullMode = BoundedChannelFullMode.Wait })).ToArray();

    /// <summary>Agents' event batches waiting to be stored (telemetry: patch.agent.ingest.queue).</summary>
    public int Waiting => _queues.Sum(q => q.Reader.Count);

    /// <summary>Whether the append may run trusted, and the receipts of a server before its upgrade, settled before the first request is served.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        Trusted = config.GetValue("Patch:Ingest:TrustedAppend", true) && await AgentEventAppend.MayTrustAsync(db, cancellationToken);
        _legacyUntil = await AgentEventReceipts.LegacyUntilAsync(db, cancellationToken);
        if (!Trusted) logger.LogInformation("Agent events are appended with PostgreSQL's per-row stream check (ADR 0039): trusted appends are off or not permitted");
        await base.StartAsync(cancellationToken);
    }

    /// <summary>
    /// The events' append skips PostgreSQL's per-row check of their streams, which the statement guarantees itself (ADR 0039):
    /// <c>Patch:Ingest:TrustedAppend</c> (default true) and a database user permitted to (a superuser, or granted
    /// <c>SET ON PARAMETER session_replication_role</c>).
    /// </summary>
    public bool Trusted { get; private set; }

    /// <summary>Events dated before this are also looked up in the receipts of a server before its upgrade (<see cref="AgentEventReceipts.LegacyUntilAsync"/>).</summary>
    private DateTimeOffset? _legacyUntil;

    public async Task<AgentEventsAccepted> SubmitAsync(AgentCaller computer, IReadOnlyList<AgentEventInput> events, CancellationToken ct)
    {
        var done = new TaskCompletionSource<AgentEventsAccepted>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queues[(uint)StringComparer.Ordinal.GetHashCode(computer.ComputerId) % (uint)Writers].Writer.WriteAsync(new Pending(computer, events, done), ct);
        return await done.Task.WaitAsync(ct);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(_queues.Select(queue => Task.Run(() => WriteAsync(queue.Reader, stoppingToken), stoppingToken)));

    private async Task WriteAsync(ChannelReader<Pending> queue, CancellationToken stoppingToken)
    {
        var batch = new List<Pending>();
        // One wait for more at a time, kept past the linger's end for the next transaction: a channel's wait cancelled
        // by a timeout throws inside the channel — one exception a transaction, dozens a second under load.
        Task<bool>? more = null;
        while (await (more ??= queue.WaitToReadAsync(stoppingToken).AsTask()))
        {
            more = null;
            batch.Clear();
            var lingered = Task.Delay(Linger, stoppingToken);
            while (batch.Count < MaxBatchesPerTransaction)
            {
                if (queue.TryRead(out var next)) { batch.Add(next); continue; }
                more = queue.WaitToReadAsync(stoppingToken).AsTask();
                // Lingered (or stopping): this batch goes now and the wait stays for the next; closed: the loop ends after it.
                if (await Task.WhenAny(more, lingered) != more || !more.IsCompletedSuccessfully || !more.Result) break;
                more = null;
            }

            try
            {
                await AppendAsync(batch, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One bad or racing batch must not fail the others: retry them one by one.
                logger.LogWarning(e, "Combined append of {Count} agent batches failed; appending them one by one", batch.Count);
                foreach (var one in batch)
                {
                    try
                    {
                        await AppendAsync([one], stoppingToken);
                    }
                    catch (Exception inner) when (inner is not OperationCanceledException)
                    {
                        one.Done.TrySetException(inner);
                    }
                }
            }
        }
    }

    private async Task AppendAsync(IReadOnlyList<Pending> pending, CancellationToken ct)
    {
        var batches = pending.ToList();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // Each event's id in the store is drawn from its computer and the agent's id for it (ADR 0034, amended): the store
        // keeps event ids unique, so an event received before fails the append, and the transaction goes back, asks which
        // the store holds and appends the rest. What agents send is almost always new: one statement, no look-up first.
        var ids = batches.Select(b => AgentEventReceipts.EventIds(b.Computer.ComputerId, b.Events.Select(e => e.Id).ToList())).ToList();
        var held = _legacyUntil is { } until ? await LegacyHeldAsync(tx, batches, ids, until, ct) : [];
        List<(Pending Batch, AgentEventsAccepted Result)> results;
        for (var attempt = 1; ; attempt++)
        {
            await using var writes = new NpgsqlBatch(conn, tx);
            results = Plan(batches, ids, held, writes);
            try
            {
                if (writes.BatchCommands.Count > 0) await writes.ExecuteNonQueryAsync(ct);
                break;
            }
            // Received before, or by another transaction (two nodes, a retry) that committed while this one waited for it.
            catch (Exception e) when (AgentEventReceipts.ReceivedBefore(e) && attempt < 4)
            {
                await tx.RollbackAsync(AgentEventReceipts.Savepoint, ct);
                var found = await AgentEventReceipts.HeldAsync(tx, ids.SelectMany(i => i).Where(i => !held.Contains(i)).ToArray(), ct);
                held.UnionWith(found.Keys);
                // An id received before as another event is no retry: that agent's batch is refused whole, the others go on.
                for (var b = batches.Count - 1; b >= 0; b--)
                    if (AgentEventReceipts.Conflict(batches[b].Events, ids[b], found) is { } conflict)
                    {
                        batches[b].Done.TrySetException(new AgentEventConflictException(conflict));
                        batches.RemoveAt(b);
                        ids.RemoveAt(b);
                    }
            }
        }
        await tx.CommitAsync(ct);
        PatchTelemetry.AgentEventsIngested.Add(results.Sum(r => r.Result.New));
        PatchTelemetry.AgentEventsDuplicate.Add(results.Sum(r => r.Result.Duplicates));
        foreach (var (b, result) in results) b.Done.TrySetResult(result);
    }
}
