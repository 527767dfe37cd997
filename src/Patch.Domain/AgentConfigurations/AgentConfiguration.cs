using Patch.Domain.Catalog;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Policies;

namespace Patch.Domain.AgentConfigurations;

public enum RebootMode { Never, Scheduled, EndOfCycle }

/// <summary>Seed table 5-1, "Reboot Defaults": whether the agent may restart, and when (never, on its own schedule, at the end of the cycle).</summary>
public sealed record RebootDefaults(bool AllowReboot, RebootMode Mode, PolicySchedule? Schedule);

/// <summary>Seed table 5-2: the notices a person at the computer sees, and how far a restart may be deferred.</summary>
public sealed record AgentNotifications(
    bool NotifyUser,
    string? CustomMessage,
    bool ShowProgress,
    int? PendingRestartWarningMinutes,
    int? ReminderMinutes,
    bool AllowDefer,
    IReadOnlyList<int> DeferralChoicesMinutes,
    int MaxDeferrals)
{
    public const int MaxMessageLength = 128;
    public const string DefaultMessage = "New software update/s ready to apply";

    /// <summary>What the notice says: the custom message, else the seed's default.</summary>
    public string Message => string.IsNullOrWhiteSpace(CustomMessage) ? DefaultMessage : CustomMessage;
}

