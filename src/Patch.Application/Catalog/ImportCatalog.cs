using Marten;
using Wolverine;
using Patch.Application.Catalog.Formats;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;
using Patch.Domain.Settings;
using Patch.Domain.Vulnerabilities;
using Patch.Projections.Catalog;

namespace Patch.Application.Catalog;

/// <summary>Import one vendor catalog file (C1). Run as a server task with its own history.</summary>
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

public sealed class CatalogImporter(IDocumentStore store, TimeProvider time, CatalogImportOptions options)
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
        // Content this process did not see imported last is read meanwhile, here: its answer is awaited only after.
        var read = recognition.Expected ? null : ReadNow(format, command);
        if (await started is not { } runId) return (await recognition.Outcome)!;
        try
        {
            var content = read is null ? Read(format, command) : read();
            // Two imports of overlapping documents at once (the API and a schedule, two nodes): the later commit finds a
            // stream the other just wrote and is decided again against it, rather than failing (a few tries).
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var result = content.Kev is { } kev ? await ImportKevAsync(runId, kev, command.Actor, ct) : await ImportBulletinsAsync(runId, content.Catalog!, command.Actor, ct);
                    // The next import of these bytes is recognised in one statement (the database checks that this is still the last import).
                    var run = ServerTaskRun.Create(ServerTaskRecorder.Started(runId, TaskName, command.Trigger, parameters, command.Actor, time));
                    UnchangedRun.Saw(store, ServerTaskRun.Apply(ServerTaskRecorder.Completed(runId, new TaskOutcome(Counts(result), result.Status), time), run),
                        long.Parse(parameters["settingsVersion"], System.Globalization.CultureInfo.InvariantCulture), UnchangedRun.Kept(command.Content));
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
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await ServerTaskRecorder.FailAsync(store, time, command.Actor, runId, $"{e.GetType().Name}: {e.Message}");
            throw;
        }
    }

    /// <summary>The run recorded as started once the content is known not to be the last import's; null when it is.</summary>
    private async Task<string?> StartUnlessSameAsync(SameContent.Recognition recognition, ImportCatalog command, Dictionary<string, string> parameters,
        CancellationToken ct) =>
        await recognition.Outcome is null ? await ServerTaskRecorder.StartAsync(store, time, command.Actor, TaskName, command.Trigger, parameters, ct) : null;

    /// <summary>The document read now: its content — or its refusal, thrown again — when asked.</summary>
    private Func<Content> ReadNow(string format, ImportCatalog command)
    {
        try
        {
            var content = Read(format, command);
            return () => content;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var refusal = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            return () => { refusal.Throw(); throw e; };
        }
    }

    /// <summary>The document read and checked: a vendor catalog or a KEV list.</summary>
    private sealed record Content(CatalogDocument? Catalog, KevDocument? Kev);

    private Content Read(string format, ImportCatalog command)
    {
        if (!CatalogFormats.All.Contains(format))
            throw new CatalogFormatException("Unknown format", $"Format '{command.Format}' is not one of {string.Join(", ", CatalogFormats.All)}.", "format");
        if (command.Content.Length == 0) throw new CatalogFormatException("Empty file", "The catalog file is empty.", "body");
        if (command.Content.Length > options.MaxBytes)
            throw new CatalogFormatException("Catalog file too large",
                $"The file has {command.Content.Length} bytes; the limit (Patch:Import:MaxBytes) is {options.MaxBytes}.", "body");

        if (format == "cvrf")
        {
            var cvrf = CvrfCatalogReader.Read(command.Content);
            CatalogText.Check(cvrf);
            return new Content(cvrf, null);
        }
        using var stream = new MemoryStream(command.Content, writable: false);
        if (format == "kev")
        {
            var kev = KevCatalogReader.Read(stream);
            CatalogText.Check(kev);
            return new Content(null, kev);
        }
        var document = format switch
        {
            "mssecure" => MssecureCatalogReader.Read(stream),
            _ => PatchCatalogReader.Read(stream),
        };
        CatalogText.Check(document);
        return new Content(document, null);
    }

    private async Task<CatalogImportResult> ImportBulletinsAsync(string runId, CatalogDocument document, Actor actor, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor, runId);
        await Hierarchy.CatalogLog.LockForAppendAsync(session, ct);
        var settings = await session.LoadAsync<CoreSettings>(StreamIds.CoreSettings, ct) ?? CoreSettings.Default;
        var source = $"{document.Format}:{document.DocumentId}";
        int added = 0, revised = 0, unchanged = 0, updatesAdded = 0, updatesRevised = 0, excluded = 0, events = 0, older = 0, replicated = 0;
        var addedBulletins = new List<string>();
        var append = new CatalogAppend(store, actor, runId);
        // The bulletins with new events, and each one's state before them.
        var changed = new List<(string Id, Bulletin? Current)>();
        var streams = await session.FetchManyForWritingAsync<Bulletin>(document.Bulletins.Select(b => b.StreamId), ct);
        foreach (var incoming in document.Bulletins)
        {
            var stream = streams[incoming.StreamId];
            // A bulletin this server's parent replicates is the parent's: read-only here (C10).
            if (stream.Aggregate is { } held && Domain.Hierarchy.CatalogReplication.IsReplicated(held)) { replicated++; continue; }
            var decision = CatalogImport.Decide(stream.Aggregate, incoming, settings, source);
            append.Add<Bulletin>(incoming.StreamId, stream.StartingVersion ?? 0, decision.Events);
            events += decision.Events.Count;
            if (decision.Events.Count > 0) changed.Add((incoming.StreamId, stream.Aggregate));
            if (decision.Kind == BulletinImportKind.Added) addedBulletins.Add(incoming.StreamId);
            updatesAdded += decision.UpdatesAdded;
            updatesRevised += decision.UpdatesRevised;
            excluded += decision.UpdatesExcluded;
            if (decision.Older) older++;
            switch (decision.Kind)
            {
                case BulletinImportKind.Added: added++; break;
                case BulletinImportKind.Revised: revised++; break;
                default: unchanged++; break;
            }
        }

        var facts = await DecideProductVulnerabilitiesAsync(session, append, document, source, ct);
        events += facts.Events;
        // The Remediation Center rows of the bulletins revised (a new bulletin has none yet).
        var revisedIds = changed.Where(b => b.Current is not null).Select(b => b.Id).ToArray();
        var rows = revisedIds.Length == 0 ? [] : (await session.LoadManyAsync<BulletinRow>(ct, revisedIds)).ToDictionary(r => r.Id);

        foreach (var (id, current) in changed)
        {
            append.Snapshot(id, current);
            append.Snapshot(id, rows.GetValueOrDefault(id));
        }
        foreach (var (id, current) in facts.Changed) append.Snapshot(id, current);
        await append.WriteAsync(session, ct);

        var status = events == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed;
        var skipped = older == 0 ? document.Skipped
            : [.. document.Skipped, new SkippedEntry("the store holds a newer revision of these bulletins; their facts were kept", "older bulletin facts", older)];
        if (replicated > 0)
            skipped = [.. skipped, new SkippedEntry(ReplicatedReason, "replicated bulletins", replicated)];
        if (facts.Replicated > 0) skipped = [.. skipped, new SkippedEntry(ReplicatedReason, "replicated product vulnerabilities", facts.Replicated)];
        // The analysis after the import looks only at the computers these bulletins concern; product facts (no KB) re-analyse the fleet.
        var result = new CatalogImportResult(runId, status, document.Format, document.DocumentId, added, revised, unchanged,
            updatesAdded, updatesRevised, excluded, facts.Added, facts.Revised, facts.Unchanged, events, skipped,
            ChangedBulletins: facts.Events > 0 ? null : changed.Select(b => b.Id).ToList(), AddedBulletins: addedBulletins);
        AppendCompleted(session, result);
        if (events > 0) session.QueueSqlCommand(Projections.ReadModels.MarkCatalogChanged);
        await session.SaveChangesAsync(ct);
        return result;
    }

    /// <summary>What the vulnerabilities of products fixed without a KB decided: facts of their own streams, never bulletins.</summary>
    private sealed record ProductFacts(int Added, int Revised, int Unchanged, int Replicated, IReadOnlyList<(string Id, ProductVulnerability? Current)> Changed, int Events);

    private static async Task<ProductFacts> DecideProductVulnerabilitiesAsync(IDocumentSession session, CatalogAppend append, CatalogDocument document,
        string source, CancellationToken ct)
    {
        var incoming = document.ProductVulnerabilities ?? [];
        if (incoming.Count == 0) return new ProductFacts(0, 0, 0, 0, [], 0);
        var streams = await session.FetchManyForWritingAsync<ProductVulnerability>(incoming.Select(f => StreamIds.ProductVulnerability(f.Cve, f.Product)), ct);
        int added = 0, revised = 0, unchanged = 0, replicated = 0;
        var changed = new List<(string, ProductVulnerability?)>();
        var appended = 0;
        foreach (var facts in incoming)
        {
            var id = StreamIds.ProductVulnerability(facts.Cve, facts.Product);
            var current = streams[id].Aggregate;
            // Replicated from this server's parent: read-only here.
            if (Domain.Hierarchy.CatalogReplication.IsReplicated(current?.Source)) { replicated++; continue; }
            var events = ProductVulnerability.Decide(current, facts, source);
            if (events.Count == 0) { unchanged++; continue; }
            append.Add<ProductVulnerability>(id, streams[id].StartingVersion ?? 0, events);
            changed.Add((id, current));
            appended += events.Count;
            if (current is null) added++; else revised++;
        }
        return new ProductFacts(added, revised, unchanged, replicated, changed, appended);
    }

    private const string ReplicatedReason = "replicated from this server's parent: read-only here (the parent's import changes them)";

    private async Task<CatalogImportResult> ImportKevAsync(string runId, KevDocument document, Actor actor, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor, runId);
        await Hierarchy.CatalogLog.LockForAppendAsync(session, ct);
        var streams = await session.FetchManyForWritingAsync<KnownExploitedVulnerability>(document.Vulnerabilities.Select(v => StreamIds.KnownExploited(v.Cve)), ct);
        var append = new CatalogAppend(store, actor, runId);
        int added = 0, revised = 0, unchanged = 0, events = 0, replicated = 0;
        var addedCves = new List<string>();
        foreach (var facts in document.Vulnerabilities)
        {
            var id = StreamIds.KnownExploited(facts.Cve);
            var current = streams[id].Aggregate;
            // Replicated from this server's parent: read-only here.
            if (Domain.Hierarchy.CatalogReplication.IsReplicated(current?.CatalogVersion)) { replicated++; continue; }
            var decided = KnownExploitedVulnerability.Decide(current, facts, document.CatalogVersion);
            if (decided.Count == 0) { unchanged++; continue; }
            append.Add<KnownExploitedVulnerability>(id, streams[id].StartingVersion ?? 0, decided);
            append.Snapshot(id, current);
            if (current is null)
            {
                addedCves.Add(facts.Cve);
                added++;
            }
            else revised++;
            events += decided.Count;
        }
        await append.WriteAsync(session, ct);

        var status = events == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed;
        IReadOnlyList<SkippedEntry> skipped = replicated == 0 ? [] : [new SkippedEntry(ReplicatedReason, "replicated known-exploited CVEs", replicated)];
        var result = new CatalogImportResult(runId, status, "kev", document.CatalogVersion, 0, 0, 0, 0, 0, 0, added, revised, unchanged, events, skipped, KnownExploitedAdded: addedCves);
        AppendCompleted(session, result);
        await session.SaveChangesAsync(ct);
        return result;
    }

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
