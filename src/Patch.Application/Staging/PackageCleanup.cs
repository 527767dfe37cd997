using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.Policies;
using Patch.Domain.ServerTasks;
using Patch.Domain.Settings;

namespace Patch.Application.Staging;

/// <summary>
/// The package deletion interval (vendor setting "delete unused packages after N days", 0 = never): packages that no
/// active, enabled policy distributes and that were downloaded more than N days ago leave the store; their updates
/// get <see cref="UpdatePackageRemoved"/>, so the Remediation Center shows them unstaged. A server task with history.
/// </summary>
public sealed class PackageCleanup(IDocumentStore store, PackageStore packages, TimeProvider time, ILogger<PackageCleanup> logger)
{
    public const string TaskName = "package-cleanup";

    public Task<ServerTaskRun> RunAsync(string trigger, Actor actor, CancellationToken ct) =>
        ServerTaskRecorder.RunAsync(store, time, actor, TaskName, trigger, new Dictionary<string, string>(), async (runId, token) =>
        {
            var deletedFiles = new List<string>();
            var (removed, kept) = await RemoveExpiredAsync(runId, actor, time.GetUtcNow(), deletedFiles, token);
            // Files go only after the events are committed, and only if no bulletin still records the package.
            await using var query = store.QuerySession();
            var stillRecorded = (await query.Query<Bulletin>().ToListAsync(token))
                .SelectMany(b => b.Downloads.Values.Where(d => d.Status == DownloadStatus.Downloaded).Select(d => d.Sha256!)).ToHashSet();
            var failedDeletes = 0;
            foreach (var sha in deletedFiles.Where(sha => !stillRecorded.Contains(sha)))
            {
                try
                {
                    if (packages.Has(sha)) File.Delete(packages.PathOf(sha));
                }
                catch (IOException e)
                {
                    failedDeletes++;
                    logger.LogWarning(e, "Package {Sha256} could not be deleted", sha);
                }
            }
            return new Dictionary<string, int> { ["packagesRemoved"] = removed, ["packagesKept"] = kept, ["filesNotDeleted"] = failedDeletes };
        }, ct, e => logger.LogError(e, "Package cleanup failed"));

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

        var needed = (await session.Query<SoftwareUpdatePolicy>().Where(p => p.Status == PolicyStatus.Active && p.Enabled).ToListAsync(ct))
            .SelectMany(p => p.Updates.Where(u => u.Enabled).Select(u => u.PackageSha256)).ToHashSet();
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

    private async Task AppendAsync(Actor actor, string runId, object e, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor, runId);
        session.Events.Append(runId, e);
        await session.SaveChangesAsync(ct);
    }

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/api/server-tasks/package-cleanup/run", async (HttpContext http, PackageCleanup cleanup, CancellationToken ct) =>
                Results.Ok(await cleanup.RunAsync("on demand", Actor.From(http), ct)))
            .WithTags("Server tasks").ForOperator().WithName("RunPackageCleanup")
            .WithSummary("Run the package deletion task now (it also runs daily): removes packages no enabled policy needs, older than the vendor's deletion interval.")
            .Produces<ServerTaskRun>();
}

/// <summary>Runs the package deletion task daily.</summary>
public sealed class ScheduledPackageCleanup(IServiceProvider services, TimeProvider time, ILogger<ScheduledPackageCleanup> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromDays(1), time);
        while (await timer.WaitForNextTickAsync(ct))
        {
            try
            {
                await using var scope = services.CreateAsyncScope();
                await scope.ServiceProvider.GetRequiredService<PackageCleanup>().RunAsync("schedule", Actor.ServerTask(PackageCleanup.TaskName), ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Scheduled package cleanup failed");
            }
        }
    }
}
