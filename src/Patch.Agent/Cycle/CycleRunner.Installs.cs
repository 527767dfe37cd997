using Patch.Domain.Cycle;

namespace Patch.Agent.Cycle;

/// <summary>What the installs of one cycle did.</summary>
internal sealed record InstallRun(List<string> Installed, List<string> Failed, List<string> Waiting, DateTimeOffset? WaitingUntil, string? Stopped)
{
    public static InstallRun Nothing => new([], [], [], null, null);
}

public sealed partial class CycleRunner
{
    /// <summary>
    /// The chain of installs: each update in scope downloaded and verified, the pre-install command, then each installed
    /// inside a maintenance window (checked again before each), failures counted against the reinstallation attempts,
    /// a restart kept pending as soon as an install needs one.
    /// </summary>
    private async Task<InstallRun> InstallAsync(AgentState state, Assignments assignments, IReadOnlyList<Evaluation> evaluations, CycleTrigger trigger, string? policyId,
        CancellationToken ct)
    {
        var configuration = assignments.Configuration;
        var windows = assignments.MaintenanceWindows.Select(w => w.Schedule).ToList();
        var installed = new List<string>();
        var failed = new List<string>();
        var waiting = new List<string>();
        DateTimeOffset? waitingUntil = null;
        string? stopped = null;
        _ledger.Waiting!.RemoveAll(w => w.Trigger == CycleSchedule.Waitable(trigger) && w.PolicyId == policyId);
        var chain = InstallCycle.Chain(evaluations.Where(e => e.NeedsInstall && InstallCycle.InScope(e, trigger, policyId)));
        bool MayInstallNow(Evaluation e) => InstallCycle.MayInstall(Now, windows, configuration.OverrideMaintenanceWindows || e.Policy.OverrideMaintenanceWindows);
        void Wait(Evaluation e)
        {
            waiting.Add(e.Update.UpdateId);
            waitingUntil = InstallCycle.NextInstallChance(Now, windows);
            Record(e.Policy.PolicyId, e.Update, Entry(e.Update.UpdateId)?.Status ?? UpdateStatus.InstallationScheduled, null, null, null,
                $"waiting for a maintenance window (next opens {waitingUntil:yyyy-MM-dd HH:mm} UTC)");
        }
        var ready = new List<(Evaluation Item, string Package)>();
        foreach (var e in chain)
        {
            if (!MayInstallNow(e)) Wait(e);
            else if (await DownloadAsync(state, e, ct) is { } package) ready.Add((e, package));
            Save();
        }
        if (ready.Count > 0 && configuration.PreInstallCommand is { } hook)
        {
            string? problem;
            try
            {
                var result = await ProcessRunner.RunAsync(hook, context.StateDirectory, TimeSpan.FromMinutes(60), ct);
                problem = result.TimedOut ? result.Output : result.ExitCode != 0 ? $"exit code {result.ExitCode}" : null;
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
            {
                problem = $"it could not run: {ex.Message}";
            }
            if (problem is not null)
            {
                stopped = $"the pre-install command failed ({problem}): no update was installed";
                ready.Clear();
            }
        }
        if (ready.Count > 0 && configuration.Notifications.NotifyUser) context.Log?.Invoke($"Notice: {configuration.Notifications.Message}");
        var restartOverride = configuration.OverrideMaintenanceWindows;
        for (var i = 0; i < ready.Count; i++)
        {
            var (e, package) = ready[i];
            // The window is checked again before each install: one that overruns it completes, the next waits.
            if (!MayInstallNow(e))
            {
                Wait(e);
                continue;
            }
            context.Log?.Invoke($"Installing {e.Update.Bulletin} {e.Update.UpdateId}");
            var startedAt = Now;
            var uptimeBefore = context.Restarter.UptimeMark;
            InstallResult result;
            try
            {
                result = await context.Installer.InstallAsync(new InstallRequest(e.Update, package, e.Policy.Program), ct);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                result = new InstallResult(-1, InstallOutcome.Failed, $"the installer could not run: {ex.Message}");
            }
            var known = Entry(e.Update.UpdateId)!;
            if (result.Outcome == InstallOutcome.Failed)
            {
                var failures = known.Failures + 1;
                var status = InstallCycle.StatusAfterFailure(failures, configuration.ReinstallationAttempts);
                Record(e.Policy.PolicyId, e.Update, status, known.LastApplied, failures, known.InstalledRevision, $"{result.Detail}; attempt {failures} of {configuration.ReinstallationAttempts + 1}");
                failed.Add(e.Update.UpdateId);
                Save();
                continue;
            }
            // Already installed when the agent came to install it: another source did, so Last Applied stays "Never".
            var lastApplied = result.Outcome == InstallOutcome.AlreadyInstalled ? known.LastApplied : Now;
            var installedStatus = trigger == CycleTrigger.User ? UpdateStatus.InstalledByUser : UpdateStatus.Installed;
            Record(e.Policy.PolicyId, e.Update, installedStatus, lastApplied, 0, e.Update.Revision, result.Detail);
            installed.Add(e.Update.UpdateId);
            if (result.Outcome is InstallOutcome.RestartRequired or InstallOutcome.RestartInitiated)
            {
                // The need is kept at once; when the restart happens is planned when the cycle ends.
                restartOverride |= e.Policy.OverrideMaintenanceWindows;
                _ledger = _ledger with
                {
                    Restart = Restarts.AfterInstall(_ledger.Restart, result.Outcome == InstallOutcome.RestartInitiated, startedAt, Now, uptimeBefore, restartOverride),
                };
            }
            Save();
            if (result.Outcome == InstallOutcome.RestartInitiated)
            {
                // The installer is restarting the computer: the rest of the chain waits for the next cycle.
                context.Log?.Invoke("The installer initiated a restart: the remaining updates install at the next cycle");
                break;
            }
        }
        if (waitingUntil is { } until) _ledger.Waiting!.Add(new WaitingRun(CycleSchedule.Waitable(trigger), policyId, until));
        if (installed.Count > 0)
        {
            try
            {
                await SendInventoryIfChangedAsync(context.Inventory.Read(), ct);
            }
            catch (Exception e) when (IsInventoryProblem(e))
            {
                context.Log?.Invoke($"Inventory not read after the installs ({e.Message}); it goes at the service's next interval");
            }
        }
        return new InstallRun(installed, failed, waiting, waitingUntil, stopped);
    }
}
