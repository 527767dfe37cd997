using Npgsql;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

/// <summary>What one transaction of agents' events writes (ADR 0034): the events not received before, each once, and what they imply.</summary>
public sealed partial class AgentEventIngest
{
    /// <summary>The ids of the events dated before <paramref name="until"/> that the receipts of the server before its upgrade hold.</summary>
    private static async Task<HashSet<Guid>> LegacyHeldAsync(NpgsqlTransaction tx, IReadOnlyList<Pending> batches, List<Guid[]> ids, DateTimeOffset until, CancellationToken ct)
    {
        var older = batches.SelectMany((b, n) => b.Events.Select((e, i) => (b.Computer.ComputerId, e, Id: ids[n][i]))).Where(x => x.e.OccurredAt <= until).ToList();
        if (older.Count == 0) return [];
        var found = await AgentEventReceipts.LegacyHeldAsync(tx, older.Select(o => o.ComputerId).ToArray(), older.Select(o => o.e.Id).ToArray(), ct);
        return older.Where(o => found.Contains((o.ComputerId, o.e.Id))).Select(o => o.Id).ToHashSet();
    }

    /// <summary>
    /// The transaction's writes: its new events (not held by the store, and each once) in one statement under the
    /// receipts' savepoint, the restarts' and the deliveries' statuses; and what each batch is answered.
    /// </summary>
    private List<(Pending Batch, AgentEventsAccepted Result)> Plan(IReadOnlyList<Pending> batches, List<Guid[]> ids, HashSet<Guid> held, NpgsqlBatch writes)
    {
        var userName = batches.Count == 1 ? batches[0].Computer.Name : $"{batches.Count} agents (batched)";
        var events = new List<(string Stream, Guid Id, object Event)>();
        var results = new List<(Pending Batch, AgentEventsAccepted Result)>();
        var deliveries = new List<(string Computer, AgentEventInput Event)>();
        var restarts = new List<NpgsqlBatchCommand>();
        var appended = new HashSet<Guid>();
        for (var n = 0; n < batches.Count; n++)
        {
            var b = batches[n];
            // Status events have a stream per computer of their own, so they never contend with its inventory.
            var stream = AgentStatusReported.StreamId(b.Computer.Name);
            var fresh = 0;
            for (var i = 0; i < b.Events.Count; i++)
            {
                // An id twice in the transaction is new once.
                var (e, id) = (b.Events[i], ids[n][i]);
                if (held.Contains(id) || !appended.Add(id)) continue;
                fresh++;
                if (e.IsStatus)
                {
                    events.Add((stream, id, new AgentStatusReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Status!, e.Bulletin, e.UpdateId, e.Detail, e.PolicyId, e.LastApplied, e.AgentTime)));
                    if (e.PolicyId is not null && e.UpdateId is not null) deliveries.Add((b.Computer.ComputerId, e));
                }
                else if (e.IsRestart)
                {
                    events.Add((stream, id, new AgentRestartReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Kind!, e.At, e.Detail, e.AgentTime)));
                    restarts.Add(AgentEventAppend.Positional(Projections.Delivery.DeliveryTables.UpsertRestart(e.Kind!), b.Computer.ComputerId, e.OccurredAt,
                        new NpgsqlParameter { Value = (object?)e.At ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz }));
                }
                else
                {
                    events.Add((stream, id, new AgentCycleReported(b.Computer.ComputerId, e.Id, e.OccurredAt, e.Kind!, e.Trigger, e.Detail, e.AgentTime)));
                }
            }
            results.Add((b, new AgentEventsAccepted(b.Events.Count, fresh, b.Events.Count - fresh)));
        }
        if (events.Count == 0) return results;
        // Every new event of the transaction in one statement (ADR 0034), the restarts' and deliveries' statuses after it.
        writes.BatchCommands.Add(new NpgsqlBatchCommand($"savepoint {AgentEventReceipts.Savepoint}"));
        if (Trusted) writes.BatchCommands.Add(new NpgsqlBatchCommand(AgentEventAppend.Trust));
        writes.BatchCommands.Add(_append.Command(events, AgentHeaders, userName));
        if (Trusted) writes.BatchCommands.Add(new NpgsqlBatchCommand(AgentEventAppend.Distrust));
        foreach (var restart in restarts) writes.BatchCommands.Add(restart);
        if (deliveries.Count > 0)
            writes.BatchCommands.Add(AgentEventAppend.Positional(Projections.Delivery.DeliveryTables.InsertStatuses,
                deliveries.Select(d => d.Computer).ToArray(), deliveries.Select(d => d.Event.Id).ToArray(), deliveries.Select(d => d.Event.PolicyId!).ToArray(),
                deliveries.Select(d => d.Event.Bulletin).ToArray(), deliveries.Select(d => d.Event.UpdateId!).ToArray(), deliveries.Select(d => d.Event.Status!).ToArray(),
                deliveries.Select(d => d.Event.OccurredAt).ToArray(), deliveries.Select(d => d.Event.LastApplied?.ToString("O")).ToArray(),
                deliveries.Select(d => d.Event.Detail).ToArray()));
        return results;
    }
}
