using Patch.Domain.Catalog;
using Patch.Domain.Settings;

namespace Patch.Domain.Policies;

/// <summary>What a revision of one policy would change, and what it could not do yet.</summary>
public sealed record PolicyRevision(SoftwareUpdatePolicyRevised? Event, int UpdatesRevised, int UpdatesAdded, int AwaitingStaging, bool ProgramAligned);

/// <summary>The seed's Revise Software Updates and Disable Superseded Software Update Advertisements tasks, as pure decisions.</summary>
public static class PolicyMaintenance
{
    /// <summary>
    /// Brings a policy in line with the catalog: an update whose package or revision changed (and is staged again) gets the
    /// new package and the catalog's command line; with "distribute newly added updates" on, a bulletin's staged updates the
    /// policy lacks join it. Given the vendor's current program settings, the policy's program is aligned with them.
    /// Updates not staged yet are left for a later run. No change, no event.
    /// </summary>
    public static PolicyRevision Revise(SoftwareUpdatePolicy policy, IReadOnlyDictionary<string, Bulletin> bulletins, ProgramDefaults? vendorProgram, string cause)
    {
        if (policy.Status != PolicyStatus.Active) return new PolicyRevision(null, 0, 0, 0, false);
        var changes = new List<FieldChange>();
        var updates = new List<PolicyUpdate>();
        int revised = 0, added = 0, awaiting = 0;
        foreach (var current in policy.Updates)
        {
            var bulletin = bulletins.GetValueOrDefault(current.BulletinId);
            var facts = bulletin?.Updates.FirstOrDefault(u => u.UpdateId == current.UpdateId);
            var download = facts is null ? null : bulletin!.DownloadOf(facts.UpdateId);
            if (facts is null || download?.Status != DownloadStatus.Downloaded)
            {
                if (facts is not null && (facts.Revision != current.Revision || download is null)) awaiting++;
                updates.Add(current);
                continue;
            }
            var distributed = PolicyDecisions.Distribute(bulletin!, facts, download);
            var next = current with
            {
                PackageSha256 = distributed.PackageSha256, PackageSize = distributed.PackageSize, FileName = distributed.FileName, Revision = facts.Revision,
                ReinstallOnRevision = facts.ReinstallOnRevision, Restart = facts.Restart, Prerequisites = distributed.Prerequisites,
            };
            // A new package, revision, file name or set of files installed before it: the program that runs it changes too.
            if (next.PackageSha256 != current.PackageSha256 || next.Revision != current.Revision || next.FileName != current.FileName
                || !(next.Prerequisites ?? []).SequenceEqual(current.Prerequisites ?? []))
                next = next with { CommandLine = distributed.CommandLine };
            if (next == current) { updates.Add(current); continue; }
            foreach (var (field, before, after) in new[]
                     {
                         ("package", current.PackageSha256, next.PackageSha256), ("revision", current.Revision.ToString(), next.Revision.ToString()),
                         ("commandLine", current.CommandLine, next.CommandLine), ("fileName", current.FileName, next.FileName), ("restart", current.Restart.ToString(), next.Restart.ToString()),
                         ("prerequisites", string.Join(",", (current.Prerequisites ?? []).Select(f => f.Sha256)), string.Join(",", (next.Prerequisites ?? []).Select(f => f.Sha256))),
                     })
                if (before != after) changes.Add(new FieldChange($"updates[{current.UpdateId}].{field}", before, after));
            updates.Add(next);
            revised++;
        }
        if (policy.Options.DistributeNewUpdates)
        {
            var have = policy.Updates.Select(u => u.UpdateId).ToHashSet(StringComparer.Ordinal);
            foreach (var bulletin in policy.Bulletins.Select(bulletins.GetValueOrDefault).OfType<Bulletin>())
                foreach (var facts in bulletin.Updates.Where(u => u.Excluded is null && !have.Contains(u.UpdateId)))
                {
                    if (bulletin.DownloadOf(facts.UpdateId) is not { Status: DownloadStatus.Downloaded } download) { awaiting++; continue; }
                    updates.Add(PolicyDecisions.Distribute(bulletin, facts, download));
                    changes.Add(new FieldChange($"updates[{facts.UpdateId}]", null, "added (newly added update of " + bulletin.Facts.Number + ")"));
                    added++;
                }
        }
        var program = policy.Program;
        var aligned = vendorProgram is not null && vendorProgram != policy.Program;
        if (aligned)
        {
            changes.Add(new FieldChange("program", Describe(policy.Program), Describe(vendorProgram!)));
            program = vendorProgram!;
        }
        return changes.Count == 0
            ? new PolicyRevision(null, 0, 0, awaiting, false)
            : new PolicyRevision(new SoftwareUpdatePolicyRevised(policy.Id, updates, program, changes, cause), revised, added, awaiting, aligned);
    }

