using System.Runtime.CompilerServices;
using Marten;
using Marten.Events;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Catalog;

/// <summary>
/// The "unchanged" run of a document this server last imported, written in one statement that also checks what it
/// assumes (ADR 0033, amended): the last import this process recorded or read is still the store's last one and the core
/// settings are still at the version it was read at. The run's rows are the ones a Marten session writes for
/// <c>StartStream&lt;ServerTaskRun&gt;(started, completed)</c> — the stream, its two events with the actor's headers and
/// names, the inline snapshot — so Marten reads them back as its own; the document's history trigger runs as always.
/// When the check fails nothing is written and the caller asks the database (another node imported, the settings
/// changed, the store was emptied).
/// </summary>
public static class UnchangedRun
{
    private const string S = PatchStore.Schema;

    /// <summary>The last import a process saw per store (the run and the core settings' version with it): only a guess, checked by the write.</summary>
    private static readonly ConditionalWeakTable<IDocumentStore, Seen> Last = new();

    /// <summary>The last import seen: its run, the core settings' version, and — up to <see cref="MaxKeptBytes"/> — its content.</summary>
    public sealed record Seen(ServerTaskRun Run, long SettingsVersion, byte[]? Content = null);

    /// <summary>The largest content kept to compare the next import with (a CVRF month is 3 MB); larger content is recognised by its hash.</summary>
    public const int MaxKeptBytes = 16 * 1024 * 1024;

    public static Seen? LastSeen(IDocumentStore store) => Last.TryGetValue(store, out var seen) ? seen : null;

    public static void Saw(IDocumentStore store, ServerTaskRun run, long settingsVersion, byte[]? content = null) =>
        Last.AddOrUpdate(store, new Seen(run, settingsVersion, content));

    /// <summary>
    /// The content to keep, or null when it is too large: the command's own array, which no one changes once it is sent
    /// (<see cref="ImportCatalog.Content"/>). A copy cost a CVRF month's recognition 1.2–2.2 ms of a second thread's time
    /// and a large-object allocation: on two cores, the hashed recognition's median went from 2.1–2.5× a SHA-256 pass to
    /// 1.6–1.9× without it (docs/benchmarks.md, stop 50).
    /// </summary>
    public static byte[]? Keep(byte[] content) => content.Length <= MaxKeptBytes ? content : null;

    /// <summary>Forgets the last import seen: for a store emptied under the process (a benchmark), where the guess is sure to fail.</summary>
    public static void Forget(IDocumentStore store) => Last.Remove(store);

    private static readonly string Sql = $"""
        with still as (
          select 1 where ({SameContent.LastImport("id", "$1")}) = $2 and coalesce((select version from {S}.mt_streams where id = $3), 0) = $4),
        stream as (
          insert into {S}.mt_streams (id, type, version, timestamp, created, tenant_id)
          select $5, $6, 2, now(), now(), '*DEFAULT*' from still returning id),
        events as (
          insert into {S}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, correlation_id, causation_id, headers, user_name, is_archived)
          select nextval('{S}.mt_events_sequence'), e.id, s.id, e.version, e.data::jsonb, e.type, now(), '*DEFAULT*', e.dotnet_type, $7, s.id, $8::jsonb, $9, false
          from stream s cross join unnest($10::uuid[], $11::text[], $12::text[], $13::text[]) with ordinality as e(id, type, dotnet_type, data, version)
          order by e.version)
        insert into {S}.{Projections.PatchProjections.ServerTaskRunTable} (id, data, mt_last_modified, mt_dotnet_type, mt_version)
        select s.id, $14::jsonb, transaction_timestamp(), $15, 2 from stream s
        """;

    /// <summary>The last import's counts summed as "unchanged" (<see cref="SameContent.AsLast"/>): added, revised and unchanged.</summary>
    private static string Unchanged(string kind) =>
        string.Join(" + ", new[] { "Added", "Revised", "Unchanged" }.Select(c => $"coalesce((c ->> '{kind}{c}')::int, 0)"));

    /// <summary>
    /// <see cref="ReadAndTryWriteAsync"/>'s statement: the run's rows (as <see cref="Sql"/> writes them) only when the last
    /// import may be this content's, its values completed from it; answered: that import's hash, the settings' version, the run.
    /// </summary>
    private static readonly string ReadAndWriteSql = $"""
        with last as ({SameContent.LastImport("data", "$1")}),
        read as (select (select data from last) as data, coalesce((select version from {S}.mt_streams where id = $2), 0) as settings),
        same as (
          select jsonb_build_object('sha256', p ->> 'sha256', 'settingsVersion', settings::text) as parameters,
            jsonb_build_object('bulletinsUnchanged', {Unchanged("bulletins")}, 'vulnerabilitiesUnchanged', {Unchanged("vulnerabilities")},
              'eventsAppended', 0, 'sameContent', 1) as counts
          from read cross join lateral (select data -> 'parameters' as p, data -> 'counts' as c) x
          where p ->> 'sha256' is not null and p ->> 'bytes' = $3 and p ->> 'format' = $4 and p ->> 'settingsVersion' = settings::text
            and c <> jsonb_build_object()),
        stream as (
          insert into {S}.mt_streams (id, type, version, timestamp, created, tenant_id)
          select $5, $6, 2, now(), now(), '*DEFAULT*' from same returning id),
        events as (
          insert into {S}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, correlation_id, causation_id, headers, user_name, is_archived)
          select nextval('{S}.mt_events_sequence'), e.id, s.id, e.version, e.data, e.type, now(), '*DEFAULT*', e.dotnet_type, $7, s.id, $8::jsonb, $9, false
          from stream s cross join same
            cross join lateral unnest($10::uuid[], $11::text[], $12::text[], array[
              jsonb_set(($13::text[])[1]::jsonb, array['parameters'], (($13::text[])[1]::jsonb -> 'parameters') || same.parameters),
              jsonb_set(($13::text[])[2]::jsonb, array['counts'], same.counts)]) with ordinality as e(id, type, dotnet_type, data, version)
          order by e.version),
        run as (
          insert into {S}.{Projections.PatchProjections.ServerTaskRunTable} (id, data, mt_last_modified, mt_dotnet_type, mt_version)
          select s.id, jsonb_set(jsonb_set($14::jsonb, array['parameters'], ($14::jsonb -> 'parameters') || same.parameters), array['counts'], same.counts),
            transaction_timestamp(), $15, 2
          from stream s cross join same returning data)
        select (select parameters ->> 'sha256' from same), (select settings from read), (select data from run)
        """;

