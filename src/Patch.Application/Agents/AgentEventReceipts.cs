using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Patch.Application.Common;

namespace Patch.Application.Agents;

/// <summary>
/// The receipts of agents' events (ADR 0011, 0034 amended): an event appended is its own receipt. Its id in the event
/// store is drawn from its computer and the agent's own id for it, and the store keeps event ids unique
/// (<c>idx_mt_events_event_id</c>), so an event received before cannot be appended again — a retried batch appends
/// nothing. Agents' ids are unique per computer only: one agent can never shadow another's events.
/// </summary>
public static class AgentEventReceipts
{
    /// <summary>The unique index of the store's event ids (Marten's <c>EnableUniqueIndexOnEventId</c>).</summary>
    public const string UniqueIndex = "idx_mt_events_event_id";

    /// <summary>
    /// The store's ids of a computer's events, from the agent's ids. The first four bytes come from the computer alone, so
    /// one computer's events sit together in the index (a batch touches a page or two, not one per event); the rest from
    /// SHA-256 over the computer and the agent's id. Marked as an RFC 9562 version 8 (vendor-specific) UUID.
    /// </summary>
    public static Guid[] EventIds(string computerId, IReadOnlyList<Guid> agentIds)
    {
        var computer = Encoding.UTF8.GetBytes(computerId);
        Span<byte> prefix = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(computer, prefix);
        var input = new byte[computer.Length + 1 + 16];
        computer.CopyTo(input, 0);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var ids = new Guid[agentIds.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            agentIds[i].TryWriteBytes(input.AsSpan(computer.Length + 1), bigEndian: true, out _);
            SHA256.HashData(input, hash);
            prefix[..4].CopyTo(hash);
            hash[6] = (byte)(0x80 | (hash[6] & 0x0F));
            hash[8] = (byte)(0x80 | (hash[8] & 0x3F));
            ids[i] = new Guid(hash[..16], bigEndian: true);
        }
        return ids;
    }

    /// <summary>The savepoint a transaction's append runs under: an event received before fails it, and the transaction goes back to it.</summary>
    public const string Savepoint = "receipts";

    /// <summary>Whether the append failed because an event was received before (or is being appended by another transaction, which committed).</summary>
    public static bool ReceivedBefore(Exception e) =>
        e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: UniqueIndex };

    /// <summary>Which of these ids the store holds, with what each event says (its data).</summary>
    public static async Task<Dictionary<Guid, string>> HeldAsync(NpgsqlTransaction tx, Guid[] ids, CancellationToken ct)
    {
        await using var held = new NpgsqlCommand($"select id, data::text from {PatchStore.Schema}.mt_events where id = any($1)", tx.Connection, tx) { Parameters = { new() { Value = ids } } };
        await using var reader = await held.ExecuteReaderAsync(ct);
        var found = new Dictionary<Guid, string>();
        while (await reader.ReadAsync(ct)) found[reader.GetGuid(0)] = reader.GetString(1);
        return found;
    }

    /// <summary>
    /// The first event of a batch whose id was received before as another event (another time, status, kind, update,
    /// policy or detail), named; null when every event held is the same one sent again. A retry resends its events as they
    /// were: an id with other content is an agent's fault, and dropping it as a duplicate would lose what it says.
    /// </summary>
    public static string? Conflict(IReadOnlyList<AgentEventInput> events, Guid[] ids, IReadOnlyDictionary<Guid, string> held)
    {
        for (var i = 0; i < events.Count; i++)
        {
            if (!held.TryGetValue(ids[i], out var data)) continue;
            var e = events[i];
            using var stored = System.Text.Json.JsonDocument.Parse(data);
            var s = stored.RootElement;
            string? Text(string name) => s.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
            DateTimeOffset? When(string name) => Text(name) is { } t ? DateTimeOffset.Parse(t, System.Globalization.CultureInfo.InvariantCulture) : null;
            // The agent's own time: the server moves a batch from a clock running ahead by the skew it finds on receipt.
            var same = (When("agentTime") ?? When("occurredAt")) == (e.AgentTime ?? e.OccurredAt)
                && (e.IsStatus ? Text("status") == e.Status && Text("bulletin") == e.Bulletin && Text("updateId") == e.UpdateId && Text("policyId") == e.PolicyId
                    : Text("kind") == e.Kind)
                && Text("detail") == e.Detail;
            if (!same)
                return $"events[{i}].id: {e.Id} was received before as another event (another time, kind, status, update, policy or detail): an event's id names one event";
        }
        return null;
    }

    /// <summary>
    /// A server upgraded from the receipts' own table (ADR 0034 before its amendment of stop 38) keeps it, read-only: an
    /// agent keeps what it sent until it is answered, so a batch received then may come again. At the first start after
    /// the upgrade the table is marked with that instant (its comment); events dated before it — and the day an agent's
    /// clock may run ahead of the server's — are looked up in it too. An empty table is dropped. Answers that instant
    /// plus the day, or null when there is no such table.
    /// </summary>
    public static async Task<DateTimeOffset?> LegacyUntilAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using (var exists = new NpgsqlCommand($"select to_regclass('{LegacyTable}') is not null", conn))
            if (!(bool)(await exists.ExecuteScalarAsync(ct))!) return null;
        await using (var any = new NpgsqlCommand($"select exists (select from {LegacyTable})", conn))
        {
            if (!(bool)(await any.ExecuteScalarAsync(ct))!)
            {
                await using var drop = new NpgsqlCommand($"drop table if exists {LegacyTable}", conn);
                await drop.ExecuteNonQueryAsync(ct);
                return null;
            }
        }
        await using var mark = new NpgsqlCommand($"""
            do $$ begin
              if obj_description('{LegacyTable}'::regclass, 'pg_class') is null then
                execute format('comment on table {LegacyTable} is %L', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
              end if;
            end $$;
            select obj_description('{LegacyTable}'::regclass, 'pg_class');
            """, conn);
        var since = DateTimeOffset.Parse((string)(await mark.ExecuteScalarAsync(ct))!, System.Globalization.CultureInfo.InvariantCulture);
        return since.AddDays(1);
    }

    /// <summary>The receipts' table of a server before the upgrade (<see cref="LegacyUntilAsync"/>).</summary>
    public const string LegacyTable = $"{PatchStore.Schema}.agent_event_receipts";

    /// <summary>Which of these (computer, agent's id) pairs the upgraded server's old receipts hold.</summary>
    public static async Task<HashSet<(string Computer, Guid Id)>> LegacyHeldAsync(NpgsqlTransaction tx, string[] computers, Guid[] ids, CancellationToken ct)
    {
        await using var held = new NpgsqlCommand($"""
            select r.computer_id, r.event_id from {LegacyTable} r join unnest($1::text[], $2::uuid[]) as u(computer, id)
              on r.computer_id = u.computer and r.event_id = u.id
            """, tx.Connection, tx) { Parameters = { new() { Value = computers }, new() { Value = ids } } };
        await using var reader = await held.ExecuteReaderAsync(ct);
        var found = new HashSet<(string, Guid)>();
        while (await reader.ReadAsync(ct)) found.Add((reader.GetString(0), reader.GetGuid(1)));
        return found;
    }
}
