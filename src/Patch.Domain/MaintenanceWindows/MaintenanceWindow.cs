namespace Patch.Domain.MaintenanceWindows;

public sealed record MaintenanceWindowDefined(string WindowId, string Name, MaintenanceWindowSchedule Schedule, IReadOnlyList<string> Targets);

public sealed record MaintenanceWindowChanged(string WindowId, string Name, MaintenanceWindowSchedule Schedule, IReadOnlyList<string> Targets);

public sealed record MaintenanceWindowDeleted(string WindowId);

/// <summary>A named maintenance window and the targets it applies to (C7; the agent honours it with the install cycle).</summary>
public sealed record MaintenanceWindow(string Id, string Name, MaintenanceWindowSchedule Schedule, IReadOnlyList<string> Targets, bool Deleted)
{
    public static string StreamId(Guid id) => $"window:{id:N}";

    public static MaintenanceWindow Create(MaintenanceWindowDefined e) => new(e.WindowId, e.Name, e.Schedule, e.Targets, false);

    public static MaintenanceWindow Apply(MaintenanceWindowChanged e, MaintenanceWindow w) => w with { Name = e.Name, Schedule = e.Schedule, Targets = e.Targets };

    public static MaintenanceWindow Apply(MaintenanceWindowDeleted e, MaintenanceWindow w) => w with { Deleted = true };

    public static Outcome Decide(MaintenanceWindow? current, string windowId, string? name, MaintenanceWindowSchedule? schedule, IReadOnlyList<string>? targets, ISet<string> knownTargets)
    {
        if (current is { Deleted: true }) return Outcome.Refuse(RejectionKind.NotFound, "Maintenance window deleted", $"Window '{windowId}' was deleted.");
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(name) || name.Length > 128 || name.Any(char.IsControl)) problems.Add("name: 1 to 128 characters, none a control character");
        if (schedule is null) problems.Add("schedule: required");
        else problems.AddRange(schedule.Problems().Select(p => "schedule." + p));
        problems.AddRange((targets ?? []).Where(t => !Patch.Domain.Targets.Targets.IsBuiltIn(t) && (t is null || !knownTargets.Contains(t)))
            .Select(t => t is null ? "targets: an entry is null" : $"targets: unknown target '{t}'"));
        if ((targets ?? []).Contains(Patch.Domain.Targets.Targets.RequiringUpdates))
            problems.Add($"targets: '{Patch.Domain.Targets.Targets.RequiringUpdates}' means the computers requiring a Software Update policy's updates; it has no meaning for a window");
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid maintenance window", string.Join("; ", problems));
        var list = (targets ?? []).Distinct().ToList();
        if (current is null) return Outcome.Append(new MaintenanceWindowDefined(windowId, name!.Trim(), schedule!, list));
        return current.Name == name!.Trim() && ValueEquality.Same(current.Schedule, schedule) && current.Targets.SequenceEqual(list)
            ? Outcome.Nothing
            : Outcome.Append(new MaintenanceWindowChanged(windowId, name.Trim(), schedule!, list));
    }
}
