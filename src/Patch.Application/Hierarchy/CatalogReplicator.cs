using Marten;
using Microsoft.Extensions.Configuration;
using Patch.Application.Common;
using Patch.Application.ServerTasks;
using Patch.Domain.Catalog;
using Patch.Domain.Hierarchy;
using Patch.Domain.ServerTasks;
using Wolverine;

namespace Patch.Application.Hierarchy;

/// <summary>
/// The child's catalog replication run (the seed's Data Import Replication): Differential follows the parent's catalog
/// events from the checkpoint, page by page, each page and its checkpoint in one transaction; Complete takes the
/// parent's catalog as it is, stream by stream, and re-bases the checkpoint (an interrupted Complete run resumes where
/// it stopped; a parent whose log no longer holds the checkpoint gets one automatically). Then a share of the replicated
/// bulletins is compared with the parent's by digest.
/// </summary>
public sealed class CatalogReplicator(IDocumentStore store, ParentClient parent, HierarchyOptions options, TimeProvider time, Projections.Compliance.CatalogCache catalog,
    IMessageBus bus, ServerTaskRunner runner, IConfiguration config, Npgsql.NpgsqlDataSource db)
{
    public const string TaskName = "catalog-replication";
    public static readonly string[] Modes = ["differential", "complete"];

    public static string? Validate(IReadOnlyDictionary<string, string> p) =>
        p.GetValueOrDefault("mode") is { } m && !Modes.Contains(m) ? $"mode: '{m}' is not differential or complete"
        : p.GetValueOrDefault("verify") is { } v && (!int.TryParse(v, out var n) || n is < 0 or > 100) ? $"verify: '{v}' is not a percentage from 0 to 100"
        : null;

    public async Task<TaskOutcome> RunAsync(TaskContext run, CancellationToken ct)
    {
        var link = await ParentLinks.RequireAsync(store, ct);
        var cultures = await ParentLinks.CulturesAsync(store, ct);
        ChildStatusAnswer status;
        var diverged = false;
        try
        {
            status = await parent.SendAsync<ChildStatusAnswer>(link, HttpMethod.Post, "status", new ChildStatusRequest(cultures, link.Checkpoint, null), ct);
        }
        catch (ParentRefusedException e) when (e.Code == "checkpoint-diverged")
        {
            // The checkpoint is past the parent's log (restored from an older backup): reported without it, then re-based below.
            diverged = true;
            status = await parent.SendAsync<ChildStatusAnswer>(link, HttpMethod.Post, "status", new ChildStatusRequest(cultures, null, null), ct);
        }
        ReplicationProtocol.CheckParent(status.ParentId, link);
        if (status.MissingCultures.Count > 0)
            throw new InvalidOperationException($"Language alert: the parent does not manage {string.Join(", ", status.MissingCultures)}; replication is refused until it does.");
        var actor = new Actor("replication", link.ParentName, run.RunId, $"replication:{link.ParentId}");
        var counts = new Dictionary<string, int> { ["pages"] = 0, ["events"] = 0, ["applied"] = 0, ["skipped"] = 0, ["unknownTypes"] = 0, ["streams"] = 0, ["rebased"] = 0 };
        var tally = new ApplyTally();
        // A culture managed since some event was applied without it: the updates of that culture are fetched as the parent
        // has them now (a Complete run), the events after the checkpoint then bring the rest.
        var complete = diverged || run.Parameters.GetValueOrDefault("mode") == "complete" || link.Snapshot is not null || link.LacksCultures(cultures);
        if (diverged) counts["rebased"] = 1;
        CatalogVerified verified;
        try
        {
            if (complete) await CompleteAsync(run.RunId, actor, cultures, counts, tally, ct);
            try
            {
                await DifferentialAsync(run.RunId, actor, cultures, counts, tally, ct);
            }
            catch (ParentRefusedException e) when (e.Code == "checkpoint-diverged")
            {
                // The parent's log no longer holds the checkpoint (restored from an older backup): re-base, then follow on.
                counts["rebased"] = 1;
                await CompleteAsync(run.RunId, actor, cultures, counts, tally, ct);
                await DifferentialAsync(run.RunId, actor, cultures, counts, tally, ct);
            }
            var percent = run.Parameters.GetValueOrDefault("verify") is { } v ? int.Parse(v) : options.VerifyPercent;
            verified = await ReplicationVerification.RunAsync(store, parent, time, actor, run.RunId, percent, cultures, ct);
        }
        catch when (tally.Applied > 0)
        {
            // The pages applied before the failure are committed, each with its checkpoint: the next run finds nothing new
            // in them, so their analysis and policy revision are asked for now.
            await Catalog.CatalogChanged.FollowAsync(catalog, bus, runner, config, $"catalog replication {run.RunId} (failed part-way)", tally.Changed, CancellationToken.None);
            throw;
        }
        counts["applied"] = tally.Applied;
        counts["skipped"] = tally.Skipped;
        counts["unknownTypes"] = tally.Unknown.Count;
        counts["verified"] = verified.Compared;
        counts["mismatched"] = verified.Mismatched.Count;
        // What the applied catalog asks of this server first: a parent that then refuses the status or the roll-up fails the
        // run, never the analysis and policy revision the replicated bulletins need (a next run would find nothing new).
        if (tally.Applied > 0)
            await Catalog.CatalogChanged.FollowAsync(catalog, bus, runner, config, $"catalog replication {run.RunId}", tally.Changed, ct);
        link = await ParentLinks.RequireAsync(store, ct);
        await parent.SendAsync<ChildStatusAnswer>(link, HttpMethod.Post, "status", new ChildStatusRequest(cultures, link.Checkpoint, ServerTaskStatus.Completed), ct);
        await HierarchyRollup.SendAsync(store, db, parent, time, link, ct);
        return new TaskOutcome(counts, tally.Applied == 0 && verified.Mismatched.Count == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed);
    }

    private async Task DifferentialAsync(string runId, Actor actor, IReadOnlyList<string> cultures, Dictionary<string, int> counts, ApplyTally tally, CancellationToken ct)
    {
        while (true)
        {
            var link = await ParentLinks.RequireAsync(store, ct);
            var query = $"catalog/events?after={link.Checkpoint}&limit={options.PageSize}" + (link is { LastEventId: { } last, LastEventSequence: { } at } ? $"&lastEvent={last}&lastEventSequence={at}" : "")
                + (link.CheckpointEventId is { } anchor && link.Checkpoint > 0 ? $"&checkpointEvent={anchor}" : "");
            var page = await parent.SendAsync<FeedPage>(link, HttpMethod.Get, query, null, ct);
            ReplicationProtocol.CheckEnvelope(page.Version, page.ParentId, link);
            if (page.Next == link.Checkpoint && page.Events.Count == 0) return;
            // Another run moved the checkpoint meanwhile: this page is not applied twice.
            if (await ReplicationPages.ApplyAsync(store, time, actor, runId, page, cultures, tally, ct) != PageOutcome.Applied)
                throw new InvalidOperationException("Another replication run moved the checkpoint; this run stops.");
            counts["pages"]++;
            counts["events"] += page.Events.Count;
            if (page.Events.Count < options.PageSize) return;
        }
    }

    private async Task CompleteAsync(string runId, Actor actor, IReadOnlyList<string> cultures, Dictionary<string, int> counts, ApplyTally tally, CancellationToken ct)
    {
        while (true)
        {
            var link = await ParentLinks.RequireAsync(store, ct);
            var cursor = link.Snapshot ?? new SnapshotCursor(runId, ReplicationProtocol.SnapshotKinds[0], null, -1);
            var query = $"catalog/snapshot?kind={cursor.Kind}&limit={options.PageSize}" + (cursor.Last is { } after ? $"&after={Uri.EscapeDataString(after)}" : "");
            var page = await parent.SendAsync<SnapshotPage>(link, HttpMethod.Get, query, null, ct);
            ReplicationProtocol.CheckEnvelope(page.Version, page.ParentId, link);
            var (head, headId) = cursor.Head >= 0 ? (cursor.Head, cursor.HeadId) : (page.Head, page.HeadId);
            await using var session = store.OpenSession(actor, runId);
            await CatalogLog.LockForAppendAsync(session, ct);
            var stream = await session.Events.FetchForWriting<ParentLink>(ParentLink.StreamId, ct);
            if (stream.Aggregate!.Snapshot != link.Snapshot) throw new InvalidOperationException("Another replication run moved the Complete run's cursor; this run stops.");
            var before = tally.Applied;
            await ReplicationApply.SnapshotAsync(session, cursor.Kind, page.Streams, cultures, tally, ct);
            var kindIndex = Array.IndexOf(ReplicationProtocol.SnapshotKinds, cursor.Kind);
            var done = page.Next is null && kindIndex == ReplicationProtocol.SnapshotKinds.Length - 1;
            var (kind, last) = page.Next is not null ? (cursor.Kind, page.Next) : done ? (cursor.Kind, null) : (ReplicationProtocol.SnapshotKinds[kindIndex + 1], (string?)null);
            stream.AppendOne(new CatalogSnapshotPageReplicated(runId, kind, last, head, page.Streams.Count, tally.Applied - before, time.GetUtcNow(), headId));
            if (done) stream.AppendOne(new CatalogRebased(runId, head, time.GetUtcNow(), cultures, headId));
            if (tally.Applied > before) session.QueueSqlCommand(Projections.ReadModels.MarkCatalogChanged);
            await session.SaveChangesAsync(ct);
            counts["pages"]++;
            counts["streams"] += page.Streams.Count;
            if (done) return;
        }
    }

}
