using Marten;
using Patch.Application.Catalog.Formats;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Catalog;

/// <summary>
/// Import one vendor catalog file (C1). Run as a server task with its own history. <c>Content</c> belongs to the import
/// once sent: the importer keeps the array to compare the next import with, so the sender must not change or reuse it.
/// </summary>
public sealed record ImportCatalog(byte[] Content, string Format, string Trigger, Actor Actor, string? FileName = null,
    IReadOnlyDictionary<string, string>? Source = null);

/// <summary>What an import did. <c>Status</c> is completed, unchanged or failed.</summary>
public sealed record CatalogImportResult(
    string RunId,
    string Status,
    string Format,
    string? DocumentId,
    int BulletinsAdded,
    int BulletinsRevised,
    int BulletinsUnchanged,
    int UpdatesAdded,
    int UpdatesRevised,
    int UpdatesExcluded,
    int VulnerabilitiesAdded,
    int VulnerabilitiesRevised,
    int VulnerabilitiesUnchanged,
    int EventsAppended,
    IReadOnlyList<SkippedEntry> Skipped,
    string? Error = null,
    string? ErrorTitle = null,
    string? Place = null,
    IReadOnlyList<string>? KnownExploitedAdded = null,
    [property: System.Text.Json.Serialization.JsonIgnore] IReadOnlyList<string>? ChangedBulletins = null,
    [property: System.Text.Json.Serialization.JsonIgnore] IReadOnlyList<string>? AddedBulletins = null);

public sealed class CatalogImportOptions
{
    /// <summary>Largest catalog file accepted, in bytes (Patch:Import:MaxBytes).</summary>
    public long MaxBytes { get; set; } = 64L * 1024 * 1024;
}

public static class CatalogFormats
{
    public static readonly string[] All = ["cvrf", "mssecure", "patch", "kev"];
}

public sealed partial class CatalogImporter(IDocumentStore store, TimeProvider time, CatalogImportOptions options)
{
    public const string TaskName = "catalog-import";

