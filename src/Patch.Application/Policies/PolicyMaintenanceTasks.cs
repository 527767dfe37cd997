using Marten;
using Microsoft.Extensions.DependencyInjection;
using Patch.Application.Common;
using Patch.Application.Staging;
using Patch.Domain.Catalog;
using Patch.Domain.Notifications;
using Patch.Domain.Policies;
using Patch.Domain.Settings;

namespace Patch.Application.Policies;

/// <summary>
/// The seed's policy tasks (C8): Revise Software Updates, Disable Superseded Software Update Advertisements and Check
/// Software Update Package Integrity. Each change is an event on the policy (or the bulletin) naming what changed.
/// </summary>
public sealed class PolicyMaintenanceTasks(IDocumentStore store, PackageStore packages, Notifications.Notifier notifier, IServiceScopeFactory scopes, TimeProvider time)
{
    public const string Revise = "revise-software-updates";
    public const string DisableSuperseded = "disable-superseded";
    public const string Integrity = "package-integrity";

    /// <summary>Revised packages and command lines, and newly added updates where the policy asks for them; with <paramref name="alignProgram"/>, the vendor's program settings too.</summary>
    public async Task<TaskOutcome> ReviseAsync(TaskContextInfo run, bool alignProgram, CancellationToken ct)
    {
        await using var session = store.OpenSession(run.Actor, run.RunId);
        // A policy replicated from the parent is revised there: the revision comes with the next policy replication.
        var policies = (await session.Query<SoftwareUpdatePolicy>().Where(p => p.Status == PolicyStatus.Active).ToListAsync(ct)).Where(p => p.ReplicatedFrom is null).ToList();
        var bulletins = await BulletinsAsync(session, policies, ct);
        var vendors = alignProgram ? (await session.Query<VendorSettings>().ToListAsync(ct)).ToDictionary(v => v.Vendor, v => v.Values.Program, StringComparer.OrdinalIgnoreCase) : null;
        int policiesRevised = 0, updatesRevised = 0, updatesAdded = 0, awaiting = 0, programs = 0;
        foreach (var policy in policies.OrderBy(p => p.Id, StringComparer.Ordinal))
        {
            var vendor = policy.Bulletins.Select(bulletins.GetValueOrDefault).OfType<Bulletin>().FirstOrDefault()?.Facts.Vendor;
            var program = vendors is null ? null : vendor is not null && vendors.TryGetValue(vendor, out var p) ? p : VendorSettingsValues.Defaults.Program;
            var decision = PolicyMaintenance.Revise(policy, bulletins, program, run.Trigger);
            awaiting += decision.AwaitingStaging;
            if (decision.Event is null) continue;
            (await session.Events.FetchForWriting<SoftwareUpdatePolicy>(policy.Id, ct)).AppendOne(decision.Event);
            policiesRevised++;
            updatesRevised += decision.UpdatesRevised;
            updatesAdded += decision.UpdatesAdded;
            if (decision.ProgramAligned) programs++;
        }
        await session.SaveChangesAsync(ct);
        var counts = new Dictionary<string, int>
            { ["policies"] = policies.Count, ["policiesRevised"] = policiesRevised, ["updatesRevised"] = updatesRevised, ["updatesAdded"] = updatesAdded, ["awaitingStaging"] = awaiting };
        if (alignProgram) counts["programsAligned"] = programs;
        return new TaskOutcome(counts, policiesRevised == 0 ? Domain.ServerTasks.ServerTaskStatus.Unchanged : Domain.ServerTasks.ServerTaskStatus.Completed);
    }

    /// <summary>Disables the advertisements another enabled policy replaces for the same targets; subscribers are told.</summary>
    public async Task<TaskOutcome> DisableSupersededAsync(TaskContextInfo run, CancellationToken ct)
    {
        IReadOnlyList<PolicyUpdateDisabledAsSuperseded> disabled;
        await using (var session = store.OpenSession(run.Actor, run.RunId))
        {
            var policies = await session.Query<SoftwareUpdatePolicy>().Where(p => p.Status == PolicyStatus.Active && p.Enabled).ToListAsync(ct);
            var bulletins = await BulletinsAsync(session, policies, ct);
            // A replicated policy may replace a local one; its own advertisements are the parent's to disable.
            disabled = policies.Where(p => p.ReplicatedFrom is null).SelectMany(p => PolicyMaintenance.Superseded(p, policies, bulletins)).ToList();
            foreach (var group in disabled.GroupBy(d => d.PolicyId).OrderBy(g => g.Key, StringComparer.Ordinal))
                (await session.Events.FetchForWriting<SoftwareUpdatePolicy>(group.Key, ct)).AppendMany(group.Cast<object>().ToArray());
            await session.SaveChangesAsync(ct);
        }
        if (disabled.Count > 0)
            await notifier.PublishAsync(NotificationKinds.SupersededDisabled, new { run = run.RunId, disabled }, ct);
        return new TaskOutcome(new Dictionary<string, int> { ["advertisementsDisabled"] = disabled.Count, ["policies"] = disabled.Select(d => d.PolicyId).Distinct().Count() },
            disabled.Count == 0 ? Domain.ServerTasks.ServerTaskStatus.Unchanged : Domain.ServerTasks.ServerTaskStatus.Completed);
    }

