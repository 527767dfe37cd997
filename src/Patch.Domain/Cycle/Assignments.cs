using Patch.Domain.AgentConfigurations;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Policies;
using Patch.Domain.Settings;

namespace Patch.Domain.Cycle;

/// <summary>
/// One update a policy distributes to this computer, with everything the agent needs to decide and install it: the
/// catalog's rules (evaluated by the shared rule engine), the package (hash, size, URL on the server) and the command line.
/// </summary>
public sealed record AssignedUpdate(
    string BulletinId,
    string Bulletin,
    string UpdateId,
    string Product,
    string Culture,
    string? Kb,
    RestartBehavior Restart,
    string Sha256,
    long Size,
    string? FileName,
    string PackageUrl,
    string CommandLine,
    string? FixedBuild,
    string? ApplicabilityRule,
    string? InstalledRule,
    IReadOnlyList<string> Supersedes,
    int Revision = 1,
    bool ReinstallOnRevision = false,
    string? SubType = null,
    DateTimeOffset? Released = null,
    IReadOnlyList<AssignedFile>? Prerequisites = null)
{
    public CatalogUpdate ToCatalogUpdate() => new(BulletinId, Bulletin, new UpdateFacts(UpdateId, Product, null, Culture, FileName, null, Size, Sha256, Restart,
        CommandLine, SubType, FixedBuild, ApplicabilityRule, InstalledRule, Supersedes, null, Kb), Released);
}

/// <summary>A file installed before an update's own (a checkpoint cumulative update's): the agent puts it beside the package, verified by SHA-256.</summary>
public sealed record AssignedFile(string Sha256, long Size, string? FileName, string PackageUrl);

/// <summary>An update of the catalog that supersedes an assigned one (directly or down the chain): the agent needs it to decide "Superseded".</summary>
public sealed record SupersedingUpdate(string BulletinId, string Bulletin, string UpdateId, string Product, string Culture, string? Kb, string? FixedBuild,
    string? ApplicabilityRule, string? InstalledRule, IReadOnlyList<string> Supersedes, string? SubType = null, DateTimeOffset? Released = null)
{
    public CatalogUpdate ToCatalogUpdate() => new(BulletinId, Bulletin, new UpdateFacts(UpdateId, Product, null, Culture, null, null, null, null, RestartBehavior.Unknown,
        null, SubType, FixedBuild, ApplicabilityRule, InstalledRule, Supersedes, null, Kb), Released);
}

/// <summary>How the program runs (from the vendor's program defaults the policy was created with).</summary>
public sealed record AssignedProgram(RunWithRights RunWith, string? UserName, string? UserDomain, ProgramCanRun CanRun, int TerminateAfterMinutes);

/// <summary>A policy that reaches this computer. <see cref="AlternateLocation"/> is the vendor's "alternate download location on the client": a folder the agent looks in (by file name, hash verified) before it downloads from the server.</summary>
public sealed record AssignedPolicy(string PolicyId, string Name, ScheduleMode Schedule, PolicySchedule? OwnSchedule, bool OverrideMaintenanceWindows,
    AssignedProgram Program, IReadOnlyList<AssignedUpdate> Updates, string? AlternateLocation = null);

public sealed record AssignedWindow(string WindowId, string Name, MaintenanceWindowSchedule Schedule);

/// <summary>What GET /agent/v1/assignments answers: the effective agent configuration, the computer's maintenance windows and the policies that reach it.</summary>
public sealed record Assignments(
    string ComputerId,
    string ConfigurationId,
    string ConfigurationName,
    AgentConfigurationSettings Configuration,
    IReadOnlyList<AssignedWindow> MaintenanceWindows,
    IReadOnlyList<AssignedPolicy> Policies,
    IReadOnlyList<SupersedingUpdate> Superseders);