/// <summary>
/// The settings of an agent configuration policy (C7, seed tables 5-1 and 5-2). <see cref="PollIntervalMinutes"/> is how
/// often the agent asks for its assignments and re-evaluates them; <see cref="PreInstallCommand"/> is the seed's
/// "snapshot before patch installation": a command run before the installs of a cycle, whose failure stops the cycle.
/// </summary>
public sealed record AgentConfigurationSettings(
    IReadOnlyList<PolicySchedule> InstallSchedules,
    int ReinstallationAttempts,
    bool AllowUserToInitiate,
    RebootDefaults Reboot,
    bool OverrideMaintenanceWindows,
    AgentNotifications Notifications,
    int PollIntervalMinutes,
    string? PreInstallCommand = null)
{
    public static readonly AgentConfigurationSettings Defaults = new(
        InstallSchedules: [new PolicySchedule("UTC", new TimeOnly(2, 0), new Recurrence(RecurrenceKind.Daily))],
        ReinstallationAttempts: 3,
        AllowUserToInitiate: true,
        Reboot: new RebootDefaults(true, RebootMode.EndOfCycle, null),
        OverrideMaintenanceWindows: false,
        Notifications: new AgentNotifications(true, null, true, 15, 60, true, [15, 60, 240], 3),
        PollIntervalMinutes: 60);

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (InstallSchedules is null) problems.Add("installSchedules: required (use [] for none: installs then run only on policies' own schedules or on demand)");
        if (Reboot is null) problems.Add("reboot: required");
        if (Notifications is null) problems.Add("notifications: required");
        if (problems.Count > 0) return problems;
        if (InstallSchedules!.Count > 20) problems.Add("installSchedules: at most 20");
        for (var i = 0; i < InstallSchedules.Count; i++)
            problems.AddRange(ScheduleProblems(InstallSchedules[i], $"installSchedules[{i}]"));
        if (ReinstallationAttempts is < 0 or > 10) problems.Add("reinstallationAttempts: 0 to 10");
        if (PollIntervalMinutes is < 1 or > 1440) problems.Add("pollIntervalMinutes: 1 to 1440");
        if (!Enum.IsDefined(Reboot!.Mode)) problems.Add($"reboot.mode: '{(int)Reboot.Mode}' is not one of {string.Join(", ", Enum.GetNames<RebootMode>())}");
        if (Reboot!.Mode == RebootMode.Scheduled) problems.AddRange(Reboot.Schedule is null ? ["reboot.schedule: required with mode Scheduled"] : ScheduleProblems(Reboot.Schedule, "reboot.schedule"));
        else if (Reboot.Schedule is not null) problems.Add("reboot.schedule: only with mode Scheduled");
        var n = Notifications!;
        if (n.CustomMessage is { } m && (m.Trim().Length == 0 || m.Length > AgentNotifications.MaxMessageLength || m.Any(char.IsControl)))
            problems.Add($"notifications.customMessage: 1 to {AgentNotifications.MaxMessageLength} printable characters (this one has {m.Length})");
        if (n.PendingRestartWarningMinutes is < 1 or > 1440) problems.Add("notifications.pendingRestartWarningMinutes: 1 to 1440, or null for no warning");
        if (n.ReminderMinutes is < 1 or > 1440) problems.Add("notifications.reminderMinutes: 1 to 1440, or null for no reminder");
        if (n.DeferralChoicesMinutes is null) problems.Add("notifications.deferralChoicesMinutes: required (use [] with allowDefer false)");
        else
        {
            if (n.DeferralChoicesMinutes.Any(d => d is < 1 or > 10080)) problems.Add("notifications.deferralChoicesMinutes: each 1 to 10080 minutes");
            if (n.DeferralChoicesMinutes.Distinct().Count() < n.DeferralChoicesMinutes.Count) problems.Add("notifications.deferralChoicesMinutes: a choice is given twice");
            if (n.AllowDefer && n.DeferralChoicesMinutes.Count == 0) problems.Add("notifications.deferralChoicesMinutes: at least one choice when allowDefer is true");
        }
        if (n.MaxDeferrals is < 0 or > 100) problems.Add("notifications.maxDeferrals: 0 to 100");
        if (PreInstallCommand is { } cmd && (cmd.Trim().Length == 0 || cmd.Length > 1024 || cmd.Any(char.IsControl)))
            problems.Add("preInstallCommand: 1 to 1024 printable characters, or null for none");
        return problems;
    }

    private static IEnumerable<string> ScheduleProblems(PolicySchedule? s, string field)
    {
        if (s?.Recurrence is null || s.TimeZone is null) return [$"{field}: timeZone, start and recurrence are required"];
        return new MaintenanceWindowSchedule(s.TimeZone, s.Start, TimeSpan.FromHours(1), s.Recurrence).Problems()
            .Where(p => !p.StartsWith("duration", StringComparison.Ordinal)).Select(p => $"{field}.{p}");
    }

    public IReadOnlyList<FieldChange> ChangesTo(AgentConfigurationSettings after)
    {
        var pairs = new (string, string?, string?)[]
        {
            ("installSchedules", Text(InstallSchedules), Text(after.InstallSchedules)),
            ("reinstallationAttempts", ReinstallationAttempts.ToString(), after.ReinstallationAttempts.ToString()),
            ("allowUserToInitiate", AllowUserToInitiate.ToString(), after.AllowUserToInitiate.ToString()),
            ("reboot", Text(Reboot), Text(after.Reboot)),
            ("overrideMaintenanceWindows", OverrideMaintenanceWindows.ToString(), after.OverrideMaintenanceWindows.ToString()),
            ("notifications", Text(Notifications), Text(after.Notifications)),
            ("pollIntervalMinutes", PollIntervalMinutes.ToString(), after.PollIntervalMinutes.ToString()),
            ("preInstallCommand", PreInstallCommand, after.PreInstallCommand),
        };
        return pairs.Where(p => p.Item2 != p.Item3).Select(p => new FieldChange(p.Item1, p.Item2, p.Item3)).ToList();
    }

    private static string Text(object? value) => FieldChange.Text(value) ?? "null";
}

public sealed record AgentConfigurationCreated(string ConfigurationId, string Name, bool IsDefault, AgentConfigurationSettings Settings, IReadOnlyList<string> Targets, int Priority, string? ClonedFrom);

public sealed record AgentConfigurationEdited(string ConfigurationId, string Name, AgentConfigurationSettings Settings, IReadOnlyList<string> Targets, int Priority, IReadOnlyList<FieldChange> Changes);

public sealed record AgentConfigurationDeleted(string ConfigurationId);

