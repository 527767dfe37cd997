using System.Text;
using Patch.Domain.Cycle;

namespace Patch.Agent.Cycle;

/// <summary>The seed's "Software Updates" tab as text: the schedules, then "Software updates for this computer" filtered like "Show Updates".</summary>
public static class StatusTable
{
    public static string Render(AgentLedger ledger, DateTimeOffset now, IReadOnlyList<string> show, IReadOnlyList<string> hide)
    {
        var unknown = show.Concat(hide).Where(s => !UpdateStatus.All.Contains(s, StringComparer.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0) throw new AgentException($"Unknown status {string.Join(", ", unknown.Select(u => $"'{u}'"))}: use {string.Join(", ", UpdateStatus.All)}");
        var sb = new StringBuilder();
        sb.AppendLine("Schedules");
        if (ledger.Assignments is { } a)
        {
            var next = a.Configuration.InstallSchedules.Select(s => InstallCycle.NextRun(s, now)).Where(t => t is not null).Min();
            sb.AppendLine($"  Software update installation: {(next is null ? "no schedule (on demand and policies' own schedules)" : $"next {next:yyyy-MM-dd HH:mm} UTC")}");
            foreach (var p in a.Policies.Where(p => p.OwnSchedule is not null))
                sb.AppendLine($"  {p.Name}: next {InstallCycle.NextRun(p.OwnSchedule!, now):yyyy-MM-dd HH:mm} UTC");
            foreach (var w in a.MaintenanceWindows)
                sb.AppendLine($"  Maintenance window {w.Name}: {(Domain.MaintenanceWindows.MaintenanceWindowCalendar.IsInside(w.Schedule, now) ? "open now" : $"opens {Domain.MaintenanceWindows.MaintenanceWindowCalendar.NextStart(w.Schedule, now):yyyy-MM-dd HH:mm} UTC")}");
        }
        else sb.AppendLine("  (no assignments yet: the agent has not run a cycle)");
        if (ledger.Restart is { } r)
            sb.AppendLine($"  Restart pending since {r.Since:yyyy-MM-dd HH:mm} UTC: {(r.PlannedAt is { } at ? $"planned {at:yyyy-MM-dd HH:mm} UTC" : "not planned (restart when you can)")}{(r.Deferrals > 0 ? $", deferred {r.Deferrals} time(s)" : "")}");
        foreach (var notice in Notices(ledger, now)) sb.AppendLine($"  {notice}");
        sb.AppendLine();
        sb.AppendLine("Software updates for this computer");
        var rows = ledger.Entries.Values
            .Where(e => (show.Count == 0 || show.Contains(e.Status, StringComparer.OrdinalIgnoreCase)) && !hide.Contains(e.Status, StringComparer.OrdinalIgnoreCase))
            .OrderBy(e => e.Bulletin, StringComparer.OrdinalIgnoreCase).ThenBy(e => e.UpdateId, StringComparer.Ordinal).ToList();
        sb.AppendLine($"{"Status",-34} {"Bulletin",-12} {"Software update",-28} {"Last Applied",-17} Schedule");
        foreach (var e in rows)
            sb.AppendLine($"{e.Status,-34} {e.Bulletin,-12} {e.UpdateId,-28} {e.LastAppliedText,-17} {CycleRunner.ScheduleText(ledger, e, now)}");
        if (rows.Count == 0) sb.AppendLine("(none)");
        return sb.ToString();
    }

    /// <summary>
    /// The notices of the agent configuration (seed table 5-2) as they stand now: the installation notice while updates
    /// wait to install, the pending-restart warning inside its minutes before the restart, the reminder while a restart
    /// nobody planned is pending.
    /// </summary>
    public static IReadOnlyList<string> Notices(AgentLedger ledger, DateTimeOffset now)
    {
        if (ledger.Assignments?.Configuration.Notifications is not { } n) return [];
        var notices = new List<string>();
        if (n.NotifyUser && ledger.Entries.Values.Any(e => e.Status is UpdateStatus.InstallationScheduled or UpdateStatus.FailedRescheduled or UpdateStatus.DownloadRequired or UpdateStatus.Retry))
            notices.Add($"Notice: {n.Message}");
        if (ledger.Restart is { PlannedAt: { } at } r && n.PendingRestartWarningMinutes is { } warn && at - now <= TimeSpan.FromMinutes(warn))
            notices.Add($"Warning: the computer restarts at {at:HH:mm} UTC to finish installing software updates. Save your work." +
                        (n.AllowDefer && r.Deferrals < n.MaxDeferrals && !r.HandedToSystem ? $" Defer: Patch.Agent defer --minutes {string.Join("|", n.DeferralChoicesMinutes)}" : ""));
        if (ledger.Restart is { PlannedAt: null } && n.ReminderMinutes is not null)
            notices.Add("Reminder: a restart is needed to finish installing software updates.");
        return notices;
    }
}
