namespace Patch.Domain.Settings;

public enum RunWithRights { System, LoggedInUser, SpecifiedUser }

public enum ProgramCanRun { OnlyWhenUserLoggedOn, WhetherOrNotUserLoggedOn, OnlyWhenNoUserLoggedOn }

/// <summary>Package defaults (seed: Microsoft settings, Package Server tab).</summary>
public sealed record PackageDefaults(
    int DeleteUnusedAfterDays,
    bool UseMulticast,
    bool AllowPackageServerDistribution,
    string? PackageServerLocation,
    string? ClientLocation);

/// <summary>Program defaults (seed: Microsoft settings, Programs tab).</summary>
public sealed record ProgramDefaults(
    RunWithRights RunWith,
    string? UserName,
    string? UserDomain,
    ProgramCanRun CanRun,
    int TerminateAfterMinutes);

/// <summary>The settings of one vendor, with the seed's defaults. New packages and policies copy them; changing them never rewrites old ones.</summary>
public sealed record VendorSettingsValues(
    bool VerifyAuthenticity,
    string? DefaultMaintenanceWindowId,
    string DefaultTargetId,
    IReadOnlyList<string> ResourceExclusions,
    PackageDefaults Package,
    ProgramDefaults Program,
    bool AgentEvents)
{
    /// <summary>The built-in target every new policy gets unless the admin picks another: the computers that require its updates.</summary>
    public const string RequiringUpdatesTarget = "builtin:requiring-updates";

    public static readonly VendorSettingsValues Defaults = new(
        VerifyAuthenticity: true,
        DefaultMaintenanceWindowId: null,
        DefaultTargetId: RequiringUpdatesTarget,
        ResourceExclusions: [],
        Package: new PackageDefaults(DeleteUnusedAfterDays: 7, UseMulticast: false, AllowPackageServerDistribution: true, PackageServerLocation: null, ClientLocation: null),
        Program: new ProgramDefaults(RunWithRights.System, null, null, ProgramCanRun.WhetherOrNotUserLoggedOn, TerminateAfterMinutes: 60),
        AgentEvents: true);

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        // A JSON body can leave any of these out: name each missing part instead of failing on it.
        if (ResourceExclusions is null) problems.Add("resourceExclusions: required (use [] for none)");
        if (Package is null) problems.Add("package: required");
        if (Program is null) problems.Add("program: required");
        if (problems.Count > 0) return problems;
        if (string.IsNullOrWhiteSpace(DefaultTargetId)) problems.Add("defaultTargetId: required");
        if (ResourceExclusions!.Any(string.IsNullOrWhiteSpace)) problems.Add("resourceExclusions: names must not be empty");
        // Computers by name, as targets name them: a name no computer can have would exclude none, in silence.
        else if (ResourceExclusions!.FirstOrDefault(n => !Computers.Computer.IsName(n)) is { } bad)
            problems.Add($"resourceExclusions: '{Users.UserDecisions.Printable(bad.Length > 70 ? bad[..70] + "…" : bad)}' is not a computer name (1 to 63 letters, digits, '-', '_' or '.', neither starting nor ending with '.')");
        else if (ResourceExclusions!.Select(n => n.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).Count() < ResourceExclusions!.Count)
            problems.Add("resourceExclusions: a computer is named twice");
        if (Package!.DeleteUnusedAfterDays is < 0 or > 3650) problems.Add("package.deleteUnusedAfterDays: must be 0 (never) to 3650");
        if (Program!.TerminateAfterMinutes is < 1 or > 1440) problems.Add("program.terminateAfterMinutes: must be 1 to 1440");
        if (Program!.RunWith == RunWithRights.SpecifiedUser && (string.IsNullOrWhiteSpace(Program!.UserName) || string.IsNullOrWhiteSpace(Program!.UserDomain)))
            problems.Add("program.userName and program.userDomain: required when runWith is SpecifiedUser");
        if (Program!.RunWith != RunWithRights.SpecifiedUser && (Program!.UserName is not null || Program!.UserDomain is not null))
            problems.Add("program.userName and program.userDomain: only for runWith SpecifiedUser");
        foreach (var (name, value) in new[] { ("package.packageServerLocation", Package!.PackageServerLocation), ("package.clientLocation", Package!.ClientLocation) })
            if (value is not null && (value.Length > 260 || value.Any(char.IsControl))) problems.Add($"{name}: at most 260 printable characters");
        return problems;
    }
}

public sealed record VendorSettingsChanged(string Vendor, VendorSettingsValues Values, IReadOnlyList<Catalog.FieldChange> Changes);

public sealed record VendorSettings(string Id, string Vendor, VendorSettingsValues Values)
{
    public static string StreamId(string vendor) => $"settings:vendor:{StreamIds.Slug(vendor)}";

    public static VendorSettings Create(VendorSettingsChanged e) => new(StreamId(e.Vendor), e.Vendor, e.Values);

    public static VendorSettings Apply(VendorSettingsChanged e, VendorSettings s) => s with { Values = e.Values };

    public static Outcome Decide(VendorSettings? current, string vendor, VendorSettingsValues? incoming)
    {
        if (incoming is null) return Outcome.Refuse(RejectionKind.Invalid, "Missing body", "Send the complete vendor settings.");
        var problems = incoming.Problems();
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid vendor settings", string.Join("; ", problems));
        var before = current?.Values ?? VendorSettingsValues.Defaults;
        var changes = Changes(before, incoming);
        return changes.Count == 0 ? Outcome.Nothing : Outcome.Append(new VendorSettingsChanged(vendor, incoming, changes));
    }

    private static IReadOnlyList<Catalog.FieldChange> Changes(VendorSettingsValues a, VendorSettingsValues b)
    {
        var pairs = new (string, object?, object?)[]
        {
            ("verifyAuthenticity", a.VerifyAuthenticity, b.VerifyAuthenticity),
            ("defaultMaintenanceWindowId", a.DefaultMaintenanceWindowId, b.DefaultMaintenanceWindowId),
            ("defaultTargetId", a.DefaultTargetId, b.DefaultTargetId),
            ("resourceExclusions", string.Join(", ", a.ResourceExclusions), string.Join(", ", b.ResourceExclusions)),
            ("package", Catalog.FieldChange.Text(a.Package), Catalog.FieldChange.Text(b.Package)),
            ("program", Catalog.FieldChange.Text(a.Program), Catalog.FieldChange.Text(b.Program)),
            ("agentEvents", a.AgentEvents, b.AgentEvents),
        };
        return pairs.Where(p => !Equals(p.Item2?.ToString(), p.Item3?.ToString()))
            .Select(p => new Catalog.FieldChange(p.Item1, p.Item2?.ToString(), p.Item3?.ToString())).ToList();
    }
}
