using System.Collections.Concurrent;
using Marten;
using Marten.Events;
using Npgsql;
using Patch.Application.Common;

namespace Patch.Application.Agents;

/// <summary>
/// Agents' events appended to their computers' event streams in one set-based statement per transaction (ADR 0034),
/// instead of Marten's append function, which inserts each event from a PL/pgSQL loop, a stream at a time. The rows are
/// the ones Marten writes — the store's serializer and event type names, the event sequence, versions following each
/// stream's, the actor's headers and name — so Marten reads them back as its own. Only agent event streams are written
/// this way: nothing but this ingest appends to them and no inline projection reads them.
/// </summary>
public sealed class AgentEventAppend(IDocumentStore store)
{
    private const string S = PatchStore.Schema;

    /// <summary>
    /// The streams' versions move by the number of their new events (a stream that does not exist yet starts at them),
    /// each event takes the next version of its stream and the next number of the event sequence, in the order given.
    /// The streams are locked in key order. Each event's place from its stream's end (<c>back</c>: 0 for its last) is
    /// counted by the caller, so its version is its stream's new version less that: no window over the events to sort.
    /// </summary>
    private static readonly string Sql = $"""
        with streams as (
          insert into {S}.mt_streams as m (id, version, timestamp)
          select stream, n, now() from unnest($8::text[], $9::bigint[]) as u(stream, n) order by stream
          on conflict (id) do update set version = m.version + excluded.version, timestamp = now()
          returning m.id, m.version)
        insert into {S}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, mt_dotnet_type, is_archived, headers, user_name)
        select nextval('{S}.mt_events_sequence'), i.id, i.stream, s.version - i.back, i.data::jsonb, i.type, now(), i.dotnet_type, false, $6::jsonb, $7
        from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $10::int[]) with ordinality as i(stream, id, type, dotnet_type, data, back, ord)
        join streams s on s.id = i.stream
        order by i.ord
        """;

    /// <summary>
    /// The append's statement alone runs as a replication apply (ADR 0039): PostgreSQL's per-row check that each event's
    /// stream exists (Marten's foreign key, half the statement's time) is skipped, because the statement itself writes
    /// and locks every stream it appends to before the events. Only the events' own triggers are skipped with it: they
    /// stamp <c>now()</c>, which the statement writes. Back to normal right after, in the same transaction.
    /// </summary>
    public const string Trust = "set local session_replication_role = replica";

    public const string Distrust = "set local session_replication_role = origin";

    /// <summary>Whether this database user may run the append trusted: a superuser, or granted <c>SET ON PARAMETER session_replication_role</c> (PostgreSQL 15+).</summary>
    public static async Task<bool> MayTrustAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using (var superuser = new NpgsqlCommand("select current_setting('is_superuser') = 'on'", conn))
            if ((bool)(await superuser.ExecuteScalarAsync(ct))!) return true;
        if (conn.PostgreSqlVersion.Major < 15) return false;
        await using var granted = new NpgsqlCommand("select has_parameter_privilege('session_replication_role', 'SET')", conn);
        return (bool)(await granted.ExecuteScalarAsync(ct))!;
    }

    private readonly ConcurrentDictionary<Type, (string Type, string DotNet)> _names = new();

    /// <summary>The append of these events (in order, with their ids in the store), with the actor's headers and name, as one command of a batch.</summary>
    public NpgsqlBatchCommand Command(IReadOnlyList<(string Stream, Guid Id, object Event)> events, IReadOnlyDictionary<string, object> headers, string? userName)
    {
        var serializer = store.Options.Serializer();
        var names = events.Select(e => _names.GetOrAdd(e.Event.GetType(), type =>
        {
            var mapping = ((EventGraph)store.Options.Events).EventMappingFor(type);
            return (mapping.EventTypeName, mapping.DotNetTypeName);
        })).ToList();
        // Each stream's new events, and each event's place from its stream's end.
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (stream, _, _) in events) counts[stream] = counts.GetValueOrDefault(stream) + 1;
        var back = new int[events.Count];
        var seen = new Dictionary<string, int>(counts.Count, StringComparer.Ordinal);
        for (var i = 0; i < events.Count; i++)
        {
            var before = seen.GetValueOrDefault(events[i].Stream);
            seen[events[i].Stream] = before + 1;
            back[i] = counts[events[i].Stream] - before - 1;
        }
        return Positional(Sql, events.Select(e => e.Stream).ToArray(), events.Select(e => e.Id).ToArray(), names.Select(n => n.Type).ToArray(),
            names.Select(n => n.DotNet).ToArray(), events.Select(e => serializer.ToJson(e.Event)).ToArray(), serializer.ToJson(headers), userName,
            counts.Keys.ToArray(), counts.Values.Select(n => (long)n).ToArray(), back);
    }

    /// <summary>A command of a batch with these values for its <c>$1…$n</c> in order (null is SQL null; an <see cref="NpgsqlParameter"/> as given).</summary>
    public static NpgsqlBatchCommand Positional(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
            command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter { Value = value ?? DBNull.Value });
        return command;
    }
}
