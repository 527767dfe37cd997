using Marten;
using Patch.Application.Common;
using Patch.Application.ServerTasks;
using Patch.Application.Staging;
using Patch.Domain.Catalog;
using Patch.Domain.Hierarchy;
using Patch.Domain.Policies;
using Patch.Domain.ServerTasks;
using Patch.Domain.Targets;

namespace Patch.Application.Hierarchy;

/// <summary>
/// Software Update policy replication, the child's side (task <c>policy-replication</c>): the policies the parent chose
/// for this child arrive with their definitions; every package they distribute is fetched from the parent's package
/// store (the parent is this child's staging location) and its SHA-256 and size checked before it is stored and the
/// update recorded staged; custom targets come with their rules and resolve against this server's own computers; the
/// policy is then written read-only with the parent's status (disabled or retired there: here too), with its updates of
/// the cultures this server manages (and neutral ones) only, as the catalog replicates them. Differential
/// applies the policies whose parent version changed, Complete all of them; a policy the parent no longer replicates
/// here is disabled. A policy whose bulletins are not replicated yet, or whose package does not verify, waits for the next run.
/// </summary>
public sealed class PolicyReplicator(IDocumentStore store, ParentClient parent, PackageStore packages, StagingOptions staging, TimeProvider time)
{
    public const string TaskName = "policy-replication";

    public async Task<TaskOutcome> RunAsync(TaskContext run, CancellationToken ct)
    {
        var link = await ParentLinks.RequireAsync(store, ct);
        var feed = await parent.SendAsync<PolicyFeed>(link, HttpMethod.Get, "policies", null, ct);
        ReplicationProtocol.CheckEnvelope(feed.Version, feed.ParentId, link);
        var actor = new Actor("replication", link.ParentName, run.RunId, $"replication:{link.ParentId}");
        var cultures = await ParentLinks.CulturesAsync(store, ct);
        var (counts, problems) = await ApplyAllAsync(link, actor, run.RunId, feed.Policies, cultures, run.Parameters.GetValueOrDefault("mode") == "complete",
            (sha, size, token) => FetchAsync(link, sha, size, token), ct);
        if (problems.Count > 0 && counts["applied"] == 0 && counts["disabled"] == 0) throw new InvalidOperationException(string.Join(" ", problems));
        return new TaskOutcome(counts, counts["applied"] + counts["disabled"] + counts["targetsReleased"] == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed);
    }

    /// <summary>
    /// The parent's policies applied here (online, or from a bundle): <paramref name="fetch"/> brings a package this
    /// server lacks into its store, verified, or says why it could not. Returns the counts and why policies wait.
    /// </summary>
    public async Task<(Dictionary<string, int> Counts, List<string> Problems)> ApplyAllAsync(ParentLink link, Actor actor, string runId, IReadOnlyList<ReplicatedPolicy> policies,
        IReadOnlyList<string> cultures, bool complete, Func<string, long, CancellationToken, Task<string?>> fetch, CancellationToken ct)
    {
        IReadOnlyList<SoftwareUpdatePolicy> local;
        Dictionary<string, Target> targets;
        await using (var query = store.QuerySession())
        {
            local = (await query.Query<SoftwareUpdatePolicy>().ToListAsync(ct)).Where(p => p.ReplicatedFrom is not null).ToList();
            targets = (await query.Query<Target>().ToListAsync(ct)).ToDictionary(t => t.Id);
        }
        var counts = new Dictionary<string, int> { ["policies"] = policies.Count, ["applied"] = 0, ["unchanged"] = 0, ["waiting"] = 0, ["packagesDownloaded"] = 0, ["disabled"] = 0,
            ["updatesOfUnmanagedCultures"] = 0, ["targetsReleased"] = 0 };
        var problems = new List<string>();
        foreach (var policy in policies)
        {
            if (!complete && local.FirstOrDefault(p => p.Id == policy.Id) is { } known && Unchanged(known, policy, targets, cultures)) { counts["unchanged"]++; continue; }
            var waiting = await ApplyAsync(link, actor, runId, policy, cultures, fetch, counts, ct);
            if (waiting is null) counts["applied"]++;
            else { counts["waiting"]++; problems.Add(waiting); }
        }
        foreach (var gone in local.Where(p => p.Enabled && p.Status == PolicyStatus.Active && policies.All(f => f.Id != p.Id)))
        {
            await using var session = store.OpenSession(actor, runId);
            (await session.Events.FetchForWriting<SoftwareUpdatePolicy>(gone.Id, ct)).AppendOne(new SoftwareUpdatePolicyReplicated(gone.Id, link.ParentName, gone.ReplicatedVersion ?? 0,
                gone.Name, gone.Description, false, gone.Bulletins, gone.Updates, gone.Options, gone.Targets, gone.Program, gone.Status, gone.ReplicatedCultures));
            await session.SaveChangesAsync(ct);
            counts["disabled"]++;
        }
        // A target of the parent's that no policy replicated here uses any more is this server's own again (else read-only for good).
        var used = policies.SelectMany(p => p.CustomTargets).Select(t => t.Id).ToHashSet();
        var orphans = targets.Values.Where(t => t is { ReplicatedFrom: not null, Deleted: false } && !used.Contains(t.Id)).ToList();
        if (orphans.Count > 0)
        {
            await using var session = store.OpenSession(actor, runId);
            foreach (var orphan in orphans)
                (await session.Events.FetchForWriting<Target>(orphan.Id, ct)).AppendOne(new TargetReleased(orphan.Id, orphan.ReplicatedFrom!));
            await session.SaveChangesAsync(ct);
            counts["targetsReleased"] = orphans.Count;
        }
        return (counts, problems);
    }

