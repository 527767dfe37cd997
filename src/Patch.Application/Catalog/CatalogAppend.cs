using JasperFx.Events;
using Marten;
using Marten.Events;
using Npgsql;
using Patch.Application.Common;
using Patch.Projections;
using Patch.Projections.Catalog;

namespace Patch.Application.Catalog;

/// <summary>
/// The events an import decided for many catalog streams, appended in one statement on the session's transaction, and
/// the streams' inline snapshots folded by the store's own aggregators and written after them (ADR 0046). Marten
/// appends a stream at a time (a call of its append function each, the inline projections run per stream): for the
/// hundred streams of a monthly document that was half the import's save. The rows are the ones Marten writes — the
/// store's serializer and event type names, each stream's alias, the session's headers, correlation, causation and user
/// name — so Marten reads them back as its own. Each stream is written only if it is still at the version the decision
/// read (a stream decided as new, only if it still does not exist); otherwise nothing is and the import is decided again.
/// </summary>
public sealed class CatalogAppend(IDocumentStore store, Actor actor, string causationId)
{
    private const string S = PatchStore.Schema;

    /// <summary>
    /// The streams are locked in key order and their versions checked first; only when every one is as read are the
    /// streams moved (existing ones) or created (new ones) and the events inserted after them, in the order given. The
    /// answer is the number of streams written: all of them, or none.
    /// </summary>
    private static readonly string Sql = $"""
        with locked as materialized (
          select m.id, m.version from {S}.mt_streams m where m.id = any($1) order by m.id for update),
        as_read as materialized (
          select 1 as ok where not exists (
            select 1 from unnest($1::text[], $3::bigint[]) as u(id, expected) left join locked l on l.id = u.id
            where coalesce(l.version, 0) <> u.expected)),
        moved as (
          update {S}.mt_streams m set version = u.expected + u.n, timestamp = now()
          from unnest($1::text[], $3::bigint[], $4::int[]) as u(id, expected, n), as_read
          where m.id = u.id and u.expected > 0
          returning m.id),
        created as (
          insert into {S}.mt_streams (id, type, version, timestamp, created, tenant_id)
          select u.id, u.type, u.n, now(), now(), '*DEFAULT*'
          from unnest($1::text[], $2::text[], $3::bigint[], $4::int[]) as u(id, type, expected, n), as_read
          where u.expected = 0 order by u.id
          returning id),
        written as materialized (select (select count(*) from moved) + (select count(*) from created) as n),
        appended as (
          insert into {S}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, correlation_id, causation_id, headers, user_name, is_archived)
          select nextval('{S}.mt_events_sequence'), e.id, e.stream, e.version, e.data::jsonb, e.type, now(), '*DEFAULT*', e.dotnet_type, $11, $12, $13::jsonb, $14, false
          from unnest($5::text[], $6::uuid[], $7::bigint[], $8::text[], $9::text[], $10::text[]) with ordinality as e(stream, id, version, type, dotnet_type, data, ord), written w
          where w.n = cardinality($1::text[])
          order by e.ord
          returning 1)
        select w.n, (select count(*) from appended) from written w
        """;

    /// <summary>The inline snapshots this append writes, each type's table (Marten's: no duplicated field, checked by a test).</summary>
    public static readonly IReadOnlyDictionary<Type, string> Tables = new Dictionary<Type, string>
    {
        [typeof(Domain.Catalog.Bulletin)] = PatchProjections.BulletinTable,
        [typeof(BulletinRow)] = PatchProjections.BulletinRowTable,
        [typeof(Domain.Vulnerabilities.ProductVulnerability)] = PatchProjections.ProductVulnerabilityTable,
        [typeof(Domain.Vulnerabilities.KnownExploitedVulnerability)] = PatchProjections.KnownExploitedTable,
    };

    /// <summary>The documents of one type, inserted or replaced as Marten's upsert of an inline snapshot does (its stream's version, the transaction's instant).</summary>
    private static string Upsert(string table) => $"""
        insert into {S}.{table} as d (id, data, mt_version, mt_dotnet_type, mt_last_modified)
        select u.id, u.data::jsonb, u.version, $4, transaction_timestamp() from unnest($1::text[], $2::text[], $3::bigint[]) as u(id, data, version)
        on conflict (id) do update set data = excluded.data, mt_version = excluded.mt_version, mt_dotnet_type = excluded.mt_dotnet_type,
          mt_last_modified = excluded.mt_last_modified
        """;

    private readonly List<(string Id, string Type, long Expected, IReadOnlyList<object> Events)> _streams = [];
    private readonly Dictionary<string, (long Version, IReadOnlyList<object> Events)> _new = new(StringComparer.Ordinal);
    private readonly List<(Type Type, string Id, Func<IDocumentSession, CancellationToken, ValueTask<object>> Fold)> _snapshots = [];

