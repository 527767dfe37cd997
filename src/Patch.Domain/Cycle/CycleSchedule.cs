namespace Patch.Domain.Cycle;

/// <summary>Installs held back by the maintenance windows: the cycle to run again when the next window opens.</summary>
public sealed record WaitingRun(CycleTrigger Trigger, string? PolicyId, DateTimeOffset Until);

/// <summary>When the agent's service runs cycles, pure: the schedules, the policies' own schedules, the runs waiting for a window.</summary>
public static class CycleSchedule
{
    /// <summary>A run that waits for a window is the service's to run when it opens: a person's cycle becomes a scheduled one.</summary>
    public static CycleTrigger Waitable(CycleTrigger trigger) => trigger == CycleTrigger.User ? CycleTrigger.Scheduled : trigger;

    /// <summary>
    /// The cycles to run now: the install schedules (updates on the default schedule) and each policy's own schedule
    /// that came round since the last check, and the waiting runs whose time has come (a window opened, a retry due).
    /// </summary>
    public static IReadOnlyList<(CycleTrigger Trigger, string? PolicyId)> Due(Assignments? assignments, DateTimeOffset? lastCheck, IEnumerable<WaitingRun> waiting,
        DateTimeOffset now)
    {
        var due = new List<(CycleTrigger, string?)>();
        if (assignments is not { } a) return due;
        var since = lastCheck ?? now;
        if (InstallCycle.IsDue(a.Configuration.InstallSchedules, since, now)) due.Add((CycleTrigger.Scheduled, null));
        foreach (var p in a.Policies.Where(p => p is { Schedule: Policies.ScheduleMode.Own, OwnSchedule: not null }))
            if (InstallCycle.IsDue([p.OwnSchedule!], since, now)) due.Add((CycleTrigger.PolicySchedule, p.PolicyId));
        foreach (var w in waiting)
            if (w.Until <= now && !due.Contains((w.Trigger, w.PolicyId))) due.Add((w.Trigger, w.PolicyId));
        return due;
    }

    /// <summary>For the status table: when an update to install runs next (its policy's own schedule, else the configuration's install schedules).</summary>
    public static string NextRunText(Assignments? assignments, string status, string policyId, DateTimeOffset now)
    {
        if (status is not (UpdateStatus.InstallationScheduled or UpdateStatus.FailedRescheduled or UpdateStatus.DownloadRequired or UpdateStatus.Retry)
            || assignments is not { } a) return "Not scheduled";
        var policy = a.Policies.FirstOrDefault(p => p.PolicyId == policyId);
        var schedules = policy is { Schedule: Policies.ScheduleMode.Own, OwnSchedule: { } own } ? [own] : a.Configuration.InstallSchedules;
        var next = schedules.Select(s => InstallCycle.NextRun(s, now)).Where(t => t is not null).Min();
        return next is null ? "Not scheduled" : $"{next:yyyy-MM-dd HH:mm} UTC";
    }
}
