using Patch.Domain.AgentConfigurations;
using Patch.Domain.MaintenanceWindows;

namespace Patch.Domain.Cycle;

/// <summary>
/// A restart the cycle needs: since when, when it is planned (null: never automatically), how often it was deferred,
/// and whether it was already handed to the system (an installer that initiated it, or the agent's shutdown request).
/// It is kept as soon as an install needs it (<see cref="NeedsPlan"/> until the cycle ends and plans its time) and is
/// over when the computer has booted since (<see cref="UptimeMark"/>: the computer's uptime before the install).
/// </summary>
public sealed record PendingRestart(DateTimeOffset Since, DateTimeOffset? PlannedAt, int Deferrals, DateTimeOffset? DeferredUntil, bool HandedToSystem = false,
    long? UptimeMark = null, bool NeedsPlan = false, bool OverrideWindows = false, DateTimeOffset? HandedAt = null);

/// <summary>The agent's restart decisions, pure: what an install leaves pending, when it is planned, when it is due, a deferral.</summary>
public static class Restarts
{
    /// <summary>How long a restart handed to the system may go unseen (no boot) before the agent asks again.</summary>
    public static readonly TimeSpan Retry = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The restart pending after an install that needs one: the need is kept at once (since the install, or since it
    /// started when the installer restarts the computer itself), its time is planned when the cycle ends.
    /// </summary>
    public static PendingRestart AfterInstall(PendingRestart? previous, bool initiated, DateTimeOffset startedAt, DateTimeOffset now, long? uptimeBefore, bool overrideWindows) =>
        new(previous?.Since ?? (initiated ? startedAt : now), previous?.PlannedAt, previous?.Deferrals ?? 0, previous?.DeferredUntil,
            previous?.HandedToSystem == true || initiated, previous?.UptimeMark ?? uptimeBefore, NeedsPlan: previous is null || previous.NeedsPlan || initiated,
            OverrideWindows: previous?.OverrideWindows == true || overrideWindows, HandedAt: initiated ? now : previous?.HandedAt);

    /// <summary>
    /// When a pending restart happens (<see cref="InstallCycle.RestartAfterWarning"/>); a person's deferral still holds. An
    /// installer that returned 1641 restarted the computer itself: nothing is planned. The detail says why when there is one.
    /// </summary>
    public static (PendingRestart Planned, string? Detail) Plan(PendingRestart pending, DateTimeOffset now, AgentConfigurationSettings configuration,
        IReadOnlyList<MaintenanceWindowSchedule> windows)
    {
        var at = pending.HandedToSystem ? pending.Since
            : InstallCycle.RestartAfterWarning(now, configuration, windows, configuration.OverrideMaintenanceWindows || pending.OverrideWindows);
        if (at is { } a && pending.DeferredUntil is { } deferred && deferred > a) at = deferred;
        var detail = pending.HandedToSystem ? "an installer initiated the restart (exit code 1641)"
            : at is null ? "the configuration never restarts automatically: restart pending until someone restarts" : null;
        return (pending with { PlannedAt = at, NeedsPlan = false }, detail);
    }

    /// <summary>Whether the agent restarts the computer now: planned, its time come, not deferred past now, not handed to the system a moment ago.</summary>
    public static bool IsDue(PendingRestart? pending, DateTimeOffset now) =>
        pending is { PlannedAt: { } planned, NeedsPlan: false } p && planned <= now && !(p.DeferredUntil > now)
        && !(p.HandedToSystem && p.HandedAt is { } handed && now - handed < Retry);

    /// <summary>
    /// A restart that came due where it may not run now, decided when it is carried out (it was planned inside a window,
    /// but the computer slept through it, or a long install ran past it): outside every maintenance window (not
    /// overridden) it waits for the next one to open; the agent's own request again of a restart an installer began (exit
    /// code 1641) and that did not happen is made only when the configuration lets the agent restart. Null when it may run.
    /// </summary>
    public static (PendingRestart Postponed, string Detail)? Postponed(PendingRestart pending, DateTimeOffset now, AgentConfigurationSettings configuration,
        IReadOnlyList<MaintenanceWindowSchedule> windows)
    {
        if (pending.HandedToSystem && (!configuration.Reboot.AllowReboot || configuration.Reboot.Mode == RebootMode.Never))
            return (pending with { PlannedAt = null }, "the installer's restart did not happen and the configuration never restarts automatically: restart pending until someone restarts");
        if (configuration.OverrideMaintenanceWindows || pending.OverrideWindows || windows.Count == 0 || MaintenanceWindowCalendar.IsInsideAny(windows, now)) return null;
        return (pending with { PlannedAt = MaintenanceWindowCalendar.NextStartOfAny(windows, now) }, "outside the maintenance windows: postponed to the next one");
    }

    /// <summary>A person defers by one of the configuration's choices, at most its number of times; the new time still honours the windows.</summary>
    public static (Rejection? Refusal, PendingRestart? Deferred, DateTimeOffset ReportedAt) Defer(PendingRestart pending, int minutes, DateTimeOffset now,
        AgentConfigurationSettings configuration, IReadOnlyList<MaintenanceWindowSchedule> windows)
    {
        if (pending.HandedToSystem) return (new Rejection(RejectionKind.Conflict, "Restart under way", "The restart is already under way: it can no longer be deferred."), null, now);
        if (InstallCycle.RefuseDeferral(configuration.Notifications, minutes, pending.Deferrals) is { } refusal) return (refusal, null, now);
        var until = now.AddMinutes(minutes);
        var planned = pending.PlannedAt is null ? null
            : InstallCycle.RestartAt(until, configuration.Reboot with { Mode = RebootMode.EndOfCycle }, windows, configuration.OverrideMaintenanceWindows || pending.OverrideWindows);
        return (null, pending with { Deferrals = pending.Deferrals + 1, DeferredUntil = until, PlannedAt = planned }, planned ?? until);
    }
}
