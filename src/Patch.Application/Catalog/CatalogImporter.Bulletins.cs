using Marten;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;
using Patch.Domain.Vulnerabilities;
using Patch.Projections.Catalog;

namespace Patch.Application.Catalog;

/// <summary>A vendor catalog's bulletins and product vulnerabilities decided and appended in one batch (ADR 0046).</summary>
public sealed partial class CatalogImporter
{
    private async Task<CatalogImportResult> ImportBulletinsAsync(string runId, CatalogDocument document, Actor actor, Prepared? prepared, CancellationToken ct)
    {
        var opened = await SessionAsync(runId, actor, prepared, ct);
        await using var session = opened.Session;
        var settings = opened.Settings;
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
}
