using Patch.Domain.AgentConfigurations;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Policies;

namespace Patch.Domain.Cycle;

/// <summary>The agent-side statuses of seed table 5-5, by their exact text.</summary>
public static class UpdateStatus
{
    public const string Pending = "Pending";
    public const string NotApplicable = "Not Applicable";
    public const string DownloadRequired = "Download required";
    public const string Retry = "Retry";
    public const string InstallationScheduled = "Installation Scheduled";
    public const string Installed = "Installed";
    public const string FailedRescheduled = "Installation Failed - Rescheduled";
    public const string FailedToInstall = "Failed to Install";
    public const string Superseded = "Superseded";
    public const string InstalledByUser = "Installed by user";

    public static readonly string[] All = [Pending, NotApplicable, DownloadRequired, Retry, InstallationScheduled, Installed, FailedRescheduled, FailedToInstall, Superseded, InstalledByUser];
}

/// <summary>What the agent remembers of one update between cycles.</summary>
public sealed record LedgerEntry(
    string UpdateId,
    string BulletinId,
    string Bulletin,
    string PolicyId,
    string Status,
    DateTimeOffset? LastApplied,
    int Failures,
    int Revision,
    int? InstalledRevision,
    DateTimeOffset Since)
{
    public string LastAppliedText => LastApplied?.ToString("yyyy-MM-dd HH:mm") ?? "Never";
}

/// <summary>Why a cycle runs: its schedule (the configuration's install schedule, for updates on the default schedule),
/// a policy's own schedule, or a person at the computer ("Start Software Update Cycle": default-schedule updates only).</summary>
public enum CycleTrigger { Scheduled, PolicySchedule, User }

/// <summary>One assigned update after evaluation: the status it shows, and whether this cycle should install it.</summary>
public sealed record Evaluation(AssignedPolicy Policy, AssignedUpdate Update, string Status, bool NeedsInstall, DateTimeOffset? LastApplied, int Failures, int? InstalledRevision);

/// <summary>
/// The pure parts of the install cycle (C7): evaluation with the shared rule engine, chaining, retry accounting, window
/// and restart arithmetic, deferrals and installer exit codes. The agent wires them to the network, the disk and processes.
/// </summary>
public static class InstallCycle
{
    /// <summary>
    /// Every assigned update (once, by the first policy that assigns it) with its status: Not Applicable, Superseded,
    /// Installed (Last Applied kept, "Never" when another source installed it), Installed by user, Failed to Install
    /// (retries spent), or one to install (scheduled, rescheduled after a failure, removed after install, or a revision
    /// the catalog marks for reinstall).
    /// </summary>
    public static IReadOnlyList<Evaluation> Evaluate(Assignments assignments, ComputerFacts facts, IReadOnlyDictionary<string, LedgerEntry> ledger)
    {
        var assigned = new List<(AssignedPolicy Policy, AssignedUpdate Update)>();
        var seen = new HashSet<string>();
        foreach (var p in assignments.Policies)
            foreach (var u in p.Updates)
                if (seen.Add(u.UpdateId)) assigned.Add((p, u));

        var catalog = new PreparedCatalog(assigned.Select(a => a.Update.ToCatalogUpdate())
            .Concat(assignments.Superseders.Where(s => !seen.Contains(s.UpdateId)).Select(s => s.ToCatalogUpdate())).ToList());
        var states = UpdateStates.For(catalog, facts).ToDictionary(kv => kv.Key.Update.UpdateId, kv => kv.Value);

        var result = new List<Evaluation>();
        foreach (var (policy, update) in assigned)
        {
            var known = ledger.GetValueOrDefault(update.UpdateId);
            var lastApplied = known?.LastApplied;
            var failures = known?.Failures ?? 0;
            var revision = known?.InstalledRevision;
            Evaluation Show(string status, bool install = false, int? rev = null, int? fails = null) => new(policy, update, status, install, lastApplied, fails ?? failures, rev ?? revision);
            var state = states.GetValueOrDefault(update.UpdateId, UpdateState.NotApplicable);
            // Installed, unless the catalog marks a newer revision than the one installed for reinstall.
            var revisionToInstall = state == UpdateState.Installed && update.ReinstallOnRevision && (revision ?? update.Revision) < update.Revision;
            result.Add(state switch
            {
                UpdateState.NotApplicable => Show(UpdateStatus.NotApplicable),
                UpdateState.Superseded => Show(UpdateStatus.Superseded),
                UpdateState.Installed when !revisionToInstall =>
                    Show(known?.Status == UpdateStatus.InstalledByUser ? UpdateStatus.InstalledByUser : UpdateStatus.Installed, rev: revision ?? update.Revision),
                // To install (missing, or a revision to reinstall): retries spent stay failed until the catalog revises the
                // update again; a rescheduled one is tried again with its count of failures.
                _ when known is { Status: UpdateStatus.FailedToInstall } && known.Revision >= update.Revision => Show(UpdateStatus.FailedToInstall),
                _ when known is { Status: UpdateStatus.FailedRescheduled } && known.Revision >= update.Revision => Show(UpdateStatus.FailedRescheduled, install: true),
                // New, removed after install (installed again), or revised: a fresh count of attempts.
                _ => Show(UpdateStatus.InstallationScheduled, install: true,
                    fails: known is null || known.Revision < update.Revision || known.Status is UpdateStatus.Installed or UpdateStatus.InstalledByUser ? 0 : failures),
            });
        }
        return result;
    }

