using Patch.Domain.Catalog;
using Patch.Domain.Settings;

namespace Patch.Domain.Policies;

/// <summary>Per-update choices in the wizard; anything left null keeps the default.</summary>
public sealed record PolicyUpdateChoice(string UpdateId, bool? Enabled = null, string? CommandLine = null);

public sealed record CreatePolicy(
    IReadOnlyList<string> BulletinIds,
    string? SingleUpdateId,
    string? Name,
    string? Description,
    bool Enabled,
    PackageOptions? Options,
    IReadOnlyList<string>? Targets,
    IReadOnlyList<PolicyUpdateChoice>? Updates);

public sealed record EditPolicy(string? Name, string? Description, PackageOptions? Options, IReadOnlyList<string>? Targets, IReadOnlyList<PolicyUpdateChoice>? Updates);

/// <summary>The wizard's rules as pure decisions.</summary>
public static class PolicyDecisions
{
    /// <summary>
    /// A policy is made from staged bulletins (every non-excluded update of each) or from one downloaded update. A bulletin
    /// that is not fully staged refuses the whole request, listing what is missing.
    /// </summary>
    public static Outcome Create(string policyId, CreatePolicy command, IReadOnlyList<Bulletin> bulletins, VendorSettingsValues vendor, ISet<string> knownTargets)
    {
        if (bulletins.Count == 0) return Outcome.Refuse(RejectionKind.Invalid, "Nothing to distribute", "Give 'bulletinIds' (one or more staged bulletins) or 'bulletinId' with 'updateId'.");
        var updates = new List<(Bulletin Bulletin, UpdateFacts Update)>();
        var missing = new List<string>();
        if (command.SingleUpdateId is { } single)
        {
            var bulletin = bulletins[0];
            var update = bulletin.Updates.FirstOrDefault(u => u.UpdateId == single);
            if (update is null) return Outcome.Refuse(RejectionKind.NotFound, "Update not found", $"Bulletin {bulletin.Facts.Number} has no update '{single}'.");
            if (update.Excluded is not null) return Outcome.Refuse(RejectionKind.Invalid, "Update excluded", $"Update '{single}' is excluded: {update.Excluded}.");
            if (bulletin.DownloadOf(single)?.Status != DownloadStatus.Downloaded) missing.Add(Missing(bulletin, update));
            updates.Add((bulletin, update));
        }
        else
        {
            foreach (var bulletin in bulletins)
            {
                if (bulletin.UpdateCount == 0) missing.Add($"{bulletin.Facts.Number}: has no updates to distribute");
                missing.AddRange(StagingRules.Missing(bulletin).Select(u => Missing(bulletin, u)));
                updates.AddRange(bulletin.Updates.Where(u => u.Excluded is null).Select(u => (bulletin, u)));
            }
        }
        if (missing.Count > 0)
            return Outcome.Refuse(RejectionKind.Conflict, "Bulletin not fully staged",
                $"Stage these updates before creating the policy: {string.Join("; ", missing)}.");

        var policyUpdates = updates.Select(x => Distribute(x.Bulletin, x.Update, x.Bulletin.DownloadOf(x.Update.UpdateId)!)).ToList();
        var (chosen, choiceProblem) = ApplyChoices(policyUpdates, command.Updates);
        if (choiceProblem is not null) return choiceProblem;

        var options = command.Options ?? PackageOptions.From(vendor);
        var targets = command.Targets is { Count: > 0 } t ? t.Distinct().ToList() : [vendor.DefaultTargetId];
        var problems = options.Problems().Concat(TargetProblems(targets, knownTargets)).ToList();
        var name = string.IsNullOrWhiteSpace(command.Name) ? DefaultName(bulletins, command.SingleUpdateId) : command.Name.Trim();
        if (name.Length > SoftwareUpdatePolicy.MaxNameLength || name.Any(char.IsControl)) problems.Add($"name: at most {SoftwareUpdatePolicy.MaxNameLength} characters, none a control character");
        if (command.Description is { Length: > SoftwareUpdatePolicy.MaxDescriptionLength }) problems.Add($"description: at most {SoftwareUpdatePolicy.MaxDescriptionLength} characters");
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid policy", string.Join("; ", problems));

        // By default the bulletin's own description (or its bulletins' titles), cut to what a description may hold: the
        // console sends it back with every change of the policy.
        var description = command.Description ?? Clip(bulletins.Count == 1 ? bulletins[0].Facts.Description ?? bulletins[0].Facts.Title : string.Join("\n", bulletins.Select(b => b.Facts.Title)));
        return Outcome.Append(new SoftwareUpdatePolicyCreated(policyId, name, description, command.Enabled, bulletins.Select(b => b.Id).Distinct().ToList(),
            chosen, options, targets, vendor.Program));
    }

