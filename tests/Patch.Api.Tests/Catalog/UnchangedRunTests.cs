using System.Text.Json;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Api.Tests.Catalog;

/// <summary>
/// An unchanged document's run written in one statement that checks what the process saw (ADR 0033, amended): the rows a
/// Marten session writes, and nothing when the guess no longer holds.
/// </summary>
public class when_an_unchanged_run_is_written_in_one_statement(AppFixture app) : AppTest(app)
{

    /// <summary>Every column of a run's stream, events and document but the ones that differ from run to run, as text.</summary>
    private async Task<List<string>> RowsAsync(string runId)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cmd = Db.CreateCommand("""
            select 'stream ' || concat_ws(' | ', s.type, s.version, s.tenant_id, s.compacted_version, s.is_archived, s.created = s.timestamp)
            from patch.mt_streams s where s.id = $1
            union all
            select * from (select 'event ' || concat_ws(' | ', e.version, e.type, e.mt_dotnet_type, e.tenant_id, e.headers::text, e.user_name, e.causation_id = e.stream_id,
                     e.correlation_id is not null, e.is_archived, e.bdata is null, (select string_agg(k, ',' order by k) from jsonb_object_keys(e.data) k),
                     e.data - 'at' - 'runId' - 'parameters', e.timestamp = (select created from patch.mt_streams where id = $1))
                   from patch.mt_events e where e.stream_id = $1 order by e.version) x
            union all
            select 'document ' || concat_ws(' | ', d.mt_dotnet_type, d.mt_version, d.data - 'id' - 'started' - 'ended' - 'parameters',
                     (select string_agg(k, ',' order by k) from jsonb_object_keys(d.data) k))
            from patch.mt_doc_server_task_run d where d.id = $1
            union all
            select 'history ' || count(*) from patch.mt_doc_server_task_run_history h where h.id = $1 and h.valid_to = 'infinity'
            """);
        cmd.Parameters.Add(new() { Value = runId });
        var rows = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) rows.Add(reader.GetString(0));
        return rows;
    }

    /// <summary>A run as text, its dictionaries in key order (a document read back from jsonb has its keys in jsonb's order).</summary>
    private static string Canonical(ServerTaskRun run) => JsonSerializer.Serialize(run with
    {
        Parameters = new SortedDictionary<string, string>(run.Parameters.ToDictionary(), StringComparer.Ordinal),
        Counts = new SortedDictionary<string, int>(run.Counts.ToDictionary(), StringComparer.Ordinal),
    });

    private static (ServerTaskStarted, ServerTaskCompleted) Run(string runId, Actor actor) =>
        (ServerTaskRecorder.Started(runId, CatalogImporter.TaskName, "api", new Dictionary<string, string> { ["format"] = "mssecure", ["sha256"] = "ab" }, actor, TimeProvider.System),
         ServerTaskRecorder.Completed(runId, new TaskOutcome(new Dictionary<string, int> { ["bulletinsUnchanged"] = 3, ["sameContent"] = 1 }, ServerTaskStatus.Unchanged), TimeProvider.System));

    [Fact]
    public async Task its_rows_are_the_ones_marten_writes_and_it_writes_only_while_the_last_import_and_the_settings_are_as_seen()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = App.Store;
        var actor = new Actor("user", "tester", Guid.NewGuid().ToString("N"), "user:tester");
        await App.ImportAsync("mssecure", SharedData.Bytes(SharedData.Mssecure));
        var last = (await GetJsonAsync("/api/catalog/imports")).GetProperty("items")[0].GetProperty("id").GetString()!;
        ServerTaskRun lastRun;
        long settings;
        await using (var query = store.QuerySession())
        {
            lastRun = (await query.LoadAsync<ServerTaskRun>(last, ct))!;
            settings = (await query.Events.FetchStreamStateAsync(StreamIds.CoreSettings, ct))?.Version ?? 0;
        }

        // A run written by a Marten session, and one by the statement: the same rows.
        var byMarten = StreamIds.ServerTaskRun(Guid.NewGuid());
        var (started, completed) = Run(byMarten, actor);
        await using (var session = store.OpenSession(actor, byMarten))
        {
            session.Events.StartStream<ServerTaskRun>(byMarten, started, completed);
            await session.SaveChangesAsync(ct);
        }
        // (The run just written by Marten completed "unchanged" after the import: it is now the last import.)
        var byStatement = StreamIds.ServerTaskRun(Guid.NewGuid());
        (started, completed) = Run(byStatement, actor);
        ServerTaskRun? written;
        await using (var conn = await Db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            written = await UnchangedRun.TryWriteAsync(store, conn, tx, new UnchangedRun.Seen(lastRun with { Id = byMarten }, settings), actor, started, completed, ct);
            await tx.CommitAsync(ct);
        }
        Assert.NotNull(written);
        var expected = await RowsAsync(byMarten);
        Assert.Equal(5, expected.Count);
        Assert.Equal(expected, await RowsAsync(byStatement));

        // Marten reads it back as its own: the events in order, the document as the events make it.
        await using (var query = store.QuerySession())
        {
            var events = await query.Events.FetchStreamAsync(byStatement, token: ct);
            Assert.Equal([typeof(ServerTaskStarted), typeof(ServerTaskCompleted)], events.Select(e => e.EventType));
            Assert.Equal([1L, 2L], events.Select(e => e.Version));
            Assert.Equal("tester", events[0].UserName);
            Assert.Equal("user:tester", events[0].Headers!["actorId"]?.ToString());
            var document = await query.LoadAsync<ServerTaskRun>(byStatement, ct);
            var aggregated = await query.Events.AggregateStreamAsync<ServerTaskRun>(byStatement, token: ct);
            Assert.Equal(Canonical(aggregated!), Canonical(document!));
            Assert.Equal(Canonical(written), Canonical(document!));
            Assert.Equal(ServerTaskStatus.Unchanged, document!.Status);
        }

        // Not the last import any more (the statement's run is), or the settings moved on: nothing is written.
        foreach (var stale in new[] { new UnchangedRun.Seen(lastRun with { Id = byMarten }, settings), new UnchangedRun.Seen(lastRun with { Id = byStatement }, settings + 1) })
        {
            var another = StreamIds.ServerTaskRun(Guid.NewGuid());
            (started, completed) = Run(another, actor);
            await using var conn = await Db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            Assert.Null(await UnchangedRun.TryWriteAsync(store, conn, tx, stale, actor, started, completed, ct));
            await tx.CommitAsync(ct);
            Assert.Equal(["history 0"], await RowsAsync(another));
        }
    }

    /// <summary>Through the API: the second unchanged re-import is written by the statement, and a settings change or another import in between is seen.</summary>
    [Fact]
    public async Task re_imports_use_what_the_process_saw_and_fall_back_when_it_changed()
    {
        var mssecure = SharedData.Bytes(SharedData.Mssecure);
        var imported = await App.ImportAsync("mssecure", mssecure);
        // The import itself is what the process saw last: its first re-import is already the one statement's.
        var seen = UnchangedRun.LastSeen(App.Store);
        Assert.Equal(imported.GetProperty("runId").GetString(), seen?.Run.Id);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(mssecure)), seen!.Run.Parameters["sha256"]);
        Assert.Equal(imported.GetProperty("status").GetString(), seen.Run.Status);
        // It keeps the bytes it imported (the request's own array: the client's is not it) to compare the next import with.
        Assert.Equal(mssecure, seen.Content);
        Assert.NotSame(mssecure, seen.Content);
        var first = await App.ImportAsync("mssecure", mssecure);
        Assert.Equal("unchanged", first.GetProperty("status").GetString());
        Assert.Equal(first.GetProperty("runId").GetString(), UnchangedRun.LastSeen(App.Store)?.Run.Id);
        var second = await App.ImportAsync("mssecure", mssecure);
        Assert.Equal("unchanged", second.GetProperty("status").GetString());
        Assert.Equal(second.GetProperty("runId").GetString(), UnchangedRun.LastSeen(App.Store)?.Run.Id);
        var rows = await RowsAsync(second.GetProperty("runId").GetString()!);
        Assert.Equal(await RowsAsync(first.GetProperty("runId").GetString()!), rows);
        Assert.Contains(rows, r => r.StartsWith("event 2 | server_task_completed") && r.Contains("\"sameContent\": 1"));

        // The core settings changed since (exclusions shape an import): decided in full, not recognised.
        var (status, _) = await SendAsync(HttpMethod.Put, "/api/settings/core", new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() });
        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        var afterSettings = await App.ImportAsync("mssecure", mssecure);
        var run = await GetJsonAsync($"/api/server-tasks/runs/{afterSettings.GetProperty("runId").GetString()}");
        Assert.False(run.GetProperty("counts").TryGetProperty("sameContent", out _));

        // Recognised again, then another document's import in between (as another node would): decided in full again.
        Assert.Equal(1, (await GetJsonAsync($"/api/server-tasks/runs/{(await App.ImportAsync("mssecure", mssecure)).GetProperty("runId").GetString()}"))
            .GetProperty("counts").GetProperty("sameContent").GetInt32());
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var afterOther = await App.ImportAsync("mssecure", mssecure);
        run = await GetJsonAsync($"/api/server-tasks/runs/{afterOther.GetProperty("runId").GetString()}");
        Assert.False(run.GetProperty("counts").TryGetProperty("sameContent", out _));
    }

    /// <summary>
    /// A process that saw no import (restarted, another node) recognises the last import's bytes by their hash, written by
    /// the same statement, without reading the document; content of the same size that is not those bytes is read and
    /// decided in full.
    /// </summary>
    [Fact]
    public async Task a_process_that_saw_no_import_recognises_its_bytes_by_their_hash_without_reading_them()
    {
        // The mssecure file with a comment after its root that no other test's document has: its reads are told apart by size.
        var mark = Guid.NewGuid().ToString("N");
        byte[] bytes = [.. SharedData.Bytes(SharedData.Mssecure), .. System.Text.Encoding.UTF8.GetBytes($"<!-- {mark} -->")];
        var reads = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == PatchTelemetry.Source.Name,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                if (a.OperationName == "catalog.read" && a.GetTagItem("patch.catalog.bytes") is int length && length == bytes.Length) reads.Enqueue(a.OperationName);
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        var first = await App.ImportAsync("mssecure", bytes);
        Assert.Equal("completed", first.GetProperty("status").GetString());
        Assert.Single(reads);
        var firstRun = UnchangedRun.LastSeen(App.Store)!.Run;
        UnchangedRun.Forget(App.Store);
        var again = await App.ImportAsync("mssecure", bytes);
        Assert.Equal("unchanged", again.GetProperty("status").GetString());
        var run = await GetJsonAsync($"/api/server-tasks/runs/{again.GetProperty("runId").GetString()}");
        Assert.Equal(1, run.GetProperty("counts").GetProperty("sameContent").GetInt32());
        Assert.Single(reads);
        var hashedId = again.GetProperty("runId").GetString()!;
        Assert.Equal(hashedId, UnchangedRun.LastSeen(App.Store)?.Run.Id);
        // The run the statement completed in SQL (the last import's hash, the settings' version, its counts summed) is the
        // one the process remembers, as Marten reads it back and as its events build it…
        var remembered = Canonical(UnchangedRun.LastSeen(App.Store)!.Run);
        await using (var query = App.Store.QuerySession())
        {
            Assert.Equal(remembered, Canonical((await query.LoadAsync<ServerTaskRun>(hashedId, TestContext.Current.CancellationToken))!));
            Assert.Equal(remembered, Canonical((await query.Events.AggregateStreamAsync<ServerTaskRun>(hashedId, token: TestContext.Current.CancellationToken))!));
        }
        // Its parameters are this import's with the last import's hash and settings' version (the bytes' own hash).
        var hashedRun = UnchangedRun.LastSeen(App.Store)!.Run;
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), hashedRun.Parameters["sha256"]);
        Assert.Equal(firstRun.Parameters["settingsVersion"], hashedRun.Parameters["settingsVersion"]);
        Assert.Equal(new[] { "bytes", "format", "settingsVersion", "sha256" }, hashedRun.Parameters.Keys.Order(StringComparer.Ordinal));
        // …and its rows are those of the run a process that saw the import writes (itself checked against Marten's).
        var seenRun = await App.ImportAsync("mssecure", bytes);
        Assert.Equal(await RowsAsync(seenRun.GetProperty("runId").GetString()!), await RowsAsync(hashedId));
        Assert.Single(reads);

        // As many bytes, not the same: read and decided (the catalog is the same: unchanged, but not as the same content).
        UnchangedRun.Forget(App.Store);
        var other = bytes.ToArray();
        other[^6] = (byte)(other[^6] == (byte)'0' ? '1' : '0');
        var decided = await App.ImportAsync("mssecure", other);
        Assert.Equal(2, reads.Count);
        run = await GetJsonAsync($"/api/server-tasks/runs/{decided.GetProperty("runId").GetString()}");
        Assert.False(run.GetProperty("counts").TryGetProperty("sameContent", out _));
    }

    /// <summary>
    /// Without a transaction of the caller's the statement commits itself in its round trip; and the bytes kept are compared
    /// whole: one byte changed in a copy of the same length, or in the client's own array after the import, is no "same content".
    /// </summary>
    [Fact]
    public async Task the_statement_commits_itself_and_only_the_very_bytes_kept_are_the_same_content()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = App.Store;
        var mssecure = SharedData.Bytes(SharedData.Mssecure);
        await App.ImportAsync("mssecure", mssecure);
        var seen = UnchangedRun.LastSeen(store)!;
        var actor = new Actor("user", "tester", Guid.NewGuid().ToString("N"), "user:tester");
        var runId = StreamIds.ServerTaskRun(Guid.NewGuid());
        var (started, completed) = Run(runId, actor);
        await using (var conn = await Db.OpenConnectionAsync(ct))
        {
            Assert.NotNull(await UnchangedRun.TryWriteAsync(store, conn, null, seen, actor, started, completed, ct));
            Assert.Equal(System.Data.ConnectionState.Open, conn.State);
        }
        // Read on another connection: committed.
        await using (var query = store.QuerySession())
            Assert.Equal(ServerTaskStatus.Unchanged, (await query.LoadAsync<ServerTaskRun>(runId, ct))!.Status);

        // The run just written is now the store's last import, not the one the process saw: the next import of the same
        // bytes finds the statement refused and is recognised by its hash (still unchanged, still in one transaction).
        var again = await App.ImportAsync("mssecure", mssecure);
        Assert.Equal("unchanged", again.GetProperty("status").GetString());
        Assert.Equal(again.GetProperty("runId").GetString(), UnchangedRun.LastSeen(store)!.Run.Id);

        // One byte of a title changed, the length the same: decided in full (a revision), not recognised.
        var title = System.Text.Encoding.UTF8.GetBytes("Title=\"");
        var at = mssecure.AsSpan().IndexOf(title) + title.Length;
        var changed = mssecure.ToArray();
        changed[at] = changed[at] == (byte)'X' ? (byte)'Y' : (byte)'X';
        var revised = await App.ImportAsync("mssecure", changed);
        Assert.Equal("completed", revised.GetProperty("status").GetString());
        Assert.True(revised.GetProperty("bulletinsRevised").GetInt32() >= 1);

        // The client's array changed after its import (reused): the server kept its request's bytes, so this is no longer the same.
        await App.ImportAsync("mssecure", mssecure);
        mssecure[at] = changed[at];
        var reused = await App.ImportAsync("mssecure", mssecure);
        Assert.NotEqual("unchanged", reused.GetProperty("status").GetString());
    }
}