    /// <summary>
    /// Whether the policy here is the parent's as it is: the same version of the policy, as enabled (one no longer chosen
    /// for this child was disabled here at that version), and its custom targets with the same rules (a target edited on
    /// the parent changes no policy's version), replicated for the cultures managed now.
    /// </summary>
    private static bool Unchanged(SoftwareUpdatePolicy known, ReplicatedPolicy policy, IReadOnlyDictionary<string, Target> targets, IReadOnlyList<string> cultures) =>
        known.ReplicatedVersion == policy.Version && known.Enabled == policy.Enabled && known.Status == policy.Status
        && known.ReplicatedCultures is { } had && had.Count == cultures.Count && cultures.All(c => had.Contains(c, StringComparer.OrdinalIgnoreCase))
        && policy.CustomTargets.All(t => targets.GetValueOrDefault(t.Id)?.IsReplicaOf(t.Name, t.Include, t.Exclude) == true);

    /// <summary>Null when the policy was written, else why it waits.</summary>
    private async Task<string?> ApplyAsync(ParentLink link, Actor actor, string runId, ReplicatedPolicy policy, IReadOnlyList<string> cultures,
        Func<string, long, CancellationToken, Task<string?>> fetch, Dictionary<string, int> counts, CancellationToken ct)
    {
        await using var session = store.OpenSession(actor, runId);
        var bulletins = (await session.LoadManyAsync<Bulletin>(ct, policy.Bulletins.ToArray())).ToDictionary(b => b.Id);
        if (policy.Bulletins.FirstOrDefault(b => !bulletins.ContainsKey(b)) is { } missing)
            return $"Policy '{policy.Name}': bulletin {missing} is not replicated here yet (run catalog-replication first).";
        // Updates of a culture this server does not manage are not in its catalog (replication leaves them out): nor in its
        // policies — never staged, never sent to its agents (a local policy never has them either).
        var updates = policy.Updates.Where(u => CatalogReplication.Wanted(u.Culture, cultures)).ToList();
        if (updates.FirstOrDefault(u => bulletins[u.BulletinId].Updates.All(x => x.UpdateId != u.UpdateId)) is { } absent)
            return $"Policy '{policy.Name}': update {absent.UpdateId} of {absent.BulletinId} is not replicated here yet (run catalog-replication first).";
        foreach (var update in updates)
        {
            foreach (var file in (update.Prerequisites ?? []).Select(f => (f.Sha256, f.Size)).Append((update.PackageSha256, update.PackageSize)))
            {
                if (packages.Reuse(file.Item1)) continue;
                if (await fetch(file.Item1, file.Item2, ct) is { } failure) return $"Policy '{policy.Name}': {failure}";
                counts["packagesDownloaded"]++;
            }
            // The update is staged here with the parent's package: agents download it from this server.
            if (bulletins[update.BulletinId].DownloadOf(update.UpdateId) is not { Status: DownloadStatus.Downloaded } d || d.Sha256 != update.PackageSha256)
                (await session.Events.FetchForWriting<Bulletin>(update.BulletinId, ct)).AppendOne(new UpdateDownloaded(update.BulletinId, update.UpdateId, update.PackageSha256,
                    update.PackageSize, $"parent:{link.ParentName}", true, 1, time.GetUtcNow(), null, update.Prerequisites, update.FileName));
        }
        // The parent's targets, read-only here (one deleted here, or replicated before it was marked so, is written again).
        foreach (var target in policy.CustomTargets)
        {
            var stream = await session.Events.FetchForWriting<Target>(target.Id, ct);
            if (stream.Aggregate?.IsReplicaOf(target.Name, target.Include, target.Exclude) != true)
                stream.AppendOne(new TargetReplicated(target.Id, link.ParentName, target.Name, target.Include, target.Exclude));
        }
        (await session.Events.FetchForWriting<SoftwareUpdatePolicy>(policy.Id, ct)).AppendOne(new SoftwareUpdatePolicyReplicated(policy.Id, link.ParentName, policy.Version,
            policy.Name, policy.Description, policy.Enabled, policy.Bulletins, updates, policy.Options, policy.Targets, policy.Program, policy.Status, cultures.ToList()));
        await session.SaveChangesAsync(ct);
        counts["updatesOfUnmanagedCultures"] += policy.Updates.Count - updates.Count;
        return null;
    }

    /// <summary>One package from the parent, stored only when its SHA-256 and size are the ones the (signed) policy gives.</summary>
    private async Task<string?> FetchAsync(ParentLink link, string sha256, long size, CancellationToken ct)
    {
        var partial = packages.PartialPath($"parent|{sha256}");
        try
        {
            await parent.DownloadAsync(link, $"packages/{sha256}", partial, staging.MaxPackageBytes, ct);
            var actual = await PackageStore.HashAsync(partial, ct);
            var length = new FileInfo(partial).Length;
            if (actual != sha256 || length != size)
                return $"package {sha256} from the parent does not verify (SHA-256 {actual}, {length} bytes; expected {size}): not used.";
            packages.Commit(partial, sha256);
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or ParentRefusedException or InvalidOperationException or IOException)
        {
            return $"package {sha256} could not be fetched from the parent: {e.Message}";
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }
}