    public static Outcome Edit(SoftwareUpdatePolicy? policy, string policyId, EditPolicy command, ISet<string> knownTargets)
    {
        if (Gone(policy, policyId) is { } gone) return gone;
        var (updates, choiceProblem) = ApplyChoices(policy!.Updates, command.Updates);
        if (choiceProblem is not null) return choiceProblem;
        var name = command.Name?.Trim() ?? policy.Name;
        var options = command.Options ?? policy.Options;
        var targets = command.Targets?.Distinct().ToList() ?? policy.Targets.ToList();
        var problems = options.Problems().Concat(TargetProblems(targets, knownTargets)).ToList();
        if (name.Length is 0 or > SoftwareUpdatePolicy.MaxNameLength || name.Any(char.IsControl)) problems.Add($"name: 1 to {SoftwareUpdatePolicy.MaxNameLength} characters, none a control character");
        if (command.Description is { Length: > SoftwareUpdatePolicy.MaxDescriptionLength }) problems.Add($"description: at most {SoftwareUpdatePolicy.MaxDescriptionLength} characters");
        if (targets.Count == 0) problems.Add("targets: at least one");
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid policy", string.Join("; ", problems));

        var description = command.Description ?? policy.Description;
        var changes = new List<FieldChange>();
        if (name != policy.Name) changes.Add(new FieldChange("name", policy.Name, name));
        if (description != policy.Description) changes.Add(new FieldChange("description", policy.Description, description));
        if (!ValueEquality.Same(options, policy.Options)) changes.Add(new FieldChange("options", FieldChange.Text(policy.Options), FieldChange.Text(options)));
        if (!targets.SequenceEqual(policy.Targets)) changes.Add(new FieldChange("targets", string.Join(", ", policy.Targets), string.Join(", ", targets)));
        foreach (var (before, after) in policy.Updates.Zip(updates))
        {
            if (before.Enabled != after.Enabled) changes.Add(new FieldChange($"updates[{after.UpdateId}].enabled", before.Enabled.ToString(), after.Enabled.ToString()));
            if (before.CommandLine != after.CommandLine) changes.Add(new FieldChange($"updates[{after.UpdateId}].commandLine", before.CommandLine, after.CommandLine));
        }
        return changes.Count == 0 ? Outcome.Nothing : Outcome.Append(new SoftwareUpdatePolicyEdited(policyId, name, description, updates, options, targets, changes));
    }

    public static Outcome SetEnabled(SoftwareUpdatePolicy? policy, string policyId, bool enabled)
    {
        if (Gone(policy, policyId) is { } gone) return gone;
        if (policy!.Enabled == enabled) return Outcome.Nothing;
        return enabled ? Outcome.Append(new SoftwareUpdatePolicyEnabled(policyId)) : Outcome.Append(new SoftwareUpdatePolicyDisabled(policyId));
    }

    /// <summary>Deleting a policy that was ever delivered (an agent reported a status for it) retires it instead.</summary>
    public static Outcome Delete(SoftwareUpdatePolicy? policy, string policyId, bool everDelivered)
    {
        if (Gone(policy, policyId) is { } gone) return gone;
        return everDelivered ? Outcome.Append(new SoftwareUpdatePolicyRetired(policyId)) : Outcome.Append(new SoftwareUpdatePolicyDeleted(policyId));
    }

    /// <summary>
    /// The vendor's default command line for a package by its kind (msu, msi, msp, exe). An .msu with prerequisites (a
    /// checkpoint cumulative update) is added with DISM, which installs the checkpoints it finds in the same folder first.
    /// </summary>
    public static string DefaultCommandLine(string? fileName, bool withPrerequisites = false)
    {
        var file = string.IsNullOrEmpty(fileName) ? "package" : fileName;
        if (withPrerequisites && Path.GetExtension(file).Equals(".msu", StringComparison.OrdinalIgnoreCase))
            return $"dism.exe /online /add-package /packagepath:\"{file}\" /quiet /norestart";
        return Path.GetExtension(file).ToLowerInvariant() switch
        {
            ".msu" => $"wusa.exe \"{file}\" /quiet /norestart",
            ".msi" => $"msiexec.exe /i \"{file}\" /qn /norestart",
            ".msp" => $"msiexec.exe /p \"{file}\" /qn /norestart",
            ".cab" => $"dism.exe /online /add-package /packagepath:\"{file}\" /quiet /norestart",
            _ => $"\"{file}\" /quiet /norestart",
        };
    }

