using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
/// get <see cref="UpdatePackageRemoved"/>, so the Remediation Center shows them unstaged. A server task with history.
/// </summary>
public sealed class PackageCleanup(IDocumentStore store, PackageStore packages, TimeProvider time, ILogger<PackageCleanup> logger)
{
    public const string TaskName = "package-cleanup";

    public async Task<ServerTaskRun> RunAsync(string trigger, Actor actor, CancellationToken ct)
    {
        var runId = StreamIds.ServerTaskRun(Guid.NewGuid());
        var now = time.GetUtcNow();
        await using var session = store.OpenSession(actor, runId);
        session.Events.StartStream<ServerTaskRun>(runId, new ServerTaskStarted(runId, TaskName, trigger, new Dictionary<string, string>(), now));
        try
        {
            var needed = (await session.Query<SoftwareUpdatePolicy>().Where(p => p.Status == PolicyStatus.Active && p.Enabled).ToListAsync(ct))
                .SelectMany(p => p.Updates.Where(u => u.Enabled).Select(u => u.PackageSha256)).ToHashSet();
            var vendors = (await session.Query<VendorSettings>().ToListAsync(ct)).ToDictionary(v => v.Vendor, v => v.Values, StringComparer.OrdinalIgnoreCase);
            var downloaded = (await session.Query<Bulletin>().ToListAsync(ct))
                .SelectMany(b => b.Downloads.Where(d => d.Value.Status == DownloadStatus.Downloaded).Select(d => (Bulletin: b, UpdateId: d.Key, Download: d.Value)))
                .ToList();

            int removed = 0, kept = 0;
            var deletedFiles = new HashSet<string>();
            foreach (var group in downloaded.GroupBy(x => x.Download.Sha256!))
            {
                var days = group.Select(x => (vendors.GetValueOrDefault(x.Bulletin.Facts.Vendor) ?? VendorSettingsValues.Defaults).Package.DeleteUnusedAfterDays).Min();
                var newest = group.Max(x => x.Download.At);
                if (!PackageRetention.Expired(group.Key, needed, days, newest, now)) { kept++; continue; }
                foreach (var (bulletin, updateId, download) in group)
                {
                    var stream = await session.Events.FetchForWriting<Bulletin>(bulletin.Id, ct);
                    stream.AppendOne(new UpdatePackageRemoved(bulletin.Id, updateId, group.Key, $"unused by any enabled policy for {days} days (package deletion interval)", now));
                }
                deletedFiles.Add(group.Key);
                removed++;
            }
            session.Events.Append(runId, new ServerTaskCompleted(runId, ServerTaskStatus.Completed,
                new Dictionary<string, int> { ["packagesRemoved"] = removed, ["packagesKept"] = kept }, time.GetUtcNow()));
            await session.SaveChangesAsync(ct);
            // Files go only after the events are committed: a failed commit leaves every package in place.
            foreach (var sha in deletedFiles) File.Delete(packages.PathOf(sha));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Package cleanup failed");
            await using var failure = store.OpenSession(actor, runId);
            failure.Events.StartStream<ServerTaskRun>(runId, new ServerTaskStarted(runId, TaskName, trigger, new Dictionary<string, string>(), now),
                new ServerTaskFailed(runId, $"{e.GetType().Name}: {e.Message}", time.GetUtcNow()));
            await failure.SaveChangesAsync(ct);
        }
        await using var query = store.QuerySession();
        return (await query.LoadAsync<ServerTaskRun>(runId, ct))!;
    }

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/api/server-tasks/package-cleanup/run", async (HttpContext http, PackageCleanup cleanup, CancellationToken ct) =>
                Results.Ok(await cleanup.RunAsync("on demand", Actor.From(http), ct)))
            .WithTags("Server tasks").WithName("RunPackageCleanup")
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
