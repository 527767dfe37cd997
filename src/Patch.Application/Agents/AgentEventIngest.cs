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

    public bool IsStatus => Kind is null or StatusKind;

    public bool IsRestart => Kind is AgentRestartReported.Pending or AgentRestartReported.Deferred or AgentRestartReported.Restarted;
}

public sealed record AgentEventBatch(IReadOnlyList<AgentEventInput>? Events);

public sealed record AgentEventsAccepted(int Received, int New, int Duplicates);

/// <summary>
/// Agent status events at fleet scale (ADR 0011): many agents' batches are appended in one transaction (collected for
/// up to a few milliseconds or 200 batches), and each request is answered only after that transaction committed.
/// Event ids already received are dropped, so a retried batch appends nothing.
/// </summary>
public sealed class AgentEventIngest(IDocumentStore store, NpgsqlDataSource db, ILogger<AgentEventIngest> logger, IConfiguration config)
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

    /// <summary>The receipts exist before the first request is served (the read models' tables: <see cref="Projections.ReadModelSchema"/>, started before).</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await using (var cmd = db.CreateCommand(AgentEventReceipts.Ddl)) await cmd.ExecuteNonQueryAsync(cancellationToken);
        Trusted = config.GetValue("Patch:Ingest:TrustedAppend", true) && await AgentEventAppend.MayTrustAsync(db, cancellationToken);
        if (!Trusted) logger.LogInformation("Agent events are appended with PostgreSQL's per-row stream check (ADR 0039): trusted appends are off or not permitted");
        await base.StartAsync(cancellationToken);
    }

    /// <summary>
    /// The events' append skips PostgreSQL's per-row check of their streams, which the statement guarantees itself (ADR 0039):
    /// <c>Patch:Ingest:TrustedAppend</c> (default true) and a database user permitted to (a superuser, or granted
    /// <c>SET ON PARAMETER session_replication_role</c>).
    /// </summary>
    public bool Trusted { get; private set; }

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

    /// <summary>Every (computer, event id) offered once, ordered by computer (ordinal) then id: the receipts' key order.</summary>
    private static (string[] Computers, Guid[] Ids) Offered(IReadOnlyList<Pending> batches)
    {
        var computers = new List<string>();
        var ids = new List<Guid>();
        foreach (var computer in batches.GroupBy(b => b.Computer.ComputerId, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var own = computer.SelectMany(b => b.Events).Select(e => e.Id).Distinct().ToArray();
            Array.Sort(own);
            computers.AddRange(Enumerable.Repeat(computer.Key, own.Length));
            ids.AddRange(own);
        }
        return (computers.ToArray(), ids.ToArray());
    }

    private async Task AppendAsync(IReadOnlyList<Pending> batches, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // The receipts first, in the same transaction (ADR 0034). Event ids are the agents' own: unique per computer, so
        // one agent can never shadow another's events.
        // In key order, as the streams are: two transactions (two nodes) sharing keys wait for each other, never deadlock.
        var (computers, ids) = Offered(batches);
        var fresh = await AgentEventReceipts.ReceiveAsync(tx, computers, ids, ct);

        var userName = batches.Count == 1 ? batches[0].Computer.Name : $"{batches.Count} agents (batched)";
        var events = new List<(string Stream, object Event)>();
        var results = new List<(Pending Batch, AgentEventsAccepted Result)>();
        var deliveries = new List<(string Computer, AgentEventInput Event)>();
        await using var writes = new NpgsqlBatch(conn, tx);
        foreach (var b in batches)
        {
            // An id twice in the transaction is new once.
            var received = fresh.GetValueOrDefault(b.Computer.ComputerId);
            var isNew = b.Events.Where(e => received?.Remove(e.Id) == true).ToList();
            foreach (var e in isNew)
            {
                // Status events have a stream per computer of their own, so they never contend with its inventory.
                var stream = AgentStatusReported.StreamId(b.Computer.Name);
                if (e.IsStatus)
                {
                    events.Add((stream, new AgentStatusReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Status!, e.Bulletin, e.UpdateId, e.Detail, e.PolicyId, e.LastApplied)));
                    if (e.PolicyId is not null && e.UpdateId is not null) deliveries.Add((b.Computer.ComputerId, e));
                }
                else if (e.IsRestart)
                {
                    events.Add((stream, new AgentRestartReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Kind!, e.At, e.Detail)));
                    writes.BatchCommands.Add(AgentEventAppend.Positional(Projections.Delivery.DeliveryTables.UpsertRestart(e.Kind!), b.Computer.ComputerId, e.OccurredAt,
                        new NpgsqlParameter { Value = (object?)e.At ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz }));
                }
                else
                {
                    events.Add((stream, new AgentCycleReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Kind!, e.Trigger, e.Detail)));
                }
            }
            results.Add((b, new AgentEventsAccepted(b.Events.Count, isNew.Count, b.Events.Count - isNew.Count)));
        }
        // Every new event of the transaction in one statement (ADR 0034), the deliveries' statuses in one more.
        if (events.Count > 0)
        {
            if (Trusted) writes.BatchCommands.Add(new NpgsqlBatchCommand(AgentEventAppend.Trust));
            writes.BatchCommands.Add(_append.Command(events, AgentHeaders, userName));
            if (Trusted) writes.BatchCommands.Add(new NpgsqlBatchCommand(AgentEventAppend.Distrust));
        }
        if (deliveries.Count > 0)
            writes.BatchCommands.Add(AgentEventAppend.Positional(Projections.Delivery.DeliveryTables.InsertStatuses,
                deliveries.Select(d => d.Computer).ToArray(), deliveries.Select(d => d.Event.Id).ToArray(), deliveries.Select(d => d.Event.PolicyId!).ToArray(),
                deliveries.Select(d => d.Event.Bulletin).ToArray(), deliveries.Select(d => d.Event.UpdateId!).ToArray(), deliveries.Select(d => d.Event.Status!).ToArray(),
                deliveries.Select(d => d.Event.OccurredAt).ToArray(), deliveries.Select(d => d.Event.LastApplied?.ToString("O")).ToArray(),
                deliveries.Select(d => d.Event.Detail).ToArray()));
        if (writes.BatchCommands.Count > 0) await writes.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
        PatchTelemetry.AgentEventsIngested.Add(results.Sum(r => r.Result.New));
        PatchTelemetry.AgentEventsDuplicate.Add(results.Sum(r => r.Result.Duplicates));
        foreach (var (b, result) in results) b.Done.TrySetResult(result);
    }
}
