using Marten;
using Npgsql;
using Patch.Application.Common;

namespace Patch.Application.Hierarchy;

/// <summary>
/// The parent's catalog events in the order of the event log, as a feed children can follow from a checkpoint
/// (ADR 0032). A sequence number is taken when a transaction appends, not when it commits: a reader could see a later
/// import's events before an earlier one commits and step over it. So every transaction that appends catalog events
/// holds a shared advisory lock from before its append to its commit, and the feed reads under the exclusive one:
/// no catalog transaction is then half-way, and any that starts later appends after everything the reader saw.
/// </summary>
public static class CatalogLog
{
    /// <summary>"PATCHCAT": the advisory lock of catalog appends.</summary>
    private const long LockKey = 0x5041544348434154;

    /// <summary>Called by every writer of catalog events before it saves: opens the session's transaction and takes the shared lock.</summary>
    public static async Task LockForAppendAsync(IDocumentSession session, CancellationToken ct)
    {
        await session.BeginTransactionAsync(ct);
        await using var cmd = session.Connection!.CreateCommand();
        cmd.CommandText = $"select pg_advisory_xact_lock_shared({LockKey})";
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static string[] Types => [.. ReplicationProtocol.EventTypes.Keys];

    /// <summary>
    /// Up to <paramref name="limit"/> catalog events after <paramref name="after"/>, and the checkpoint after them:
    /// the last event's sequence when the page is full, else the log's end as it stood (nothing catalog can come before it),
    /// with the id of the event at that place (a log restored from an older backup and grown again has another there).
    /// </summary>
    public static async Task<(IReadOnlyList<FeedEvent> Events, long Next, long Head, Guid? NextId)> ReadAsync(NpgsqlDataSource db, long after, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var lockCmd = new NpgsqlCommand($"select pg_advisory_xact_lock({LockKey})", conn, tx)) await lockCmd.ExecuteNonQueryAsync(ct);
        var events = new List<FeedEvent>();
        await using (var cmd = new NpgsqlCommand($"""
            select seq_id, id, stream_id, type, timestamp, data::text from {PatchStore.Schema}.mt_events
            where seq_id > $1 and type = any($2) order by seq_id limit $3
            """, conn, tx))
        {
            cmd.Parameters.AddWithValue(after);
            cmd.Parameters.AddWithValue(Types);
            cmd.Parameters.AddWithValue(limit);
            await using var row = await cmd.ExecuteReaderAsync(ct);
            while (await row.ReadAsync(ct))
                events.Add(new FeedEvent(row.GetInt64(0), row.GetGuid(1), row.GetString(2), row.GetString(3), row.GetFieldValue<DateTimeOffset>(4),
                    System.Text.Json.JsonDocument.Parse(row.GetString(5)).RootElement.Clone()));
        }
        var (end, endId) = await EndAsync(conn, tx, ct);
        await tx.CommitAsync(ct);
        var (next, nextId) = events.Count == limit ? (events[^1].Sequence, events[^1].Id) : after > end ? (after, null) : (end, endId);
        return (events, next, end, nextId);
    }

    /// <summary>
    /// The log's end with no catalog transaction half-way (taken under the exclusive lock): the catalog read after it
    /// holds at least every catalog event up to it, so a Complete run re-bases on it.
    /// </summary>
    public static async Task<(long Head, Guid? HeadId)> SettledHeadAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var lockCmd = new NpgsqlCommand($"select pg_advisory_xact_lock({LockKey})", conn, tx)) await lockCmd.ExecuteNonQueryAsync(ct);
        var head = await EndAsync(conn, tx, ct);
        await tx.CommitAsync(ct);
        return head;
    }

    /// <summary>The log's end and the id of the event there (none in an empty log).</summary>
    private static async Task<(long Sequence, Guid? Id)> EndAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select seq_id, id from {PatchStore.Schema}.mt_events order by seq_id desc limit 1", conn, tx);
        await using var row = await cmd.ExecuteReaderAsync(ct);
        return await row.ReadAsync(ct) ? (row.GetInt64(0), row.GetGuid(1)) : (0, null);
    }

    /// <summary>The log's end: the last sequence number handed out (events of every kind share it).</summary>
    public static async Task<long> HeadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select coalesce((select max(seq_id) from {PatchStore.Schema}.mt_events), 0)", conn, tx);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Catalog events after a child's checkpoint: how far behind it is.</summary>
    public static async Task<long> PendingAsync(NpgsqlDataSource db, long checkpoint, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"select count(*) from {PatchStore.Schema}.mt_events where seq_id > $1 and type = any($2)");
        cmd.Parameters.AddWithValue(checkpoint);
        cmd.Parameters.AddWithValue(Types);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