    public async Task<CatalogImportResult> ImportAsync(ImportCatalog command, CancellationToken ct)
    {
        using var activity = PatchTelemetry.Source.StartActivity("catalog.import");
        activity?.SetTag("patch.catalog.format", command.Format);
        activity?.SetTag("patch.trigger", command.Trigger);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        CatalogImportResult? result = null;
        try
        {
            return result = await ImportOnceAsync(command, ct);
        }
        finally
        {
            var status = result?.Status ?? ServerTaskStatus.Failed;
            activity?.SetTag("patch.result", status);
            if (status == ServerTaskStatus.Failed) activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, result?.Error);
            PatchTelemetry.CatalogImportDuration.Record(clock.Elapsed.TotalSeconds, new("format", command.Format.Trim().ToLowerInvariant()), new("result", status));
            if (result is { EventsAppended: > 0 }) PatchTelemetry.CatalogEventsAppended.Add(result.EventsAppended, new KeyValuePair<string, object?>("format", result.Format));
        }
    }

    private async Task<CatalogImportResult> ImportOnceAsync(ImportCatalog command, CancellationToken ct)
    {
        var format = command.Format.Trim().ToLowerInvariant();
        var parameters = new Dictionary<string, string> { ["format"] = format, ["bytes"] = command.Content.Length.ToString() };
        if (command.FileName is not null) parameters["fileName"] = ServerTaskRecorder.Printable(command.FileName);
        foreach (var (key, value) in command.Source ?? new Dictionary<string, string>()) parameters[key] = value;
        // The very content the last import brought, on the same core settings, into the catalog that import left: nothing can change.
        var recognition = SameContent.Recognise(store, time, command, format, parameters, ct);
        // Once PostgreSQL says it is not, the run is recorded (its own transaction, kept whatever the import meets).
        var started = StartUnlessSameAsync(recognition, command, parameters, ct);
        // Then the import's session takes the catalog's lock and reads the core settings.
        var preparing = PrepareAsync(started, command.Actor, ct);
        // Content not expected to be the last import's is read meanwhile, here: its answer is awaited only after.
        var read = await recognition.Expected ? null : ReadNow(format, command);
        if (await started is not { } runId) return (await recognition.Outcome)!;
        var taken = false;
        try
        {
            var content = read is null ? Read(format, command) : read();
            // Two imports of overlapping documents at once (the API and a schedule, two nodes): the later commit finds a
            // stream the other just wrote and is decided again against it, rather than failing (a few tries).
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var prepared = taken ? null : await preparing;
                    taken = true;
                    var result = content.Kev is { } kev ? await ImportKevAsync(runId, kev, command.Actor, prepared, ct)
                        : await ImportBulletinsAsync(runId, content.Catalog!, command.Actor, prepared, ct);
                    // The next import of these bytes is recognised in one statement (the database checks that this is still the last import).
                    var run = ServerTaskRun.Create(ServerTaskRecorder.Started(runId, TaskName, command.Trigger, parameters, command.Actor, time));
                    UnchangedRun.Saw(store, ServerTaskRun.Apply(ServerTaskRecorder.Completed(runId, new TaskOutcome(Counts(result), result.Status), time), run),
                        long.Parse(parameters["settingsVersion"], System.Globalization.CultureInfo.InvariantCulture), UnchangedRun.Keep(command.Content));
                    return result;
                }
                catch (Exception e) when (attempt < 4 && StoreConflict.Is(e))
                {
                    await Task.Delay(50 * attempt, ct);
                }
            }
        }
        catch (CatalogFormatException e)
        {
            await ServerTaskRecorder.FailAsync(store, time, command.Actor, runId, e.Message);
            return Failed(runId, format, e.Title, e.Detail, e.Place);
        }
        catch (OperationCanceledException)
        {
            // The request went away (a proxy's timeout, a client that closed), the feed's run was cancelled, the server stops:
            // the import's writes are one transaction, never committed; its run must not stay "running".
            await ServerTaskRecorder.FailAsync(store, time, command.Actor, runId, "Cancelled before the import completed: nothing of it was written.");
            throw;
        }
        catch (Exception e)
        {
            await ServerTaskRecorder.FailAsync(store, time, command.Actor, runId, $"{e.GetType().Name}: {e.Message}");
            throw;
        }
        finally
        {
            if (!taken) await DiscardAsync(preparing);
        }
    }

    /// <summary>The run recorded as started once the content is known not to be the last import's; null when it is.</summary>
    private async Task<string?> StartUnlessSameAsync(SameContent.Recognition recognition, ImportCatalog command, Dictionary<string, string> parameters,
        CancellationToken ct) =>
        await recognition.Outcome is null ? await ServerTaskRecorder.StartAsync(store, time, command.Actor, TaskName, command.Trigger, parameters, ct) : null;

    private void AppendCompleted(IDocumentSession session, CatalogImportResult r) =>
        session.Events.Append(r.RunId, ServerTaskRecorder.Completed(r.RunId, new TaskOutcome(Counts(r), r.Status), time));

    private static Dictionary<string, int> Counts(CatalogImportResult r) => new()
    {
        ["bulletinsAdded"] = r.BulletinsAdded, ["bulletinsRevised"] = r.BulletinsRevised, ["bulletinsUnchanged"] = r.BulletinsUnchanged,
        ["updatesAdded"] = r.UpdatesAdded, ["updatesRevised"] = r.UpdatesRevised, ["updatesExcluded"] = r.UpdatesExcluded,
        ["vulnerabilitiesAdded"] = r.VulnerabilitiesAdded, ["vulnerabilitiesRevised"] = r.VulnerabilitiesRevised,
        ["vulnerabilitiesUnchanged"] = r.VulnerabilitiesUnchanged, ["eventsAppended"] = r.EventsAppended,
        ["skipped"] = r.Skipped.Sum(s => s.Count),
    };

    private static CatalogImportResult Failed(string runId, string format, string title, string detail, string? place) =>
        new(runId, ServerTaskStatus.Failed, format, null, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, [], detail, title, place);
}
