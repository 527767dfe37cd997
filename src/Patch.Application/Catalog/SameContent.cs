using Marten;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Catalog;

/// <summary>
/// An import of the very bytes the last import brought (same format, same core-settings version) into the catalog that
/// import left can change nothing: it is recognised — compared with the bytes this process kept, else by its SHA-256 —
/// instead of being parsed and decided again.
/// </summary>
public static class SameContent
{
    /// <summary>
    /// A recognition under way, once the content is hashed: whether this content is expected to be the last import's — this
    /// process saw it imported last, or (a process that saw no import: restarted, another node) the database's last import
    /// has its size, format, settings and hash — and the outcome, which decides (another node may have imported since):
    /// the "unchanged" result, or null.
    /// </summary>
    public sealed record Recognition(Task<bool> Expected, Task<CatalogImportResult?> Outcome);

    /// <summary>
    /// Recognises an import of the last import's content. The content is hashed while the last import is read and —
    /// when it may be the same (same size, format and settings) — this run is written "unchanged" in a transaction left
    /// open: it commits once the hash matches and rolls back otherwise, so recognising costs the hash and one commit
    /// (ADR 0033). When this process saw the last import, reading and writing are one statement. Returns once the
    /// content is hashed, while PostgreSQL answers.
    /// </summary>
    public static Recognition Recognise(IDocumentStore store, TimeProvider time, ImportCatalog command, string format,
        Dictionary<string, string> parameters, CancellationToken ct)
    {
        // The very bytes this process saw imported last (it keeps them): compared, not hashed — the run is written by one
        // statement that commits itself, if the database still has that import last on the same settings.
        if (UnchangedRun.LastSeen(store) is { Content: { } kept } seen && kept.AsSpan().SequenceEqual(command.Content))
            return new Recognition(Task.FromResult(true), SameBytesAsync(store, time, command, format, parameters, seen, ct));
        return ByHash(store, time, command, format, parameters, trySeen: true, ct);
    }

