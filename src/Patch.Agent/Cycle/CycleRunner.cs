using System.Security.Cryptography;
using System.Text.Json;
using Patch.Agent.Inventory;
using Patch.Domain.Agents;
using Patch.Domain.AgentConfigurations;
using Patch.Domain.Computers;
using Patch.Domain.Cycle;
using Patch.Domain.MaintenanceWindows;

namespace Patch.Agent.Cycle;

/// <summary>What the agent needs for a cycle: its state folder, the computer (inventory, installer, restarter), the server and a clock.</summary>
public sealed record CycleContext(string StateDirectory, AgentClient Client, IInventorySource Inventory, IInstaller Installer, IRestarter Restarter, TimeProvider Time,
    Action<string>? Log = null);

public sealed record CycleItem(string PolicyId, string Bulletin, string UpdateId, string Status, string LastApplied, string? Detail);

/// <summary>What one cycle did: every update's status afterwards, what it installed and failed, what waits for a window, and the restart.</summary>
public sealed record CycleReport(string Trigger, bool Ran, string? StoppedBecause, IReadOnlyList<CycleItem> Updates, IReadOnlyList<string> Installed,
    IReadOnlyList<string> Failed, IReadOnlyList<string> Waiting, DateTimeOffset? WaitingUntil, PendingRestart? Restart, bool Restarted);

/// <summary>
/// The Software Update cycle on the agent (C7): report a changed inventory → fetch assignments (ETag) → evaluate with the
/// shared rule engine → download and verify each package → chain (no restart first) → pre-install command → install
/// inside a maintenance window → one restart at the end, when the configuration and the windows allow → every status
/// change reported to the server. The ledger is saved after every step that matters, so a crash or a restart mid-cycle
/// loses neither a status nor a needed restart.
/// </summary>
public sealed class CycleRunner(CycleContext context)
{
    private const int DownloadAttempts = 3;
    private const int MaxDetail = 2000;
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RestartRetry = TimeSpan.FromMinutes(30);

    private AgentLedger _ledger = AgentLedger.Empty;

    private DateTimeOffset Now => context.Time.GetUtcNow();

    private string PackageDirectory => Path.Combine(context.StateDirectory, "packages");