/// <summary>
/// An agent configuration policy (C7). The default one applies to every computer that no other one targets and cannot be
/// retargeted (seed: "clone the policy and alter the resource target on the clone"); it exists from the start with the
/// seed's defaults, and its stream begins with its first edit. Clones have their own targets and a priority.
/// </summary>
public sealed record AgentConfiguration(string Id, string Name, bool IsDefault, AgentConfigurationSettings Settings, IReadOnlyList<string> Targets, int Priority, bool Deleted)
{
    public const string DefaultId = "agent-config:default";
    public const string DefaultName = "Default Software Update Agent Configuration Policy";
    public const int MaxNameLength = 200;

    public static readonly AgentConfiguration Default = new(DefaultId, DefaultName, true, AgentConfigurationSettings.Defaults, [], int.MaxValue, false);

    public static string StreamId(Guid id) => $"agent-config:{id:N}";

    public static AgentConfiguration Create(AgentConfigurationCreated e) => new(e.ConfigurationId, e.Name, e.IsDefault, e.Settings, e.Targets, e.Priority, false);

    public static AgentConfiguration Apply(AgentConfigurationEdited e, AgentConfiguration c) => c with { Name = e.Name, Settings = e.Settings, Targets = e.Targets, Priority = e.Priority };

    public static AgentConfiguration Apply(AgentConfigurationDeleted e, AgentConfiguration c) => c with { Deleted = true };

    /// <summary>
    /// Which configuration a computer gets: of the clones that are not deleted and whose targets contain it, the one with
    /// the lowest priority number (ties: the name, then the id, in ordinal order); the default when no clone targets it.
    /// </summary>
    public static AgentConfiguration EffectiveFor(IEnumerable<AgentConfiguration> configurations, Func<string, bool> computerIsIn) =>
        configurations.Where(c => !c.IsDefault && !c.Deleted && c.Targets.Any(computerIsIn))
            .OrderBy(c => c.Priority).ThenBy(c => c.Name, StringComparer.Ordinal).ThenBy(c => c.Id, StringComparer.Ordinal)
            .FirstOrDefault()
        ?? configurations.FirstOrDefault(c => c.IsDefault) ?? Default;

    /// <summary>Edit a configuration; the default one keeps its name and its (implicit) target.</summary>
    public static Outcome DecideEdit(AgentConfiguration? current, string id, string? name, AgentConfigurationSettings? settings, IReadOnlyList<string>? targets, int? priority, ISet<string> knownTargets)
    {
        var existing = current ?? (id == DefaultId ? Default : null);
        if (existing is null) return Outcome.Refuse(RejectionKind.NotFound, "Agent configuration not found", $"No agent configuration policy '{id}'.");
        if (existing.Deleted) return Outcome.Refuse(RejectionKind.NotFound, "Agent configuration deleted", $"Agent configuration policy '{id}' was deleted.");
        if (existing.IsDefault && targets is { Count: > 0 })
            return Outcome.Refuse(RejectionKind.Invalid, "The default policy cannot be retargeted",
                "The default agent configuration applies to every computer without another one; clone it (POST /api/agent-configurations/agent-config:default/clone) and give the clone targets.");
        var newName = name?.Trim() ?? existing.Name;
        var newSettings = settings ?? existing.Settings;
        var newTargets = existing.IsDefault ? [] : targets?.Distinct().ToList() ?? existing.Targets.ToList();
        var newPriority = existing.IsDefault ? int.MaxValue : priority ?? existing.Priority;
        var problems = Validate(newName, newSettings, newTargets, newPriority, existing.IsDefault, knownTargets);
        if (existing.IsDefault && newName != DefaultName) problems.Add("name: the default policy keeps its name");
        if (existing.IsDefault && priority is not null) problems.Add("priority: the default policy has none (it applies when no clone does)");
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid agent configuration", string.Join("; ", problems));

        var changes = existing.Settings.ChangesTo(newSettings).ToList();
        if (newName != existing.Name) changes.Insert(0, new FieldChange("name", existing.Name, newName));
        if (!newTargets.SequenceEqual(existing.Targets)) changes.Add(new FieldChange("targets", string.Join(", ", existing.Targets), string.Join(", ", newTargets)));
        if (newPriority != existing.Priority) changes.Add(new FieldChange("priority", existing.Priority.ToString(), newPriority.ToString()));
        if (changes.Count == 0) return Outcome.Nothing;
        var edited = new AgentConfigurationEdited(id, newName, newSettings, newTargets, newPriority, changes);
        // The default's stream begins with its first edit: it is created with the defaults it had until then.
        return current is null
            ? Outcome.Append(new AgentConfigurationCreated(id, DefaultName, true, Default.Settings, [], int.MaxValue, null), edited)
            : Outcome.Append(edited);
    }

