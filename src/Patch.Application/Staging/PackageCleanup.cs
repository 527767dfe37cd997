using Marten;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.Policies;
using Patch.Domain.ServerTasks;
using Patch.Domain.Settings;

namespace Patch.Application.Staging;

/// <summary>
/// The package deletion interval (vendor setting "delete unused packages after N days", 0 = never): packages that no
/// active, enabled policy distributes and that were downloaded more than N days ago leave the store; their updates
/// get <see cref="UpdatePackageRemoved"/>, so the Remediation Center shows them unstaged. Partial downloads untouched for
/// <see cref="StagingOptions.PartialRetention"/> go too, and so do stored files that nothing records or names
/// (<c>orphansRemoved</c>). A server task with history.
/// </summary>
public sealed class PackageCleanup(IDocumentStore store, PackageStore packages, StagingOptions options, TimeProvider time, ILogger<PackageCleanup> logger)
{
    public const string TaskName = "package-cleanup";

    /// <summary>The task's work under its run (the server-task runner records it).</summary>
    public async Task<TaskOutcome> WorkAsync(string runId, Actor actor, CancellationToken token)
    {
            var deletedFiles = new List<string>();
            var (removed, kept) = await RemoveExpiredAsync(runId, actor, time.GetUtcNow(), deletedFiles, token);
            // Files go only after the events are committed, and only if no bulletin still records the package.
            await using var query = store.QuerySession();
            var stillRecorded = (await query.Query<Bulletin>().ToListAsync(token))
                .SelectMany(b => b.Downloads.Values.Where(d => d.Status == DownloadStatus.Downloaded).SelectMany(d => d.StoredHashes())).ToHashSet();
            var failedDeletes = 0;
            foreach (var sha in deletedFiles.Where(sha => !stillRecorded.Contains(sha)))
            {
                // In use, or read-only (a file copied from a staging share keeps that attribute): counted, logged, the others go on.
                if (packages.Remove(sha) is not { } failure) continue;
                failedDeletes++;
                logger.LogWarning(failure, "Package {Sha256} could not be deleted", sha);
            }
            // Partial downloads nothing resumed within the retention (a source that failed for good, an update never staged again).
            var (partials, partialsFailed) = packages.RemovePartialsUntouchedSince(time.GetUtcNow() - options.PartialRetention);
            if (partialsFailed > 0) logger.LogWarning("{Count} partial downloads could not be deleted", partialsFailed);
            // Stored files that no bulletin records as downloaded and no policy names, untouched for as long: left by a removal
            // whose record was saved but whose delete never came (a database error, a crash), or by a file stored whose
            // record never was. The retention keeps a file just stored or taken up again — before its record — out of reach.
            var keep = (await query.Query<SoftwareUpdatePolicy>().ToListAsync(token)).SelectMany(p => p.Updates.SelectMany(u => u.PackageHashes()))
                .Concat(stillRecorded).ToHashSet();
            var (orphans, orphansFailed) = packages.RemoveUntouchedSince(time.GetUtcNow() - options.PartialRetention, keep);
            if (orphans + orphansFailed > 0) logger.LogWarning("{Removed} stored packages nothing records were deleted; {Failed} could not be", orphans, orphansFailed);
            return new TaskOutcome(new Dictionary<string, int> { ["packagesRemoved"] = removed, ["packagesKept"] = kept,
                ["filesNotDeleted"] = failedDeletes + partialsFailed + orphansFailed, ["partialDownloadsRemoved"] = partials, ["orphansRemoved"] = orphans });
    }

    /// <summary>
    /// Locks the bulletin streams holding expired packages (in stream order, as policy creation does), then reads which
    /// packages enabled policies need inside that transaction: a policy created meanwhile either committed first (and
    /// its package is kept) or waits and then finds the package gone.
    /// </summary>
    private async Task<(int Removed, int Kept)> RemoveExpiredAsync(string runId, Actor actor, DateTimeOffset now, List<string> deletedFiles, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor, runId);
        var vendors = (await session.Query<VendorSettings>().ToListAsync(ct)).ToDictionary(v => v.Vendor, v => v.Values, StringComparer.OrdinalIgnoreCase);
        int DaysOf(Bulletin b, UpdateDownload d) =>
            (d.Package ?? (vendors.GetValueOrDefault(b.Facts.Vendor) ?? VendorSettingsValues.Defaults).Package).DeleteUnusedAfterDays;
        var candidates = (await session.Query<Bulletin>().ToListAsync(ct))
            .SelectMany(b => b.Downloads.Where(d => d.Value.Status == DownloadStatus.Downloaded).Select(d => (Bulletin: b, UpdateId: d.Key, Download: d.Value)))
            .ToList();
        var expiredHashes = candidates.GroupBy(x => x.Download.Sha256!)
            .Where(g => PackageRetention.Expired(g.Key, new HashSet<string>(), g.Min(x => DaysOf(x.Bulletin, x.Download)), g.Max(x => x.Download.At), now))
            .Select(g => g.Key).ToHashSet();
        var streams = new Dictionary<string, JasperFx.Events.IEventStream<Bulletin>>();
        foreach (var id in candidates.Where(x => expiredHashes.Contains(x.Download.Sha256!)).Select(x => x.Bulletin.Id).Distinct().Order(StringComparer.Ordinal))
            streams[id] = await session.Events.FetchForExclusiveWriting<Bulletin>(id, ct);

        // A package is needed as an enabled policy's update or as a file installed before one (a checkpoint cumulative
        // update staged as its own bulletin, that another update's policy installs first).
        var needed = (await session.Query<SoftwareUpdatePolicy>().Where(p => p.Status == PolicyStatus.Active && p.Enabled).ToListAsync(ct))
            .SelectMany(p => p.Updates.Where(u => u.Enabled).SelectMany(u => u.PackageHashes())).ToHashSet();
        var locked = streams.Values.Select(s => s.Aggregate).OfType<Bulletin>()
            .SelectMany(b => b.Downloads.Where(d => d.Value.Status == DownloadStatus.Downloaded).Select(d => (Bulletin: b, UpdateId: d.Key, Download: d.Value)))
            .GroupBy(x => x.Download.Sha256!).ToList();
        int removed = 0;
        foreach (var group in locked)
        {
            var days = group.Min(x => DaysOf(x.Bulletin, x.Download));
            if (!PackageRetention.Expired(group.Key, needed, days, group.Max(x => x.Download.At), now)) continue;
            foreach (var (bulletin, updateId, _) in group)
                streams[bulletin.Id].AppendOne(new UpdatePackageRemoved(bulletin.Id, updateId, group.Key, $"unused by any enabled policy for {days} days (package deletion interval)", now));
            deletedFiles.Add(group.Key);
            removed++;
        }
        await session.SaveChangesAsync(ct);
        return (removed, candidates.Select(x => x.Download.Sha256).Distinct().Count() - removed);
    }
}
