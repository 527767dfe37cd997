using Marten;
using Patch.Application.Common;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>What became of a page: applied, already applied before (its end is behind the checkpoint), or not applicable (it starts after the checkpoint: a gap).</summary>
public enum PageOutcome { Applied, AlreadyApplied, Gap }

/// <summary>
/// One page of the parent's catalog events applied on the child, online or from a bundle: its events and the checkpoint
/// it moves to in one transaction, under the catalog's append lock (the child is a parent too).
/// </summary>
public static class ReplicationPages
{
    public static async Task<PageOutcome> ApplyAsync(IDocumentStore store, TimeProvider time, Actor actor, string runId, FeedPage page, IReadOnlyCollection<string> cultures,
        ApplyTally tally, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor, runId);
        await CatalogLog.LockForAppendAsync(session, ct);
        var stream = await session.Events.FetchForWriting<ParentLink>(ParentLink.StreamId, ct);
        var checkpoint = stream.Aggregate!.Checkpoint;
        if (page.Next <= checkpoint && page.After < checkpoint) return PageOutcome.AlreadyApplied;
        // A page that overlaps the checkpoint is applied whole: applying is by content, what the child has is left as it is.
        if (page.After > checkpoint) return PageOutcome.Gap;
        var before = (tally.Applied, tally.Skipped, tally.Unknown.Count);
        await ReplicationApply.EventsAsync(session, page.Events, cultures, tally, ct);
        stream.AppendOne(new CatalogPageReplicated(runId, page.After, page.Next, page.Events.Count > 0 ? page.Events[^1].Id : null, page.Events.Count,
            tally.Applied - before.Applied, tally.Skipped - before.Skipped, tally.Unknown.Skip(before.Count).ToList(), time.GetUtcNow(),
            page.Events.Count > 0 ? page.Events[^1].Sequence : null, cultures.ToList(), page.NextId));
        if (tally.Applied > before.Applied) session.QueueSqlCommand(Projections.ReadModels.MarkCatalogChanged);
        await session.SaveChangesAsync(ct);
        return PageOutcome.Applied;
    }
}
