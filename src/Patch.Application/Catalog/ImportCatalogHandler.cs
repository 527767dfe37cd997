using Marten;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.ServerTasks;
using Patch.Domain.Vulnerabilities;
using Wolverine;

namespace Patch.Application.Catalog;

/// <summary>The Wolverine handler: every caller (HTTP, CLI, schedule, demo) imports through the bus.</summary>
public static class ImportCatalogHandler
{
    /// <summary>An import that changed the catalog queues the vulnerability analysis of every computer.</summary>
    public static async Task<CatalogImportResult> Handle(ImportCatalog command, CatalogImporter importer, Projections.Compliance.CatalogCache catalog, IMessageBus bus,
        Notifications.Notifier notifier, IDocumentStore store, ServerTasks.ServerTaskRunner runner, Microsoft.Extensions.Configuration.IConfiguration config,
        Microsoft.Extensions.Logging.ILogger<CatalogImporter> logger, Npgsql.NpgsqlDataSource db, CancellationToken ct)
    {
        CatalogImportResult result;
        try
        {
            result = await importer.ImportAsync(command, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await notifier.PublishAsync(Domain.Notifications.NotificationKinds.ImportFailed, new { format = command.Format, trigger = command.Trigger, error = e.Message }, ct);
            throw;
        }
        if (result.EventsAppended > 0 && result.Format != "kev")
        {
            try
            {
                await CatalogChanged.FollowAsync(catalog, bus, runner, config, $"catalog import {result.RunId}", result.ChangedBulletins, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The import is committed: its answer must say so, not "nothing was saved" (and the same file again is
                // "unchanged", so a retry would not follow it either). The catalog cache is dropped first, whatever fails.
                logger.LogError(e, "Catalog import {RunId} is saved, but the fleet analysis and policy maintenance after it could not be started: "
                    + "run the vulnerability-analysis (and revise-policies) server tasks", result.RunId);
            }
        }
        if (result.Status == ServerTaskStatus.Failed) await notifier.PublishAsync(Domain.Notifications.NotificationKinds.ImportFailed, result, ct);
        else if (result.Status == ServerTaskStatus.Completed) await notifier.PublishAsync(Domain.Notifications.NotificationKinds.ImportCompleted, result, ct);
        try
        {
            await NotifyKnownExploitedAsync(result, notifier, store, db, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A notification never fails the import that raised it.
            logger.LogError(e, "Known-exploited notification after import {RunId} failed", result.RunId);
        }
        return result;
    }

    /// <summary>
    /// A bulletin became known-exploited: a KEV import listed CVEs that bulletins fix, or a vendor import added bulletins
    /// that fix CVEs already in KEV.
    /// </summary>
    private static async Task NotifyKnownExploitedAsync(CatalogImportResult result, Notifications.Notifier notifier, IDocumentStore store, Npgsql.NpgsqlDataSource db,
        CancellationToken ct)
    {
        await using var query = store.QuerySession();
        if (result.KnownExploitedAdded is { Count: > 0 } cves)
        {
            // The bulletins whose CVE list names any of them: the Remediation Center's list (its CVEs upper-case, in a GIN
            // index), kept in the transaction that wrote the bulletins.
            var bulletins = new List<string>();
            await using (var command = db.CreateCommand($"select id from {PatchStore.Schema}.{Projections.Catalog.BulletinList.Table} where cves ?| $1"))
            {
                command.Parameters.Add(new() { Value = cves.Select(c => c.ToUpperInvariant()).ToArray() });
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct)) bulletins.Add(reader.GetString(0));
            }
            if (bulletins.Count > 0)
                await notifier.PublishAsync(Domain.Notifications.NotificationKinds.KnownExploitedAdded, new { cves, bulletins, run = result.RunId }, ct);
        }
        if (result.AddedBulletins is { Count: > 0 } added)
        {
            var rows = await query.LoadManyAsync<Projections.Catalog.BulletinRow>(ct, added.ToArray());
            var cveIds = rows.SelectMany(r => r.Cves).Distinct(StringComparer.OrdinalIgnoreCase).Select(StreamIds.KnownExploited).ToArray();
            if (cveIds.Length == 0) return;
            var known = (await query.LoadManyAsync<KnownExploitedVulnerability>(ct, cveIds)).Select(k => k.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var exploited = rows.Where(r => r.Cves.Any(c => known.Contains(StreamIds.KnownExploited(c)))).ToList();
            if (exploited.Count > 0)
                await notifier.PublishAsync(Domain.Notifications.NotificationKinds.KnownExploitedAdded, new
                {
                    bulletins = exploited.Select(r => r.Id).ToList(),
                    cves = exploited.SelectMany(r => r.Cves).Where(c => known.Contains(StreamIds.KnownExploited(c))).Distinct().ToList(),
                    run = result.RunId,
                }, ct);
        }
    }
}