    /// <summary>A staged update as a policy distributes it: its package (and prerequisites), file name and command line.</summary>
    public static PolicyUpdate Distribute(Bulletin bulletin, UpdateFacts update, UpdateDownload download)
    {
        var fileName = update.FileName ?? download.FileName;
        var prerequisites = download.Prerequisites is { Count: > 0 } p ? p : null;
        return new PolicyUpdate(bulletin.Id, update.UpdateId, update.Product, update.Culture, true, download.Sha256!, download.Size ?? 0, fileName,
            update.CommandLine ?? DefaultCommandLine(fileName, prerequisites is not null), update.Restart, update.Revision, update.ReinstallOnRevision, prerequisites);
    }

    public static string DefaultName(IReadOnlyList<Bulletin> bulletins, string? singleUpdateId) => singleUpdateId is not null
        ? $"{bulletins[0].Facts.Number}: {bulletins[0].Updates.First(u => u.UpdateId == singleUpdateId).Product}"
        : bulletins.Count <= 3 ? string.Join(", ", bulletins.Select(b => b.Facts.Number)) : $"{string.Join(", ", bulletins.Take(3).Select(b => b.Facts.Number))} and {bulletins.Count - 3} more";

    private static string Missing(Bulletin bulletin, UpdateFacts u)
    {
        var d = bulletin.DownloadOf(u.UpdateId);
        var state = d?.Status == DownloadStatus.Failed ? $"download failed: {d.Reason}" : "not downloaded";
        return $"{bulletin.Facts.Number}/{u.UpdateId} ({u.Product}): {state}";
    }

    private static (IReadOnlyList<PolicyUpdate>, Outcome?) ApplyChoices(IReadOnlyList<PolicyUpdate> updates, IReadOnlyList<PolicyUpdateChoice>? choices)
    {
        if (choices is null) return (updates, null);
        if (choices.Any(c => c?.UpdateId is null)) return (updates, Outcome.Refuse(RejectionKind.Invalid, "Invalid update choice", "updates[].updateId: required"));
        // One choice an update: two (enabled and not) would leave one of them unsaid.
        if (choices.GroupBy(c => c.UpdateId).FirstOrDefault(g => g.Count() > 1) is { } twice)
            return (updates, Outcome.Refuse(RejectionKind.Invalid, "Invalid update choice", $"updates: '{twice.Key}' is given {twice.Count()} times; give each update once."));
        var unknown = choices.Select(c => c.UpdateId).Where(id => updates.All(u => u.UpdateId != id)).ToList();
        if (unknown.Count > 0) return (updates, Outcome.Refuse(RejectionKind.Invalid, "Unknown update", $"updates: not in this policy: {string.Join(", ", unknown)}."));
        var bad = choices.Where(c => c.CommandLine is { } cl && (cl.Trim().Length == 0 || cl.Length > 1024 || cl.Any(char.IsControl))).Select(c => c.UpdateId).ToList();
        if (bad.Count > 0) return (updates, Outcome.Refuse(RejectionKind.Invalid, "Invalid command line", $"updates[].commandLine: 1 to 1024 printable characters ({string.Join(", ", bad)})."));
        var result = updates.Select(u => choices.FirstOrDefault(c => c.UpdateId == u.UpdateId) is { } c
            ? u with { Enabled = c.Enabled ?? u.Enabled, CommandLine = c.CommandLine?.Trim() ?? u.CommandLine }
            : u).ToList();
        return result.Any(u => u.Enabled)
            ? (result, null)
            : (updates, Outcome.Refuse(RejectionKind.Invalid, "No update enabled", "updates: at least one update must stay enabled (disable the policy instead)."));
    }

    private static IEnumerable<string> TargetProblems(IReadOnlyList<string> targets, ISet<string> knownTargets) =>
        targets.Where(t => !Targets.Targets.IsBuiltIn(t) && (t is null || !knownTargets.Contains(t))).Select(t => t is null ? "targets: an entry is null" : $"targets: unknown target '{t}'");

    private static Outcome? Gone(SoftwareUpdatePolicy? policy, string policyId) => policy switch
    {
        null => Outcome.Refuse(RejectionKind.NotFound, "Policy not found", $"No Software Update policy '{policyId}'."),
        { Status: PolicyStatus.Deleted } => Outcome.Refuse(RejectionKind.NotFound, "Policy deleted", $"Policy '{policyId}' was deleted."),
        { Status: PolicyStatus.Retired } => Outcome.Refuse(RejectionKind.Conflict, "Policy retired", $"Policy '{policyId}' was retired; create a new one."),
        { ReplicatedFrom: { } parent } => Outcome.Refuse(RejectionKind.Conflict, "Replicated policy",
            $"Policy '{policyId}' is replicated from the parent server '{parent}': it is read-only here; change it on the parent."),
        _ => null,
    };

    private static string Clip(string text) =>
        text.Length <= SoftwareUpdatePolicy.MaxDescriptionLength ? text : text[..(SoftwareUpdatePolicy.MaxDescriptionLength - 1)] + "…";
}