    /// <summary>
    /// Recognises the content by its SHA-256 (<see cref="Recognise"/>); <paramref name="trySeen"/>: first as the last import
    /// this process saw, in one statement (false once that statement was refused).
    /// </summary>
    private static Recognition ByHash(IDocumentStore store, TimeProvider time, ImportCatalog command, string format,
        Dictionary<string, string> parameters, bool trySeen, CancellationToken ct)
    {
        var copy = new Dictionary<string, string>(parameters);
        // The hash of the last import the database holds, once read, when it may be this content's (same size, format, settings).
        var candidate = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        // The speculation runs here until it waits for PostgreSQL, the hash while it waits (a thread of the pool to run
        // it on was often found only after the hash).
        var speculation = SpeculateAsync(store, time, command, copy, trySeen, candidate, ct);
        var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(command.Content));
        // A process that saw the last import knows its hash; one that saw none learns it from the speculation's first read.
        var expected = UnchangedRun.LastSeen(store) is { } seen
            ? Task.FromResult(seen.Run.Parameters.GetValueOrDefault("sha256") == sha256)
            : IsAsync(candidate.Task, sha256);
        return new Recognition(expected, OutcomeAsync(store, speculation, sha256, command.Content, format, parameters, ct));
    }

    private static async Task<bool> IsAsync(Task<string?> candidate, string sha256) => await candidate == sha256;

    /// <summary>The last import's very bytes: its hash stands for theirs; one statement records the run, or the hash decides after all.</summary>
    private static async Task<CatalogImportResult?> SameBytesAsync(IDocumentStore store, TimeProvider time, ImportCatalog command, string format,
        Dictionary<string, string> parameters, UnchangedRun.Seen seen, CancellationToken ct)
    {
        var copy = new Dictionary<string, string>(parameters);
        if (Guess(seen.Run, seen.SettingsVersion, copy) is { } guess)
        {
            await using var connection = store.Storage.Database.CreateConnection();
            await connection.OpenAsync(ct);
            var (started, completed) = RunEvents(StreamIds.ServerTaskRun(Guid.NewGuid()), time, command, copy, guess.Counts);
            if (await UnchangedRun.TryWriteAsync(store, connection, null, seen, command.Actor, started, completed, ct) is { } written)
            {
                foreach (var (key, value) in copy) parameters[key] = value;
                UnchangedRun.Saw(store, written, seen.SettingsVersion, seen.Content);
                return Unchanged(written.Id, format, guess.Counts);
            }
        }
        // Another node imported since, the settings changed, the store was emptied: as when the process saw nothing.
        return await ByHash(store, time, command, format, parameters, trySeen: false, ct).Outcome;
    }

    private static CatalogImportResult Unchanged(string runId, string format, IReadOnlyDictionary<string, int> counts) =>
        new(runId, ServerTaskStatus.Unchanged, format, null, 0, 0, counts["bulletinsUnchanged"], 0, 0, 0, 0, 0, counts["vulnerabilitiesUnchanged"], 0, []);

    private static async Task<CatalogImportResult?> OutcomeAsync(IDocumentStore store, Task<Speculation> speculation, string sha256, byte[] content,
        string format, Dictionary<string, string> parameters, CancellationToken ct)
    {
        await using var record = await speculation;
        parameters["sha256"] = sha256;
        parameters["settingsVersion"] = record.SettingsVersion.ToString();
        if (record.Run is not { } run || record.Sha256 != sha256) return null;
        await record.Transaction!.CommitAsync(ct);
        UnchangedRun.Saw(store, run, record.SettingsVersion, UnchangedRun.Keep(content));
        return Unchanged(run.Id, format, run.Counts);
    }

    /// <summary>This column of the last import that did not fail (the task's name in <paramref name="task"/>), newest first by the task-runs index.</summary>
    internal static string LastImport(string column, string task) => $"""
        select {column} from {PatchStore.Schema}.{Projections.PatchProjections.ServerTaskRunTable}
        where data ->> 'task' = {task} and data ->> 'status' in ('{ServerTaskStatus.Completed}', '{ServerTaskStatus.Unchanged}')
        order by {PatchStore.Schema}.mt_immutable_timestamptz(data ->> 'started') desc limit 1
        """;

    private static async Task<Speculation> SpeculateAsync(IDocumentStore store, TimeProvider time, ImportCatalog command,
        Dictionary<string, string> parameters, bool trySeen, TaskCompletionSource<string?> candidate, CancellationToken ct)
    {
        var connection = store.Storage.Database.CreateConnection();
        try
        {
            await connection.OpenAsync(ct);
            var transaction = await connection.BeginTransactionAsync(ct);
            var runId = StreamIds.ServerTaskRun(Guid.NewGuid());
            // The last import this process saw, when the database confirms it in the write itself: one round trip.
            if (trySeen && UnchangedRun.LastSeen(store) is { } seen && Guess(seen.Run, seen.SettingsVersion, parameters) is { } guess)
            {
                var (started, completed) = RunEvents(runId, time, command, parameters, guess.Counts);
                if (await UnchangedRun.TryWriteAsync(store, connection, transaction, seen, command.Actor, started, completed, ct) is { } written)
                    return new Speculation(seen.SettingsVersion, connection, guess.Sha256, transaction, written);
            }

            // Else the statement decides, while the content is hashed: it reads the last import and — when that may be this
            // content's — writes the run "unchanged" as its counts, answering that import's hash and the run as written.
            var (runStart, runEnd) = RunEvents(runId, time, command, parameters, []);
            var (lastSha256, settingsVersion, run) = await UnchangedRun.ReadAndTryWriteAsync(store, connection, transaction, parameters["bytes"], parameters["format"],
                command.Actor, runStart, runEnd, ct);
            candidate.TrySetResult(lastSha256);
            return run is null ? Speculation.None(settingsVersion, connection)
                : new Speculation(settingsVersion, connection, lastSha256, transaction, run);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        finally
        {
            // Whatever happened before the read (the write of the last import seen, a failure): no candidate beyond it.
            candidate.TrySetResult(null);
        }
    }

    /// <summary>
    /// When <paramref name="last"/> may be this content's import (same size, format and settings): its hash, which stands in
    /// for this content's until the hash is known (the record commits only if they are equal), and this run's counts. The
    /// hash and the settings' version are put in <paramref name="parameters"/>, as this run records them.
    /// </summary>
    private static (string Sha256, Dictionary<string, int> Counts)? Guess(ServerTaskRun last, long settingsVersion, Dictionary<string, string> parameters)
    {
        if (last.Parameters.GetValueOrDefault("sha256") is not { } lastSha256 || last.Parameters.GetValueOrDefault("bytes") != parameters["bytes"]) return null;
        parameters["sha256"] = lastSha256;
        parameters["settingsVersion"] = settingsVersion.ToString();
        return AsLast(last, parameters) is { } counts ? (lastSha256, counts) : null;
    }

    private static (ServerTaskStarted, ServerTaskCompleted) RunEvents(string runId, TimeProvider time, ImportCatalog command, Dictionary<string, string> parameters,
        Dictionary<string, int> counts) =>
        (ServerTaskRecorder.Started(runId, CatalogImporter.TaskName, command.Trigger, parameters, command.Actor, time),
         ServerTaskRecorder.Completed(runId, new TaskOutcome(counts, ServerTaskStatus.Unchanged), time));

    /// <summary>The run recorded "unchanged" in a transaction not yet committed; disposing rolls it back and returns the connection.</summary>
    private sealed record Speculation(long SettingsVersion, Npgsql.NpgsqlConnection Connection, string? Sha256 = null,
        Npgsql.NpgsqlTransaction? Transaction = null, ServerTaskRun? Run = null) : IAsyncDisposable
    {
        public static Speculation None(long settingsVersion, Npgsql.NpgsqlConnection connection) => new(settingsVersion, connection);

        public ValueTask DisposeAsync() => Connection.DisposeAsync();
    }

    /// <summary>The last import's counts as "unchanged" when it imported the same bytes in the same format on the same settings; else null.</summary>
    public static Dictionary<string, int>? AsLast(ServerTaskRun? last, Dictionary<string, string> parameters)
    {
        if (last is null || last.Counts.Count == 0) return null;
        foreach (var key in new[] { "sha256", "format", "settingsVersion" })
            if (last.Parameters.GetValueOrDefault(key) != parameters[key]) return null;
        int Of(string key) => last.Counts.GetValueOrDefault(key);
        return new Dictionary<string, int>
        {
            ["bulletinsUnchanged"] = Of("bulletinsAdded") + Of("bulletinsRevised") + Of("bulletinsUnchanged"),
            ["vulnerabilitiesUnchanged"] = Of("vulnerabilitiesAdded") + Of("vulnerabilitiesRevised") + Of("vulnerabilitiesUnchanged"),
            ["eventsAppended"] = 0, ["sameContent"] = 1,
        };
    }
}
