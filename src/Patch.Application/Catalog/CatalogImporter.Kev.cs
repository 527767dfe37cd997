using Patch.Application.Catalog.Formats;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;
using Patch.Domain.Vulnerabilities;

namespace Patch.Application.Catalog;

/// <summary>A known-exploited list decided and appended in one batch (ADR 0046).</summary>
public sealed partial class CatalogImporter
{
    private async Task<CatalogImportResult> ImportKevAsync(string runId, KevDocument document, Actor actor, Prepared? prepared, CancellationToken ct)
    {
        await using var session = (await SessionAsync(runId, actor, prepared, ct)).Session;
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
}
