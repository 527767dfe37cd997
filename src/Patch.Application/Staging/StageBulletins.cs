using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;
using Patch.Domain.Settings;

namespace Patch.Application.Staging;

/// <summary>Download every missing (non-excluded, not yet downloaded) update of these bulletins: a background server task.</summary>
public sealed record StageBulletins(string RunId, IReadOnlyList<string> BulletinIds, Actor Actor);

public static class StageBulletinsHandler
{
    /// <summary>
    /// Downloads take as long as they take: the job runs on the application's lifetime, not on Wolverine's message
    /// timeout (60 s by default), and a shutdown records the run as interrupted.
    /// </summary>
    public static Task Handle(StageBulletins command, BulletinStager stager, IHostApplicationLifetime lifetime) =>
        stager.RunAsync(command, lifetime.ApplicationStopping);
}

public sealed class BulletinStager(IDocumentStore store, PackageDownloader downloader, StagingOptions options, TimeProvider time, Notifications.Notifier notifier,
    ServerTasks.ServerTaskRunner runner, Microsoft.Extensions.Configuration.IConfiguration config, ILogger<BulletinStager> logger,
    Microsoft.Extensions.DependencyInjection.IServiceScopeFactory scopes)
{
    public const string TaskName = "staging";

    // One writer per bulletin stream in this process: parallel downloads of one bulletin append one after another.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> _streamLocks = new();

    // Updates being downloaded by some job now: a second job (a double click) leaves them to the first.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _inFlight = new();

    /// <summary>Records the run and queues its job in one transaction, so the caller can poll the run at once.</summary>
    public Task<string> StartAsync(IReadOnlyList<string> bulletinIds, Actor actor, CancellationToken ct) =>
        ServerTaskRecorder.StartQueuedAsync(store, scopes, time, actor, TaskName, "on demand", new Dictionary<string, string> { ["bulletins"] = string.Join(",", bulletinIds) },
            runId => new StageBulletins(runId, bulletinIds, actor), ct);

    public async Task RunAsync(StageBulletins command, CancellationToken ct)
    {
        int downloaded = 0, failed = 0, alreadyStaged = 0, elsewhere = 0;
        try
        {
            var work = new List<Task<bool>>();
            foreach (var bulletinId in command.BulletinIds)
            {
                await using var query = store.QuerySession();
                var bulletin = await query.LoadAsync<Bulletin>(bulletinId, ct);
                if (bulletin is null) continue;
                var settings = await query.LoadAsync<VendorSettings>(VendorSettings.StreamId(bulletin.Facts.Vendor), ct);
                var vendor = settings?.Values ?? VendorSettingsValues.Defaults;
                var missing = StagingRules.Missing(bulletin);
                if (missing.Count == 0) alreadyStaged++;
                foreach (var update in missing)
                {
                    if (_inFlight.TryAdd($"{bulletin.Id}/{update.UpdateId}", command.RunId)) work.Add(StageOneAsync(command, bulletin, update, vendor, ct));
                    else elsewhere++;
                }
            }

            foreach (var ok in await Task.WhenAll(work))
                if (ok) downloaded++; else failed++;
            await ServerTaskRecorder.CompleteAsync(store, time, command.Actor, command.RunId, new TaskOutcome(
                new Dictionary<string, int> { ["downloaded"] = downloaded, ["failed"] = failed, ["alreadyStaged"] = alreadyStaged, ["downloadingInAnotherRun"] = elsewhere }));
            if (downloaded > 0)
                await Policies.PolicyMaintenanceTriggers.AfterCatalogChangeAsync(runner, config, $"after staging run {command.RunId}", import: false, CancellationToken.None);
            if (failed > 0)
                await notifier.PublishAsync(Domain.Notifications.NotificationKinds.StagingFailed,
                    new { run = command.RunId, bulletins = command.BulletinIds, downloaded, failed }, CancellationToken.None);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await ServerTaskRecorder.FailAsync(store, time, command.Actor, command.RunId, "interrupted by a server shutdown; stage the bulletins again to finish");
        }
        catch (Exception e)
        {
            logger.LogError(e, "Staging run {RunId} failed", command.RunId);
            await ServerTaskRecorder.FailAsync(store, time, command.Actor, command.RunId, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private async Task<bool> StageOneAsync(StageBulletins command, Bulletin bulletin, UpdateFacts update, VendorSettingsValues vendor, CancellationToken ct)
    {
        var key = $"{bulletin.Id}/{update.UpdateId}";
        try
        {
            return await DownloadAndRecordAsync(command, bulletin, update, vendor, key, ct);
        }
        finally
        {
            _inFlight.TryRemove(key, out _);
        }
    }

    private async Task<bool> DownloadAndRecordAsync(StageBulletins command, Bulletin bulletin, UpdateFacts update, VendorSettingsValues vendor, string key, CancellationToken ct)
    {
        // Listed or resolved files (several for a checkpoint cumulative update) are fetched one by one; a single vendor URL or
        // a mirror-only update goes the way it always did (the mirror's naming convention finds CVRF updates' files).
        var files = FileResolution.FilesOf(bulletin, update);
        var listed = update.Files is { Count: > 0 } || (files.Count > 0 && (update.DownloadUrl is null || FileResolution.IsCatalogPage(update.DownloadUrl)));
        var outcome = listed
            ? await downloader.DownloadFilesAsync(key, files, vendor.VerifyAuthenticity, options.StagingLocation, ct)
            : await downloader.DownloadAsync(key, bulletin.Facts.Number, update, vendor.VerifyAuthenticity, options.StagingLocation, ct,
                bulletin.Resolutions.GetValueOrDefault(update.UpdateId));
        // Only an update of one file: the naming convention finds one file, never the files installed before it.
        if (!outcome.Success && listed && files.Count <= 1 && await MirrorByNameAsync(key, bulletin, update, vendor, ct) is { } mirrored) outcome = mirrored;
        object e = outcome.Success
            ? new UpdateDownloaded(bulletin.Id, update.UpdateId, outcome.Sha256!, outcome.Size, outcome.Source!, outcome.Verified, outcome.Attempts, time.GetUtcNow(), vendor.Package,
                outcome.Prerequisites is { Count: > 0 } p ? p : null, outcome.FileName)
            : new UpdateDownloadFailed(bulletin.Id, update.UpdateId, outcome.Reason!, outcome.Source, outcome.Attempts, time.GetUtcNow());
        // Each outcome is its own small transaction, so the Remediation Center's counts move while the job runs.
        var streamLock = _streamLocks.GetOrAdd(bulletin.Id, _ => new SemaphoreSlim(1));
        await streamLock.WaitAsync(ct);
        try
        {
            return await AppendAsync(command, bulletin.Id, e, outcome.Success, ct,
                now => outcome.Success && FileResolution.ChangedWhileDownloading(now, bulletin, update) is { } why
                    ? new UpdateDownloadFailed(bulletin.Id, update.UpdateId, why, outcome.Source, outcome.Attempts, time.GetUtcNow())
                    : null);
        }
        finally
        {
            streamLock.Release();
        }
    }

    /// <summary>A resolved update the listed files could not bring: the mirror's naming convention may still hold it (with verification off, as before).</summary>
    private async Task<DownloadOutcome?> MirrorByNameAsync(string key, Bulletin bulletin, UpdateFacts update, VendorSettingsValues vendor, CancellationToken ct)
    {
        if (options.StagingLocation is null || vendor.VerifyAuthenticity && update.Sha256 is null) return null;
        var mirrored = await downloader.DownloadAsync(key, bulletin.Facts.Number, update with { DownloadUrl = null }, vendor.VerifyAuthenticity, options.StagingLocation, ct);
        return mirrored.Success ? mirrored : null;
    }

    /// <summary>
    /// Appends the outcome on the bulletin as it is now — or, when <paramref name="instead"/> finds a reason in it (the
    /// update revised meanwhile), the failure it gives.
    /// </summary>
    private async Task<bool> AppendAsync(StageBulletins command, string bulletinId, object e, bool success, CancellationToken ct, Func<Bulletin, object?>? instead = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var session = store.OpenSession(command.Actor, command.RunId);
                var stream = await session.Events.FetchForWriting<Bulletin>(bulletinId, ct);
                var replaced = stream.Aggregate is { } now ? instead?.Invoke(now) : null;
                stream.AppendOne(replaced ?? e);
                await session.SaveChangesAsync(ct);
                return success && replaced is null;
            }
            catch (Exception ex) when (attempt < 5 && StoreConflict.Is(ex))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt), ct);
            }
        }
    }
}