    /// <summary>
    /// Writes the run (started, then completed) on <paramref name="transaction"/> — or, without one, in a transaction of its
    /// own committed in the same round trip — when <paramref name="seen"/> is still the last import on the same settings;
    /// answers the run as written, or null when nothing was.
    /// </summary>
    public static async Task<ServerTaskRun?> TryWriteAsync(IDocumentStore store, NpgsqlConnection connection, NpgsqlTransaction? transaction, Seen seen, Actor actor,
        ServerTaskStarted started, ServerTaskCompleted completed, CancellationToken ct)
    {
        var run = ServerTaskRun.Apply(completed, ServerTaskRun.Create(started));
        await using var batch = new NpgsqlBatch(connection, transaction);
        if (transaction is null) batch.BatchCommands.Add(new NpgsqlBatchCommand("begin"));
        // Nothing changed: the record of it need not wait for the WAL to reach the disk (a crash could lose only this record).
        batch.BatchCommands.Add(new NpgsqlBatchCommand("set local synchronous_commit = off"));
        var write = Agents.AgentEventAppend.Positional(Sql, [CatalogImporter.TaskName, seen.Run.Id, StreamIds.CoreSettings, seen.SettingsVersion,
            .. Rows(store, actor, started, completed, run)]);
        batch.BatchCommands.Add(write);
        if (transaction is null) batch.BatchCommands.Add(new NpgsqlBatchCommand("commit"));
        await batch.ExecuteNonQueryAsync(ct);
        return write.RecordsAffected == 1 ? run : null;
    }

    /// <summary>
    /// For a process that saw no import (or whose guess failed): reads the last import that did not fail and the core
    /// settings' version and — in the same statement, so that it is done while the content is hashed — writes the run
    /// "unchanged" as that import's counts when that import brought content of this size and format on these settings (its
    /// hash and the settings' version added to <paramref name="started"/>'s parameters, its counts summed as
    /// <see cref="SameContent.AsLast"/> sums them into <paramref name="completed"/>'s). Answers that import's hash (null when
    /// it cannot be this content's), the settings' version and the run as written. The transaction decides: the caller
    /// commits it only once the content's hash is that import's.
    /// </summary>
    public static async Task<(string? LastSha256, long SettingsVersion, ServerTaskRun? Run)> ReadAndTryWriteAsync(IDocumentStore store, NpgsqlConnection connection,
        NpgsqlTransaction transaction, string bytes, string format, Actor actor, ServerTaskStarted started, ServerTaskCompleted completed, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("set local synchronous_commit = off"));
        batch.BatchCommands.Add(Agents.AgentEventAppend.Positional(ReadAndWriteSql, [CatalogImporter.TaskName, StreamIds.CoreSettings, bytes, format,
            .. Rows(store, actor, started, completed, ServerTaskRun.Apply(completed, ServerTaskRun.Create(started)))]));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(1),
            reader.IsDBNull(2) ? null : store.Options.Serializer().FromJson<ServerTaskRun>(reader.GetStream(2)));
    }

    /// <summary>The values of <c>$5…$15</c>: the stream, the events' rows (with the actor's headers) and the run's snapshot.</summary>
    private static object?[] Rows(IDocumentStore store, Actor actor, ServerTaskStarted started, ServerTaskCompleted completed, ServerTaskRun run)
    {
        var serializer = store.Options.Serializer();
        var events = (EventGraph)store.Options.Events;
        var mappings = new[] { events.EventMappingFor(typeof(ServerTaskStarted)), events.EventMappingFor(typeof(ServerTaskCompleted)) };
        var headers = new Dictionary<string, object> { ["actorKind"] = actor.Kind };
        if (actor.Id is not null) headers["actorId"] = actor.Id;
        return [started.RunId, events.AggregateAliasFor(typeof(ServerTaskRun)), actor.CorrelationId, serializer.ToJson(headers), actor.Name,
            new[] { Guid.CreateVersion7(), Guid.CreateVersion7() }, mappings.Select(m => m.EventTypeName).ToArray(),
            mappings.Select(m => m.DotNetTypeName).ToArray(), new[] { serializer.ToJson(started), serializer.ToJson(completed) },
            serializer.ToJson(run), typeof(ServerTaskRun).FullName!];
    }
}