    /// <summary>
    /// The enabled updates of an enabled policy that another enabled policy replaces for the same targets: the other policy
    /// distributes, enabled, an update of the same product whose catalog facts say it supersedes this one (by KB or
    /// bulletin number), and its targets include all of this policy's targets.
    /// </summary>
    public static IReadOnlyList<PolicyUpdateDisabledAsSuperseded> Superseded(SoftwareUpdatePolicy policy, IReadOnlyList<SoftwareUpdatePolicy> all,
        IReadOnlyDictionary<string, Bulletin> bulletins)
    {
        if (!policy.Distributes) return [];
        var found = new List<PolicyUpdateDisabledAsSuperseded>();
        foreach (var update in policy.Updates.Where(u => u.Enabled))
        {
            if (bulletins.GetValueOrDefault(update.BulletinId) is not { } bulletin) continue;
            var names = new[] { bulletin.Facts.Number, bulletin.Updates.FirstOrDefault(u => u.UpdateId == update.UpdateId)?.InstalledAs(bulletin.Facts.Number) }
                .OfType<string>().Select(n => n.ToUpperInvariant()).ToHashSet();
            var replacement = all.Where(other => other.Distributes && policy.Targets.All(other.Targets.Contains))
                .SelectMany(other => other.Updates.Where(u => u.Enabled && u.UpdateId != update.UpdateId).Select(u => (Policy: other, Update: u)))
                .FirstOrDefault(x => SupersedesAny(bulletins.GetValueOrDefault(x.Update.BulletinId), x.Update, update.Product, update.Culture, names));
            if (replacement.Policy is not null)
                found.Add(new PolicyUpdateDisabledAsSuperseded(policy.Id, update.UpdateId, replacement.Update.UpdateId, replacement.Policy.Id));
        }
        return found;
    }

    /// <summary>
    /// Whether <paramref name="candidate"/> replaces an update of <paramref name="product"/> in <paramref name="culture"/>:
    /// same product, a culture that reaches the same computers (the same, or a language-neutral candidate — an en-US update
    /// does not replace a de-DE one, nor a de-DE one a neutral one), and a supersedence its catalog facts name.
    /// </summary>
    private static bool SupersedesAny(Bulletin? bulletin, PolicyUpdate candidate, string product, string culture, ISet<string> names)
    {
        var facts = bulletin?.Updates.FirstOrDefault(u => u.UpdateId == candidate.UpdateId);
        return facts is not null && string.Equals(facts.Product, product, StringComparison.OrdinalIgnoreCase)
               && (string.Equals(facts.Culture, culture, StringComparison.OrdinalIgnoreCase) || IsNeutral(facts.Culture))
               && facts.Supersedes.Any(s => names.Contains(s.ToUpperInvariant()));
    }

    private static bool IsNeutral(string culture) => string.Equals(culture, Settings.CoreSettings.Neutral, StringComparison.OrdinalIgnoreCase);

    private static string Describe(ProgramDefaults p) => $"{p.RunWith}, {p.CanRun}, terminate after {p.TerminateAfterMinutes} min" +
                                                       (p.UserName is null ? "" : $", as {p.UserDomain}\\{p.UserName}");
}
