using Patch.Domain.Catalog;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Settings;

namespace Patch.Domain.Policies;

public enum ScheduleMode { AgentDefault, Own }

public enum PolicyStatus { Active, Deleted, Retired }

/// <summary>The policy's own run schedule: at <see cref="Start"/> local time on the days of <see cref="Recurrence"/>.</summary>
public sealed record PolicySchedule(string TimeZone, TimeOnly Start, Recurrence Recurrence);

/// <summary>Package options of the wizard; <c>DistributeNewUpdates</c> is the seed's "enable distribution of newly added updates" (the Revise task adds them).</summary>
public sealed record PackageOptions(ScheduleMode Schedule, PolicySchedule? OwnSchedule, bool WakeOnLan, bool OverrideMaintenanceWindows, bool Multicast,
    bool DistributeNewUpdates = false)
{
    public static PackageOptions From(VendorSettingsValues vendor) => new(ScheduleMode.AgentDefault, null, false, false, vendor.Package.UseMulticast);

    public IReadOnlyList<string> Problems()
    {
        if (Schedule == ScheduleMode.AgentDefault) return OwnSchedule is null ? [] : ["options.ownSchedule: only with schedule 'Own'"];
        if (OwnSchedule is null) return ["options.ownSchedule: required with schedule 'Own'"];
        if (OwnSchedule.Recurrence is null || OwnSchedule.TimeZone is null) return ["options.ownSchedule: timeZone, start and recurrence are required"];
        return new MaintenanceWindowSchedule(OwnSchedule.TimeZone, OwnSchedule.Start, TimeSpan.FromHours(1), OwnSchedule.Recurrence).Problems()
            .Where(p => !p.StartsWith("duration", StringComparison.Ordinal)).Select(p => "options.ownSchedule." + p).ToList();
    }
}

/// <summary>One software update distributed by a policy, with the package and command line it was given.</summary>
public sealed record PolicyUpdate(string BulletinId, string UpdateId, string Product, string Culture, bool Enabled, string PackageSha256, long PackageSize, string? FileName,
    string CommandLine, RestartBehavior Restart, int Revision = 1, bool ReinstallOnRevision = false, IReadOnlyList<PackageFile>? Prerequisites = null)
{
    /// <summary>Records compare lists by reference: two updates are the same when their prerequisites are the same files in the same order.</summary>
    public bool Equals(PolicyUpdate? other) => other is not null && BulletinId == other.BulletinId && UpdateId == other.UpdateId && Product == other.Product &&
        Culture == other.Culture && Enabled == other.Enabled && PackageSha256 == other.PackageSha256 && PackageSize == other.PackageSize && FileName == other.FileName &&
        CommandLine == other.CommandLine && Restart == other.Restart && Revision == other.Revision && ReinstallOnRevision == other.ReinstallOnRevision &&
        (Prerequisites ?? []).SequenceEqual(other.Prerequisites ?? []);

    public override int GetHashCode() => HashCode.Combine(UpdateId, PackageSha256, CommandLine, Enabled, Revision);

    /// <summary>The packages the update needs by SHA-256: the files installed before it, then its own.</summary>
    public IEnumerable<string> PackageHashes() => (Prerequisites ?? []).Select(f => f.Sha256).Append(PackageSha256);
}

public sealed record SoftwareUpdatePolicyCreated(string PolicyId, string Name, string? Description, bool Enabled, IReadOnlyList<string> Bulletins,
    IReadOnlyList<PolicyUpdate> Updates, PackageOptions Options, IReadOnlyList<string> Targets, ProgramDefaults Program);

public sealed record SoftwareUpdatePolicyEdited(string PolicyId, string Name, string? Description, IReadOnlyList<PolicyUpdate> Updates, PackageOptions Options,
    IReadOnlyList<string> Targets, IReadOnlyList<FieldChange> Changes);

/// <summary>The Revise Software Updates task brought the policy in line with the catalog (revised packages and command lines, newly added updates) or the vendor's program settings.</summary>
public sealed record SoftwareUpdatePolicyRevised(string PolicyId, IReadOnlyList<PolicyUpdate> Updates, ProgramDefaults Program, IReadOnlyList<FieldChange> Changes, string Cause);

/// <summary>The Disable Superseded task stopped advertising an update another enabled policy replaces for the same targets.</summary>
public sealed record PolicyUpdateDisabledAsSuperseded(string PolicyId, string UpdateId, string SupersededBy, string ByPolicy);

public sealed record SoftwareUpdatePolicyEnabled(string PolicyId);