    public int Streams => _streams.Count;

    /// <summary>The events of a stream of <typeparamref name="TAggregate"/>, decided against <paramref name="expected"/> (0: the stream does not exist yet).</summary>
    public void Add<TAggregate>(string id, long expected, IReadOnlyList<object> events)
    {
        if (events.Count == 0) return;
        // The readers refuse a document naming a stream twice; a second decision here would be a defect, never a retry.
        if (!_new.TryAdd(id, (expected + events.Count, events))) throw new InvalidOperationException($"The catalog stream {id} was decided twice in one import.");
        _streams.Add((id, ((EventGraph)store.Options.Events).AggregateAliasFor(typeof(TAggregate)), expected, events));
    }

    /// <summary>
    /// The inline snapshot <typeparamref name="T"/> of a stream added before, from <paramref name="current"/> and its new events
    /// by the store's own aggregator for the type (the inline projection's code): folded while its events are written.
    /// </summary>
    public void Snapshot<T>(string id, T? current) where T : class
    {
        var events = _new[id].Events;
        _snapshots.Add((typeof(T), id, async (session, ct) =>
        {
            var graph = (EventGraph)store.Options.Events;
            return await ((StoreOptions)store.Options).Projections.AggregatorFor<T>().BuildAsync(events.Select(graph.BuildEvent).ToList(), session, current, ct)
                   ?? throw new InvalidOperationException($"The events of {typeof(T).Name} {id} folded to nothing.");
        }));
    }

    /// <summary>
    /// The events, then the snapshots, on the session's transaction: the snapshots are folded and serialized while
    /// PostgreSQL appends the events. Throws <see cref="CatalogStreamsMoved"/> (nothing written) when another writer moved
    /// a stream since it was read.
    /// </summary>
    public async Task WriteAsync(IDocumentSession session, CancellationToken ct)
    {
        if (_streams.Count == 0) return;
        var serializer = store.Options.Serializer();
        var graph = (EventGraph)store.Options.Events;
        var events = _streams.SelectMany(s => s.Events.Select((e, i) => (s.Id, Version: s.Expected + i + 1, Event: e))).ToList();
        var mappings = events.Select(e => graph.EventMappingFor(e.Event.GetType())).ToList();
        var headers = new Dictionary<string, object> { ["actorKind"] = actor.Kind };
        if (actor.Id is not null) headers["actorId"] = actor.Id;
        await using (var batch = new NpgsqlBatch(session.Connection))
        {
            batch.BatchCommands.Add(Agents.AgentEventAppend.Positional(Sql,
                _streams.Select(s => s.Id).ToArray(), _streams.Select(s => s.Type).ToArray(), _streams.Select(s => s.Expected).ToArray(),
                _streams.Select(s => s.Events.Count).ToArray(),
                events.Select(e => e.Id).ToArray(), events.Select(_ => Guid.CreateVersion7()).ToArray(), events.Select(e => e.Version).ToArray(),
                mappings.Select(m => m.EventTypeName).ToArray(), mappings.Select(m => m.DotNetTypeName).ToArray(),
                events.Select(e => serializer.ToJson(e.Event)).ToArray(), actor.CorrelationId, causationId, serializer.ToJson(headers), actor.Name));
            var appending = batch.ExecuteReaderAsync(ct);
            var documents = new List<(Type Type, string Id, string Json)>(_snapshots.Count);
            try
            {
                foreach (var (type, id, fold) in _snapshots) documents.Add((type, id, serializer.ToJson(await fold(session, ct))));
            }
            finally
            {
                await using var reader = await appending;
                await reader.ReadAsync(ct);
                if (reader.GetInt64(0) != _streams.Count) throw new CatalogStreamsMoved(_streams.Count);
                if (reader.GetInt64(1) != events.Count) throw new InvalidOperationException($"{reader.GetInt64(1)} of {events.Count} catalog events were appended.");
            }
            if (documents.Count == 0) return;
            await using var upserts = new NpgsqlBatch(session.Connection);
            foreach (var type in documents.GroupBy(d => d.Type))
                upserts.BatchCommands.Add(Agents.AgentEventAppend.Positional(Upsert(Tables[type.Key]), type.Select(d => d.Id).ToArray(),
                    type.Select(d => d.Json).ToArray(), type.Select(d => _new[d.Id].Version).ToArray(), type.Key.FullName));
            await upserts.ExecuteNonQueryAsync(ct);
        }
    }
}

/// <summary>Another writer moved a catalog stream between this import's read and its write: nothing was written, the import is decided again.</summary>
public sealed class CatalogStreamsMoved(int streams) : Exception($"Another writer changed some of the {streams} catalog streams this import decided; nothing was written.");