    /// <summary>
    /// Chaining: updates that need no restart first, then those whose need is unknown, then those that may, then those that
    /// require one, so one restart at the end of the cycle covers them all. Within a group the order they were assigned in
    /// (policy by policy, each policy's updates in its order) stays.
    /// </summary>
    public static IReadOnlyList<Evaluation> Chain(IEnumerable<Evaluation> toInstall) =>
        toInstall.Select((e, i) => (e, i)).OrderBy(x => RestartRank(x.e.Update.Restart)).ThenBy(x => x.i).Select(x => x.e).ToList();

    public static int RestartRank(RestartBehavior restart) => restart switch
    {
        RestartBehavior.NotRequired => 0,
        RestartBehavior.Unknown => 1,
        RestartBehavior.Maybe => 2,
        _ => 3,
    };

    /// <summary>Which installs a cycle may run: a person or the configuration's schedule only those on the default schedule; a policy's own schedule only its own.</summary>
    public static bool InScope(Evaluation e, CycleTrigger trigger, string? policyId) => trigger switch
    {
        CycleTrigger.PolicySchedule => e.Policy.PolicyId == policyId,
        _ => e.Policy.Schedule == ScheduleMode.AgentDefault,
    };

    /// <summary>
    /// Retry accounting: the first attempt plus <paramref name="reinstallationAttempts"/> more. A failure that leaves
    /// attempts is "Installation Failed - Rescheduled"; the one that spends the last is "Failed to Install".
    /// </summary>
    public static string StatusAfterFailure(int failuresSoFar, int reinstallationAttempts) =>
        failuresSoFar > reinstallationAttempts ? UpdateStatus.FailedToInstall : UpdateStatus.FailedRescheduled;

    /// <summary>Installs run inside one of the computer's maintenance windows, any time when it has none, or always when the configuration or the policy overrides them.</summary>
    public static bool MayInstall(DateTimeOffset now, IReadOnlyList<MaintenanceWindowSchedule> windows, bool overrideWindows) =>
        overrideWindows || windows.Count == 0 || MaintenanceWindowCalendar.IsInsideAny(windows, now);

    /// <summary>When an install held back by the windows may run: the next window start.</summary>
    public static DateTimeOffset? NextInstallChance(DateTimeOffset now, IReadOnlyList<MaintenanceWindowSchedule> windows) =>
        MaintenanceWindowCalendar.NextStartOfAny(windows, now);