    /// <summary>A clone copies the source's settings (or the ones given) and must be given targets.</summary>
    public static Outcome DecideClone(AgentConfiguration? source, string sourceId, string newId, string? name, AgentConfigurationSettings? settings, IReadOnlyList<string>? targets, int? priority, ISet<string> knownTargets)
    {
        var from = source ?? (sourceId == DefaultId ? Default : null);
        if (from is null) return Outcome.Refuse(RejectionKind.NotFound, "Agent configuration not found", $"No agent configuration policy '{sourceId}'.");
        if (from.Deleted) return Outcome.Refuse(RejectionKind.NotFound, "Agent configuration deleted", $"Agent configuration policy '{sourceId}' was deleted.");
        var newName = string.IsNullOrWhiteSpace(name) ? $"Copy of {from.Name}" : name.Trim();
        var list = targets?.Distinct().ToList() ?? [];
        var problems = Validate(newName, settings ?? from.Settings, list, priority ?? 100, false, knownTargets);
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid agent configuration", string.Join("; ", problems));
        return Outcome.Append(new AgentConfigurationCreated(newId, newName, false, settings ?? from.Settings, list, priority ?? 100, sourceId));
    }

    public static Outcome DecideDelete(AgentConfiguration? current, string id)
    {
        if (id == DefaultId) return Outcome.Refuse(RejectionKind.Conflict, "The default policy cannot be deleted", "Every computer without another agent configuration uses the default one.");
        if (current is null) return Outcome.Refuse(RejectionKind.NotFound, "Agent configuration not found", $"No agent configuration policy '{id}'.");
        // Deleted already: 404 naming it, as a deleted policy's or maintenance window's delete answers.
        return current.Deleted
            ? Outcome.Refuse(RejectionKind.NotFound, "Agent configuration deleted", $"Agent configuration policy '{id}' was deleted.")
            : Outcome.Append(new AgentConfigurationDeleted(id));
    }

    private static List<string> Validate(string name, AgentConfigurationSettings settings, IReadOnlyList<string> targets, int priority, bool isDefault, ISet<string> knownTargets)
    {
        var problems = new List<string>();
        if (name.Length is 0 or > MaxNameLength || name.Any(char.IsControl)) problems.Add($"name: 1 to {MaxNameLength} characters, none a control character");
        problems.AddRange(settings.Problems());
        if (!isDefault)
        {
            if (targets.Count == 0) problems.Add("targets: a clone needs at least one target (the default policy covers every other computer)");
            problems.AddRange(targets.Where(t => !Domain.Targets.Targets.IsBuiltIn(t) && (t is null || !knownTargets.Contains(t)))
                .Select(t => t is null ? "targets: an entry is null" : $"targets: unknown target '{t}'"));
            if (targets.Contains(Domain.Targets.Targets.RequiringUpdates))
                problems.Add($"targets: '{Domain.Targets.Targets.RequiringUpdates}' means the computers requiring a Software Update policy's updates; it has no meaning for an agent configuration");
            if (priority is < 0 or > 10000) problems.Add("priority: 0 to 10000 (lower wins when several clones target a computer)");
        }
        return problems;
    }
}