public sealed record SoftwareUpdatePolicyDisabled(string PolicyId);

public sealed record SoftwareUpdatePolicyDeleted(string PolicyId);

/// <summary>A policy that was ever delivered is retired, not erased: its history stays, it distributes nothing.</summary>
public sealed record SoftwareUpdatePolicyRetired(string PolicyId);

/// <summary>
/// A policy as the parent server defines it, replicated to this child (C10): the whole definition, its status and the
/// parent stream's version; the child's copy is read-only. <c>Parent</c> names the parent server.
/// </summary>
public sealed record SoftwareUpdatePolicyReplicated(string PolicyId, string Parent, long Version, string Name, string? Description, bool Enabled, IReadOnlyList<string> Bulletins,
    IReadOnlyList<PolicyUpdate> Updates, PackageOptions Options, IReadOnlyList<string> Targets, ProgramDefaults Program, PolicyStatus Status,
    IReadOnlyList<string>? Cultures = null);

/// <summary>A Software Update policy (C5): what distributes the updates of staged bulletins to its targets.</summary>
public sealed record SoftwareUpdatePolicy(string Id, string Name, string? Description, bool Enabled, IReadOnlyList<string> Bulletins, IReadOnlyList<PolicyUpdate> Updates,
    PackageOptions Options, IReadOnlyList<string> Targets, ProgramDefaults Program, PolicyStatus Status)
{
    public const int MaxNameLength = 200;

    /// <summary>The longest description a policy may be given (a bulletin's own — every CVE it fixes with its title — is a few thousand characters).</summary>
    public const int MaxDescriptionLength = 32_768;

    public static string StreamId(Guid id) => $"policy:{id:N}";

    /// <summary>The parent server this policy is replicated from (read-only here), or null for a policy of this server.</summary>
    public string? ReplicatedFrom { get; init; }

    /// <summary>The version of the parent's policy stream last replicated.</summary>
    public long? ReplicatedVersion { get; init; }

    /// <summary>The cultures this server managed when the policy was replicated: its updates of other cultures were left out.</summary>
    public IReadOnlyList<string>? ReplicatedCultures { get; init; }

    public static SoftwareUpdatePolicy Create(SoftwareUpdatePolicyReplicated e) =>
        new(e.PolicyId, e.Name, e.Description, e.Enabled, e.Bulletins, e.Updates, e.Options, e.Targets, e.Program, e.Status)
        { ReplicatedFrom = e.Parent, ReplicatedVersion = e.Version, ReplicatedCultures = e.Cultures };

    public static SoftwareUpdatePolicy Apply(SoftwareUpdatePolicyReplicated e, SoftwareUpdatePolicy p) => Create(e);

    /// <summary>Active and enabled: agents receive it at their next poll.</summary>
    public bool Distributes => Status == PolicyStatus.Active && Enabled;

    public static SoftwareUpdatePolicy Create(SoftwareUpdatePolicyCreated e) =>
        new(e.PolicyId, e.Name, e.Description, e.Enabled, e.Bulletins, e.Updates, e.Options, e.Targets, e.Program, PolicyStatus.Active);

    public static SoftwareUpdatePolicy Apply(SoftwareUpdatePolicyEdited e, SoftwareUpdatePolicy p) =>
        p with { Name = e.Name, Description = e.Description, Updates = e.Updates, Options = e.Options, Targets = e.Targets };

    public static SoftwareUpdatePolicy Apply(SoftwareUpdatePolicyRevised e, SoftwareUpdatePolicy p) => p with { Updates = e.Updates, Program = e.Program };

    public static SoftwareUpdatePolicy Apply(PolicyUpdateDisabledAsSuperseded e, SoftwareUpdatePolicy p) =>
        p with { Updates = p.Updates.Select(u => u.UpdateId == e.UpdateId ? u with { Enabled = false } : u).ToList() };

    public static SoftwareUpdatePolicy Apply(SoftwareUpdatePolicyEnabled e, SoftwareUpdatePolicy p) => p with { Enabled = true };

    public static SoftwareUpdatePolicy Apply(SoftwareUpdatePolicyDisabled e, SoftwareUpdatePolicy p) => p with { Enabled = false };

    public static SoftwareUpdatePolicy Apply(SoftwareUpdatePolicyDeleted e, SoftwareUpdatePolicy p) => p with { Status = PolicyStatus.Deleted, Enabled = false };

    public static SoftwareUpdatePolicy Apply(SoftwareUpdatePolicyRetired e, SoftwareUpdatePolicy p) => p with { Status = PolicyStatus.Retired, Enabled = false };
}