    /// <summary>
    /// When the restart a cycle needs happens: never when reboots are not allowed or the mode is Never (it stays pending
    /// until someone restarts); at the end of the cycle, or at the reboot schedule's next time; and, unless windows are
    /// overridden, inside a maintenance window — an install that overran its window restarts at the next one.
    /// </summary>
    public static DateTimeOffset? RestartAt(DateTimeOffset cycleEnded, RebootDefaults reboot, IReadOnlyList<MaintenanceWindowSchedule> windows, bool overrideWindows)
    {
        if (!reboot.AllowReboot || reboot.Mode == RebootMode.Never) return null;
        var candidate = reboot.Mode == RebootMode.Scheduled && reboot.Schedule is { } s ? NextRun(s, cycleEnded) : cycleEnded;
        if (candidate is null) return null;
        return overrideWindows || windows.Count == 0 || MaintenanceWindowCalendar.IsInsideAny(windows, candidate.Value)
            ? candidate
            : MaintenanceWindowCalendar.NextStartOfAny(windows, candidate.Value);
    }

    /// <summary>
    /// The restart after a cycle with the configuration's notices: when a pending-restart warning is configured, the
    /// restart comes no earlier than that many minutes after the cycle, so the person at the computer is warned in time.
    /// </summary>
    public static DateTimeOffset? RestartAfterWarning(DateTimeOffset cycleEnded, AgentConfigurationSettings configuration, IReadOnlyList<MaintenanceWindowSchedule> windows, bool overrideWindows) =>
        RestartAt(cycleEnded + TimeSpan.FromMinutes(configuration.Notifications.PendingRestartWarningMinutes ?? 0), configuration.Reboot, windows, overrideWindows);

    /// <summary>The first run of a schedule at or after <paramref name="after"/> (DST-correct, as maintenance windows are).</summary>
    public static DateTimeOffset? NextRun(PolicySchedule schedule, DateTimeOffset after) =>
        MaintenanceWindowCalendar.NextStart(new MaintenanceWindowSchedule(schedule.TimeZone, schedule.Start, TimeSpan.FromMinutes(1), schedule.Recurrence), after);

    /// <summary>Whether one of the schedules had a run in (<paramref name="since"/>, <paramref name="now"/>]: a cycle is due.</summary>
    public static bool IsDue(IEnumerable<PolicySchedule> schedules, DateTimeOffset since, DateTimeOffset now) =>
        schedules.Any(s => NextRun(s, since.AddTicks(1)) is { } next && next <= now);

    /// <summary>A person defers a pending restart: only when the configuration allows it, by one of its choices, at most its number of times.</summary>
    public static Rejection? RefuseDeferral(AgentNotifications n, int minutes, int deferralsSoFar)
    {
        if (!n.AllowDefer) return new Rejection(RejectionKind.Conflict, "Deferral not allowed", "The agent configuration does not allow the user to defer restarts.");
        if (!n.DeferralChoicesMinutes.Contains(minutes))
            return new Rejection(RejectionKind.Invalid, "Not a deferral choice", $"Choose one of {string.Join(", ", n.DeferralChoicesMinutes)} minutes.");
        if (deferralsSoFar >= n.MaxDeferrals)
            return new Rejection(RejectionKind.Conflict, "No deferrals left", $"The restart was already deferred {deferralsSoFar} time(s), the most the configuration allows.");
        return null;
    }
}

public enum InstallOutcome { Succeeded, RestartRequired, RestartInitiated, AlreadyInstalled, Failed }

/// <summary>What an installer's exit code means (wusa, msiexec and Windows Update conventions).</summary>
public static class InstallerExitCodes
{
    public const int Success = 0;
    public const int RestartRequired = 3010;
    public const int RestartInitiated = 1641;
    public const int AlreadyInstalled = 0x00240006;

    public static InstallOutcome Classify(int exitCode) => exitCode switch
    {
        Success => InstallOutcome.Succeeded,
        RestartRequired => InstallOutcome.RestartRequired,
        RestartInitiated => InstallOutcome.RestartInitiated,
        AlreadyInstalled => InstallOutcome.AlreadyInstalled,
        _ => InstallOutcome.Failed,
    };
}