    /// <summary>Runs a cycle. <paramref name="install"/> false only re-evaluates and reports (the poll between schedules).</summary>
    public async Task<CycleReport> RunAsync(CycleTrigger trigger, string? policyId, bool install, CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        var state = AgentState.Load(context.StateDirectory) ?? throw new AgentException($"Not enrolled: run 'enrol' first (no {Path.Combine(context.StateDirectory, "agent.json")}).");
        _ledger = AgentLedger.Load(context.StateDirectory);
        await FlushAsync(state, ct);
        NoticeBoot();

        // The computer's facts first: sent when they changed, so the server's targets ("requiring the policy's updates")
        // are current when it answers with the assignments.
        AgentInventory? inventory = null;
        Exception? unreadable = null;
        try
        {
            inventory = context.Inventory.Read();
        }
        catch (Exception e) when (IsInventoryProblem(e))
        {
            unreadable = e;
        }
        if (inventory is not null && install) await SendInventoryIfChangedAsync(inventory, ct);
        var assignments = await FetchAssignmentsAsync(state, ct);
        var configuration = assignments.Configuration;
        if (trigger == CycleTrigger.User && install && !configuration.AllowUserToInitiate)
            throw new AgentException("Starting a Software Update cycle from this computer is not allowed by its agent configuration (allow user to initiate is off).");
        var triggerText = trigger switch { CycleTrigger.User => "user", CycleTrigger.PolicySchedule => $"policy schedule ({policyId})", _ => "schedule" };
        if (install) Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, null, AgentCycleReported.Started, Trigger: triggerText));
        PlanRestart(configuration, Windows(_ledger));

        try
        {
            return await CycleAsync(state, assignments, inventory, unreadable, trigger, triggerText, policyId, install, ct);
        }
        catch (Exception e) when (install && e is not AgentException)
        {
            // Whatever broke the cycle (the disk, a process, a shutdown), its start gets an end with the reason.
            Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, $"the cycle broke off: {e.GetType().Name}: {e.Message}", AgentCycleReported.Stopped, Trigger: triggerText));
            Save();
            if (!ct.IsCancellationRequested) await FlushAsync(state, CancellationToken.None);
            throw;
        }
    }

    private async Task<CycleReport> CycleAsync(AgentState state, Assignments assignments, AgentInventory? inventory, Exception? unreadable, CycleTrigger trigger,
        string triggerText, string? policyId, bool install, CancellationToken ct)
    {
        var configuration = assignments.Configuration;
        // Updates no longer assigned leave the table, unless the agent installed them (that history stays).
        var assignedIds = assignments.Policies.SelectMany(p => p.Updates).Select(u => u.UpdateId).ToHashSet();
        foreach (var gone in _ledger.Entries.Values.Where(e => !assignedIds.Contains(e.UpdateId) && e.Status is not (UpdateStatus.Installed or UpdateStatus.InstalledByUser)).ToList())
            _ledger.Entries.Remove(gone.UpdateId);

        if (inventory is null)
        {
            // The rules cannot be evaluated without the computer's facts: new updates stay Pending, nothing is installed.
            foreach (var p in assignments.Policies)
                foreach (var u in p.Updates.Where(u => Entry(u.UpdateId) is null))
                    Record(p.PolicyId, u, UpdateStatus.Pending, null, 0, null, "not evaluated: the inventory could not be read");
            var why = $"the inventory could not be read ({unreadable!.Message}): nothing was evaluated or installed";
            if (install) Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, why, AgentCycleReported.Stopped, Trigger: triggerText));
            Save();
            await FlushAsync(state, ct);
            return Report(triggerText, install, why, [], [], [], null, false);
        }
        var evaluations = InstallCycle.Evaluate(assignments, InventoryFacts.Of(inventory), _ledger.Entries);
        foreach (var e in evaluations) Record(e.Policy.PolicyId, e.Update, e.Status, e.LastApplied, e.Failures, e.InstalledRevision,
            e.Status == UpdateStatus.Installed && e.LastApplied is null ? "Last Applied: Never (installed by another source)" : null);
        Save();

        var installed = new List<string>();
        var failed = new List<string>();
        var waiting = new List<string>();
        DateTimeOffset? waitingUntil = null;
        string? stopped = null;
        var windows = assignments.MaintenanceWindows.Select(w => w.Schedule).ToList();
        if (install)
        {
            _ledger.Waiting!.RemoveAll(w => w.Trigger == Waitable(trigger) && w.PolicyId == policyId);
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
                    var previous = _ledger.Restart;
                    var initiated = result.Outcome == InstallOutcome.RestartInitiated;
                    _ledger = _ledger with
                    {
                        Restart = new PendingRestart(previous?.Since ?? (initiated ? startedAt : Now), previous?.PlannedAt, previous?.Deferrals ?? 0, previous?.DeferredUntil,
                            previous?.HandedToSystem == true || initiated, previous?.UptimeMark ?? uptimeBefore, NeedsPlan: previous is null || previous.NeedsPlan || initiated,
                            OverrideWindows: previous?.OverrideWindows == true || restartOverride, HandedAt: initiated ? Now : previous?.HandedAt),
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
            if (waitingUntil is { } until) _ledger.Waiting!.Add(new WaitingRun(Waitable(trigger), policyId, until));
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
        }

        PlanRestart(configuration, windows);
        NoticeBoot();
        var restarted = await RestartIfDueCoreAsync(ct);
        if (install)
            Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, stopped, stopped is null ? AgentCycleReported.Completed : AgentCycleReported.Stopped, Trigger: triggerText));
        Save();
        await FlushAsync(state, ct);
        return Report(triggerText, install, stopped, installed, failed, waiting, waitingUntil, restarted);
    }

    /// <summary>A run that waits for a window is the service's to run when it opens: a person's cycle becomes a scheduled one.</summary>
    private static CycleTrigger Waitable(CycleTrigger trigger) => trigger == CycleTrigger.User ? CycleTrigger.Scheduled : trigger;

    private static bool IsInventoryProblem(Exception e) =>
        e is IOException or FormatException or JsonException or UnauthorizedAccessException or InvalidOperationException or System.Runtime.InteropServices.COMException;

    /// <summary>
    /// When the restart a cycle needs happens (<see cref="InstallCycle.RestartAt"/>); a person's deferral still holds. An
    /// installer that returned 1641 restarted the computer itself: nothing is planned. Reported once planned.
    /// </summary>
    private void PlanRestart(AgentConfigurationSettings configuration, IReadOnlyList<MaintenanceWindowSchedule> windows)
    {
        if (_ledger.Restart is not { NeedsPlan: true } pending) return;
        var at = pending.HandedToSystem ? pending.Since
            : InstallCycle.RestartAfterWarning(Now, configuration, windows, configuration.OverrideMaintenanceWindows || pending.OverrideWindows);
        if (at is { } a && pending.DeferredUntil is { } deferred && deferred > a) at = deferred;
        _ledger = _ledger with { Restart = pending with { PlannedAt = at, NeedsPlan = false } };
        Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null,
            pending.HandedToSystem ? "an installer initiated the restart (exit code 1641)"
            : at is null ? "the configuration never restarts automatically: restart pending until someone restarts" : null,
            AgentRestartReported.Pending, At: at));
        Save();
    }

    private CycleReport Report(string trigger, bool ran, string? stopped, List<string> installed, List<string> failed, List<string> waiting, DateTimeOffset? waitingUntil, bool restarted)
    {
        var items = _ledger.Entries.Values.OrderBy(e => e.Bulletin, StringComparer.OrdinalIgnoreCase).ThenBy(e => e.UpdateId, StringComparer.Ordinal)
            .Select(e => new CycleItem(e.PolicyId, e.Bulletin, e.UpdateId, e.Status, e.LastAppliedText, null)).ToList();
        return new CycleReport(trigger, ran, stopped, items, installed, failed, waiting, waitingUntil, _ledger.Restart, restarted);
    }

    /// <summary>Restarts when the pending restart's time has come (and it is not deferred past now); notices a restart that happened.</summary>
    public async Task<bool> RestartIfDueAsync(CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        _ledger = AgentLedger.Load(context.StateDirectory);
        NoticeBoot();
        if (_ledger.Assignments is { } a) PlanRestart(a.Configuration, Windows(_ledger));
        var restarted = await RestartIfDueCoreAsync(ct);
        Save();
        if (AgentState.Load(context.StateDirectory) is { } state) await FlushAsync(state, ct);
        return restarted;
    }

    private async Task<bool> RestartIfDueCoreAsync(CancellationToken ct)
    {
        if (_ledger.Restart is not { PlannedAt: { } planned, NeedsPlan: false } pending || planned > Now || pending.DeferredUntil > Now) return false;
        // Handed to the system and no boot seen for a while (the shutdown was cancelled, the installer did not restart): ask again.
        if (pending.HandedToSystem && pending.HandedAt is { } handed && Now - handed < RestartRetry) return false;
        if (!await context.Restarter.RestartAsync("software updates need a restart", ct)) return false;
        _ledger = _ledger with { Restart = pending with { HandedToSystem = true, HandedAt = Now } };
        Save();
        NoticeBoot();
        return true;
    }

    /// <summary>A pending restart is over once the computer has started since it became pending: then it is reported.</summary>
    private void NoticeBoot()
    {
        if (_ledger.Restart is not { } pending || !context.Restarter.BootedSince(pending.Since, pending.UptimeMark)) return;
        _ledger = _ledger with { Restart = null };
        Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, null, AgentRestartReported.Restarted));
        Save();
    }

    /// <summary>A person defers the pending restart by one of the configuration's choices, at most its number of times; the new time still honours the windows.</summary>
    public async Task<PendingRestart> DeferAsync(int minutes, CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        var state = AgentState.Load(context.StateDirectory) ?? throw new AgentException("Not enrolled: run 'enrol' first.");
        _ledger = AgentLedger.Load(context.StateDirectory);
        NoticeBoot();
        if (_ledger.Restart is not { } pending) throw new AgentException("No restart is pending.");
        if (pending.HandedToSystem) throw new AgentException("The restart is already under way: it can no longer be deferred.");
        var assignments = _ledger.Assignments ?? throw new AgentException("No assignments yet: run a cycle first.");
        if (InstallCycle.RefuseDeferral(assignments.Configuration.Notifications, minutes, pending.Deferrals) is { } refusal) throw new AgentException($"{refusal.Title}: {refusal.Detail}");
        var until = Now.AddMinutes(minutes);
        var planned = pending.PlannedAt is null ? null
            : InstallCycle.RestartAt(until, assignments.Configuration.Reboot with { Mode = RebootMode.EndOfCycle }, Windows(_ledger),
                assignments.Configuration.OverrideMaintenanceWindows || pending.OverrideWindows);
        var deferred = pending with { Deferrals = pending.Deferrals + 1, DeferredUntil = until, PlannedAt = planned };
        _ledger = _ledger with { Restart = deferred };
        Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, $"deferred {minutes} minutes by the user", AgentRestartReported.Deferred, At: planned ?? until));
        Save();
        await FlushAsync(state, ct);
        return deferred;
    }

    /// <summary>Remembers when the service last looked at the schedules (so a run that came round while it was stopped is not lost, nor run twice).</summary>
    public async Task MarkScheduleCheckedAsync(DateTimeOffset at, CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        (AgentLedger.Load(context.StateDirectory) with { LastScheduleCheck = at }).Save(context.StateDirectory);
    }

    /// <summary>A run that failed for a reason outside the updates (the server away, the disk): tried again in a quarter of an hour.</summary>
    public async Task RetryLaterAsync(CycleTrigger trigger, string? policyId, CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        var ledger = AgentLedger.Load(context.StateDirectory);
        ledger.Waiting!.RemoveAll(w => w.Trigger == Waitable(trigger) && w.PolicyId == policyId);
        ledger.Waiting!.Add(new WaitingRun(Waitable(trigger), policyId, Now.AddMinutes(15)));
        ledger.Save(context.StateDirectory);
    }

    /// <summary>
    /// The cycles the service must run now: the install schedules (updates on the default schedule), each policy's own
    /// schedule, and runs waiting for a maintenance window that has opened (or a retry that is due).
    /// </summary>
    public static IReadOnlyList<(CycleTrigger Trigger, string? PolicyId)> DueCycles(AgentLedger ledger, DateTimeOffset now)
    {
        var due = new List<(CycleTrigger, string?)>();
        if (ledger.Assignments is not { } a) return due;
        var since = ledger.LastScheduleCheck ?? now;
        if (InstallCycle.IsDue(a.Configuration.InstallSchedules, since, now)) due.Add((CycleTrigger.Scheduled, null));
        foreach (var p in a.Policies.Where(p => p is { Schedule: Domain.Policies.ScheduleMode.Own, OwnSchedule: not null }))
            if (InstallCycle.IsDue([p.OwnSchedule!], since, now)) due.Add((CycleTrigger.PolicySchedule, p.PolicyId));
        foreach (var w in ledger.Waiting ?? [])
            if (w.Until <= now && !due.Contains((w.Trigger, w.PolicyId))) due.Add((w.Trigger, w.PolicyId));
        return due;
    }

    private LedgerEntry? Entry(string updateId) => _ledger.Entries.GetValueOrDefault(updateId);

    private void Save() => _ledger.Save(context.StateDirectory);

    private void Record(string policyId, AssignedUpdate u, string status, DateTimeOffset? lastApplied, int? failures, int? installedRevision, string? detail)
    {
        var known = Entry(u.UpdateId);
        var entry = new LedgerEntry(u.UpdateId, u.BulletinId, u.Bulletin, policyId, status, lastApplied ?? known?.LastApplied, failures ?? known?.Failures ?? 0, u.Revision,
            installedRevision ?? known?.InstalledRevision, known?.Status == status ? known.Since : Now);
        _ledger.Entries[u.UpdateId] = entry;
        // Only a change is an event: another status, another policy delivering it, or another failed attempt.
        if (known is null || known.Status != status || known.PolicyId != policyId || (status == UpdateStatus.FailedRescheduled && known.Failures != entry.Failures))
            Emit(new AgentEvent(Guid.NewGuid(), default, status, u.Bulletin, u.UpdateId, detail, PolicyId: policyId, LastApplied: entry.LastApplied));
    }

    /// <summary>Queues an event: its time after the previous one's, its text free of control characters and within the server's limit.</summary>
    private void Emit(AgentEvent e)
    {
        var at = _ledger.NextEventTime(Now);
        var detail = e.Detail is null ? null : ProcessRunner.Clean(e.Detail) is var clean && clean.Length > MaxDetail ? clean[..MaxDetail] : ProcessRunner.Clean(e.Detail);
        _ledger.Outbox.Add(e with { OccurredAt = at, Detail = detail });
        _ledger = _ledger with { LastEventAt = at };
    }

    private async Task FlushAsync(AgentState state, CancellationToken ct)
    {
        while (_ledger.Outbox.Count > 0)
        {
            var batch = _ledger.Outbox.Take(500).ToList();
            try
            {
                try
                {
                    await context.Client.SendEventsAsync(state.Credential, batch, ct);
                }
                catch (AgentException e) when (e.StatusCode is 400 or >= 500 && batch.Count > 1)
                {
                    // The server refuses (400) or fails on (5xx) something in the batch: the events go one by one, and only one
                    // it refuses is set aside, so one bad event never holds back the rest.
                    foreach (var one in batch)
                    {
                        try
                        {
                            await context.Client.SendEventsAsync(state.Credential, [one], ct);
                        }
                        catch (AgentException refused) when (refused.StatusCode == 400)
                        {
                            context.Log?.Invoke($"Event {one.Id} refused by the server and dropped: {refused.Message}");
                        }
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or AgentException && !ct.IsCancellationRequested)
            {
                // The server is away: the events stay on disk and go with the next cycle, under the same ids (the server
                // drops those it already has).
                context.Log?.Invoke($"Events kept for later: {e.Message}");
                Save();
                return;
            }
            _ledger.Outbox.RemoveRange(0, batch.Count);
            Save();
        }
    }

    private async Task<Assignments> FetchAssignmentsAsync(AgentState state, CancellationToken ct)
    {
        try
        {
            var result = await context.Client.AssignmentsAsync(state.Credential, _ledger.Assignments is null ? null : _ledger.AssignmentsETag, ct);
            if (!result.NotModified) _ledger = _ledger with { Assignments = result.Assignments, AssignmentsETag = result.ETag };
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or AgentException { StatusCode: >= 500 } && _ledger.Assignments is not null && !ct.IsCancellationRequested)
        {
            context.Log?.Invoke($"Server unreachable ({e.Message}); using the last assignments");
        }
        return _ledger.Assignments ?? throw new AgentException("No assignments from the server yet.");
    }

    /// <summary>The package in the agent's cache, verified by SHA-256; "Download required" while it is fetched, "Retry" after a failed attempt.</summary>
    private async Task<string?> DownloadAsync(AgentState state, Evaluation e, CancellationToken ct)
    {
        var u = e.Update;
        var folder = Path.Combine(PackageDirectory, u.Sha256);
        var file = Path.Combine(folder, SafeName(u.FileName) ?? u.Sha256);
        if (File.Exists(file) && await HashAsync(file, ct) == u.Sha256) return file;
        Directory.CreateDirectory(folder);
        // The vendor's alternate download location on the client: used when it holds the file with the right hash.
        if (e.Policy.AlternateLocation is { Length: > 0 } alternate && SafeName(u.FileName) is { } name && File.Exists(Path.Combine(alternate, name))
            && await HashAsync(Path.Combine(alternate, name), ct) == u.Sha256)
        {
            File.Copy(Path.Combine(alternate, name), file, overwrite: true);
            context.Log?.Invoke($"  {u.UpdateId}: taken from the alternate location {alternate}");
            return file;
        }
        var status = Entry(u.UpdateId)?.Status;
        var showProgress = _ledger.Assignments?.Configuration.Notifications.ShowProgress != false;
        Record(e.Policy.PolicyId, u, UpdateStatus.DownloadRequired, null, null, null, $"{u.Size:N0} bytes to download");
        for (var attempt = 1; attempt <= DownloadAttempts; attempt++)
        {
            string problem;
            try
            {
                var lastShown = 0L;
                var progress = new Progress<long>(bytes =>
                {
                    if (context.Log is null || !showProgress || u.Size <= 0 || bytes - lastShown < u.Size / 10 && bytes < u.Size) return;
                    lastShown = bytes;
                    context.Log($"  {u.UpdateId}: {bytes:N0} of {u.Size:N0} bytes ({100.0 * bytes / u.Size:0}%)");
                });
                await context.Client.DownloadAsync(state.Credential, u.PackageUrl, file, progress, ct);
                if (await HashAsync(file, ct) == u.Sha256)
                {
                    Record(e.Policy.PolicyId, u, status == UpdateStatus.FailedRescheduled ? UpdateStatus.FailedRescheduled : UpdateStatus.InstallationScheduled, null, null, null, "package downloaded and verified");
                    return file;
                }
                File.Delete(file);
                problem = "the package's SHA-256 does not match the policy's";
            }
            catch (Exception ex) when (ex is HttpRequestException or AgentException or IOException or UnauthorizedAccessException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                problem = ex.Message;
            }
            if (attempt < DownloadAttempts) Record(e.Policy.PolicyId, u, UpdateStatus.Retry, null, null, null, $"download attempt {attempt} failed: {problem}");
            else Record(e.Policy.PolicyId, u, UpdateStatus.DownloadRequired, null, null, null, $"download failed {DownloadAttempts} times: {problem}; tried again next cycle");
        }
        return null;
    }

    private async Task SendInventoryIfChangedAsync(AgentInventory inventory, CancellationToken ct)
    {
        var text = JsonSerializer.Serialize(inventory, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true });
        var hash = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
        // The state is read again here: an enrolment since the cycle began must not be overwritten with an old copy.
        var state = AgentState.Load(context.StateDirectory) ?? throw new AgentException("Not enrolled.");
        if (hash == state.LastInventorySha256) return;
        try
        {
            await context.Client.SendInventoryAsync(state.Credential, inventory, ct);
            (state with { LastInventorySha256 = hash }).Save(context.StateDirectory);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or AgentException && !ct.IsCancellationRequested)
        {
            context.Log?.Invoke($"Inventory not sent ({e.Message}); it goes with the next cycle or the service's next interval");
        }
    }

    private static string? SafeName(string? fileName) =>
        fileName is null ? null : Path.GetFileName(fileName) is { Length: > 0 } name && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 ? name : null;

    private static async Task<string> HashAsync(string file, CancellationToken ct)
    {
        await using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }

    /// <summary>For the status table: when an update to install runs next (its policy's own schedule, else the configuration's install schedules).</summary>
    public static string ScheduleText(AgentLedger ledger, LedgerEntry entry, DateTimeOffset now)
    {
        if (entry.Status is not (UpdateStatus.InstallationScheduled or UpdateStatus.FailedRescheduled or UpdateStatus.DownloadRequired or UpdateStatus.Retry)
            || ledger.Assignments is not { } a) return "Not scheduled";
        var policy = a.Policies.FirstOrDefault(p => p.PolicyId == entry.PolicyId);
        var schedules = policy is { Schedule: Domain.Policies.ScheduleMode.Own, OwnSchedule: { } own } ? [own] : a.Configuration.InstallSchedules;
        var next = schedules.Select(s => InstallCycle.NextRun(s, now)).Where(t => t is not null).Min();
        return next is null ? "Not scheduled" : $"{next:yyyy-MM-dd HH:mm} UTC";
    }

    public static IReadOnlyList<MaintenanceWindowSchedule> Windows(AgentLedger ledger) => ledger.Assignments?.MaintenanceWindows.Select(w => w.Schedule).ToList() ?? [];
}