    /// <summary>
    /// Re-hashes every staged package: a missing or corrupt one is recorded removed from its updates and its bulletin is
    /// staged again; then policies' programs are brought in line with the vendor settings (the Revise task's decision).
    /// </summary>
    public async Task<TaskOutcome> CheckIntegrityAsync(TaskContextInfo run, CancellationToken ct)
    {
        int checkedFiles = 0, missing = 0, corrupt = 0;
        var restage = new HashSet<string>(StringComparer.Ordinal);
        var corruptFiles = new List<string>();
        var undeletable = new HashSet<string>(StringComparer.Ordinal);
        await using (var session = store.OpenSession(run.Actor, run.RunId))
        {
            // Every file of a download: its package and the files installed before it (a checkpoint cumulative update's).
            var staged = (await session.Query<Bulletin>().ToListAsync(ct))
                .SelectMany(b => b.Downloads.Where(d => d.Value.Status == DownloadStatus.Downloaded).Select(d => (Bulletin: b, UpdateId: d.Key, Sha: d.Value.Sha256!,
                    Files: d.Value.StoredHashes().ToList())))
                .ToList();
            var verdicts = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var sha in staged.SelectMany(s => s.Files).Distinct())
            {
                ct.ThrowIfCancellationRequested();
                checkedFiles++;
                verdicts[sha] = !packages.Has(sha) ? "missing from the package store"
                    : await PackageStore.HashAsync(packages.PathOf(sha), ct) != sha ? "corrupt: its SHA-256 no longer matches" : null;
                if (verdicts[sha] is null) continue;
                if (verdicts[sha]!.StartsWith("missing", StringComparison.Ordinal)) missing++;
                else { corrupt++; corruptFiles.Add(sha); }
            }
            // The corrupt files go before their removal is recorded, and only a file gone is recorded removed: staging takes a
            // file the store holds under the hash without hashing it again, so a corrupt file left there would come back
            // as "staged". One that cannot go (in use, read-only) stays recorded, counted, and is tried again by the next run.
            foreach (var sha in corruptFiles.Where(sha => packages.Remove(sha) is not null)) undeletable.Add(sha);
            foreach (var (bulletin, updateId, sha, files) in staged.Where(s => s.Files.Any(f => verdicts[f] is not null) && !s.Files.Any(undeletable.Contains))
                         .OrderBy(s => s.Bulletin.Id, StringComparer.Ordinal))
            {
                var bad = files.First(f => verdicts[f] is not null);
                (await session.Events.FetchForWriting<Bulletin>(bulletin.Id, ct)).AppendOne(new UpdatePackageRemoved(bulletin.Id, updateId, sha,
                    $"package integrity check: {(bad == sha ? "" : $"its file {bad} installed before it is ")}{verdicts[bad]}", time.GetUtcNow()));
                restage.Add(bulletin.Id);
            }
            await session.SaveChangesAsync(ct);
        }
        if (restage.Count > 0)
        {
            await using var scope = scopes.CreateAsyncScope();
            var stager = scope.ServiceProvider.GetRequiredService<BulletinStager>();
            await stager.StartAsync(restage.ToList(), run.Actor, ct);
        }
        var revised = await ReviseAsync(run, alignProgram: true, ct);
        var counts = new Dictionary<string, int>
        {
            ["packagesChecked"] = checkedFiles, ["missing"] = missing, ["corrupt"] = corrupt, ["corruptNotRemoved"] = undeletable.Count, ["bulletinsRestaged"] = restage.Count,
            ["programsAligned"] = revised.Counts.GetValueOrDefault("programsAligned"), ["policiesRevised"] = revised.Counts.GetValueOrDefault("policiesRevised"),
        };
        return new TaskOutcome(counts);
    }

    private static async Task<Dictionary<string, Bulletin>> BulletinsAsync(IQuerySession session, IReadOnlyList<SoftwareUpdatePolicy> policies, CancellationToken ct)
    {
        var ids = policies.SelectMany(p => p.Bulletins.Concat(p.Updates.Select(u => u.BulletinId))).Distinct().ToArray();
        return ids.Length == 0 ? new Dictionary<string, Bulletin>() : (await session.LoadManyAsync<Bulletin>(ct, ids)).ToDictionary(b => b.Id);
    }
}

/// <summary>The run a piece of maintenance works under (its id names the cause of its events).</summary>
public sealed record TaskContextInfo(string RunId, string Trigger, Actor Actor);

/// <summary>The automatic runs: Revise after a catalog import or a staging run changed something (Patch:Policies:ReviseAfterImport, on by default), Disable Superseded after an import when Patch:Policies:DisableSupersededAfterImport is on.</summary>
public static class PolicyMaintenanceTriggers
{
    public static async Task AfterCatalogChangeAsync(ServerTasks.ServerTaskRunner runner, Microsoft.Extensions.Configuration.IConfiguration config, string cause, bool import, CancellationToken ct)
    {
        if (Microsoft.Extensions.Configuration.ConfigurationBinder.GetValue(config, "Patch:Policies:ReviseAfterImport", true))
            await runner.StartAfterChangeAsync(PolicyMaintenanceTasks.Revise, cause, Actor.ServerTask(PolicyMaintenanceTasks.Revise), new Dictionary<string, string>(), ct);
        if (import && Microsoft.Extensions.Configuration.ConfigurationBinder.GetValue(config, "Patch:Policies:DisableSupersededAfterImport", false))
            await runner.StartAfterChangeAsync(PolicyMaintenanceTasks.DisableSuperseded, cause, Actor.ServerTask(PolicyMaintenanceTasks.DisableSuperseded), new Dictionary<string, string>(), ct);
    }
}
