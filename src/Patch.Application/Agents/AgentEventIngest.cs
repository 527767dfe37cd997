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
    /// <c>Patch:Ingest:EventWriters</c>, 1 to 16 (default 2).
    /// </summary>
    private int Writers => _queues.Length;

    private sealed record Pending(AgentCaller Computer, IReadOnlyList<AgentEventInput> Events, TaskCompletionSource<AgentEventsAccepted> Done);

    /// <summary>One queue per writer; a computer's batches always go to the same one (never two transactions on its stream at once).</summary>
    private readonly Channel<Pending>[] _queues = Enumerable.Range(0, Math.Clamp(config.GetValue("Patch:Ingest:EventWriters", 2), 1, 16))
        .Select(_ => Channel.CreateBounded<Pending>(new BoundedChannelOptions(5_000) { FullMode = BoundedChannelFullMode.Wait })).ToArray();

    /// <summary>Agents' event batches waiting to be stored (telemetry: patch.agent.ingest.queue).</summary>
    public int Waiting => _queues.Sum(q => q.Reader.Count);

    public static readonly string Ddl = $"""
        create schema if not exists {PatchStore.Schema};
        create table if not exists {PatchStore.Schema}.agent_event_receipts (computer_id text not null, event_id uuid not null, received_at timestamptz not null default now(),
            primary key (computer_id, event_id));
        """;

    /// <summary>The receipts exist before the first request is served (the read models' tables: <see cref="Projections.ReadModelSchema"/>, started before).</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await using (var cmd = db.CreateCommand(Ddl)) await cmd.ExecuteNonQueryAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

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
        while (await queue.WaitToReadAsync(stoppingToken))
        {
            batch.Clear();
            using var linger = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            linger.CancelAfter(Linger);
            try
            {
                while (batch.Count < MaxBatchesPerTransaction)
                {
                    if (queue.TryRead(out var next)) batch.Add(next);
                    else if (!await queue.WaitToReadAsync(linger.Token)) break;
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
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

    private async Task AppendAsync(IReadOnlyList<Pending> batches, CancellationToken ct)
    {
        // Event ids are the agents' own: they are unique per computer, so one agent can never shadow another's events.
        var keys = batches.SelectMany(b => b.Events.Select(e => (b.Computer.ComputerId, e.Id))).Distinct().ToList();
        var known = new HashSet<(string, Guid)>();
        await using (var cmd = db.CreateCommand($"select computer_id, event_id from {PatchStore.Schema}.agent_event_receipts r join unnest(@computers, @ids) k(c, e) on r.computer_id = k.c and r.event_id = k.e"))
        {
            cmd.Parameters.AddWithValue("computers", keys.Select(k => k.Item1).ToArray());
            cmd.Parameters.AddWithValue("ids", keys.Select(k => k.Item2).ToArray());
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) known.Add((reader.GetString(0), reader.GetGuid(1)));
        }

        await using var session = store.LightweightSession();
        session.SetHeader("actorKind", "agent");
        session.LastModifiedBy = batches.Count == 1 ? batches[0].Computer.Name : $"{batches.Count} agents (batched)";
        var results = new List<(Pending Batch, AgentEventsAccepted Result)>();
        var deliveries = new List<(string Computer, AgentEventInput Event)>();
        var receipts = new List<(string Computer, Guid Event)>();
        foreach (var b in batches)
        {
            var fresh = b.Events.Where(e => known.Add((b.Computer.ComputerId, e.Id))).ToList();
            foreach (var e in fresh)
            {
                // Status events have a stream per computer of their own, so they never contend with its inventory.
                var stream = AgentStatusReported.StreamId(b.Computer.Name);
                if (e.IsStatus)
                {
                    session.Events.Append(stream, new AgentStatusReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Status!, e.Bulletin, e.UpdateId, e.Detail, e.PolicyId, e.LastApplied));
                    if (e.PolicyId is not null && e.UpdateId is not null) deliveries.Add((b.Computer.ComputerId, e));
                }
                else if (e.IsRestart)
                {
                    session.Events.Append(stream, new AgentRestartReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Kind!, e.At, e.Detail));
                    session.QueueSqlCommand(Projections.Delivery.DeliveryTables.UpsertRestart(e.Kind!), b.Computer.ComputerId, e.OccurredAt, (object?)e.At ?? DBNull.Value);
                }
                else
                {
                    session.Events.Append(stream, new AgentCycleReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Kind!, e.Trigger, e.Detail));
                }
                receipts.Add((b.Computer.ComputerId, e.Id));
            }
            results.Add((b, new AgentEventsAccepted(b.Events.Count, fresh.Count, b.Events.Count - fresh.Count)));
        }
        // The receipts of every fresh event of the transaction in one statement (a statement per event cost more than the events).
        if (receipts.Count > 0)
            session.QueueSqlCommand($"insert into {PatchStore.Schema}.agent_event_receipts (computer_id, event_id) select * from unnest(?, ?)",
                receipts.Select(r => r.Computer).ToArray(), receipts.Select(r => r.Event).ToArray());
        if (deliveries.Count > 0)
            session.QueueSqlCommand(Projections.Delivery.DeliveryTables.InsertStatuses,
                deliveries.Select(d => d.Computer).ToArray(), deliveries.Select(d => d.Event.Id).ToArray(), deliveries.Select(d => d.Event.PolicyId!).ToArray(),
                deliveries.Select(d => d.Event.Bulletin).ToArray(), deliveries.Select(d => d.Event.UpdateId!).ToArray(), deliveries.Select(d => d.Event.Status!).ToArray(),
                deliveries.Select(d => d.Event.OccurredAt).ToArray(), deliveries.Select(d => d.Event.LastApplied?.ToString("O")).ToArray(),
                deliveries.Select(d => d.Event.Detail).ToArray());
        await session.SaveChangesAsync(ct);
        PatchTelemetry.AgentEventsIngested.Add(results.Sum(r => r.Result.New));
        PatchTelemetry.AgentEventsDuplicate.Add(results.Sum(r => r.Result.Duplicates));
        foreach (var (b, result) in results) b.Done.TrySetResult(result);
    }
}
