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
public sealed record CycleContext(string StateDirectory, IAgentServer Client, IInventorySource Inventory, IInstaller Installer, IRestarter Restarter, TimeProvider Time,
    Action<string>? Log = null, int MaxOutbox = Outbox.DefaultCap);

public sealed record CycleItem(string PolicyId, string Bulletin, string UpdateId, string Status, string LastApplied, string? Detail);

/// <summary>What one cycle did: every update's status afterwards, what it installed and failed, what waits for a window, and the restart.</summary>
public sealed record CycleReport(string Trigger, bool Ran, string? StoppedBecause, IReadOnlyList<CycleItem> Updates, IReadOnlyList<string> Installed,
    IReadOnlyList<string> Failed, IReadOnlyList<string> Waiting, DateTimeOffset? WaitingUntil, PendingRestart? Restart, bool Restarted);

/// <summary>
/// The Software Update cycle on the agent (C7): report a changed inventory → fetch assignments (ETag) → evaluate with the
/// shared rule engine → download and verify each package → chain (no restart first) → pre-install command → install
/// inside a maintenance window → one restart at the end, when the configuration and the windows allow → every status
/// change reported to the server. The ledger is saved after every step that matters, so a crash or a restart mid-cycle
/// loses neither a status nor a needed restart. The parts: this file (the cycle), <c>.Installs</c> (the chain of
/// installs), <c>.Restarts</c>, <c>.Ledger</c> (statuses, events, schedules), <c>.Server</c> (the server's calls),
/// <c>.Packages</c> (downloads); the pure decisions are in Patch.Domain (<see cref="InstallCycle"/>, <see cref="Restarts"/>,
/// <see cref="CycleSchedule"/>).
/// </summary>
public sealed partial class CycleRunner(CycleContext context)
{
    private const int DownloadAttempts = 3;
    private const int MaxDetail = 2000;
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    private AgentLedger _ledger = AgentLedger.Empty;

    private DateTimeOffset Now => context.Time.GetUtcNow();

    private string PackageDirectory => Path.Combine(context.StateDirectory, "packages");

    /// <summary>Runs a cycle. <paramref name="install"/> false only re-evaluates and reports (the poll between schedules).</summary>
    public async Task<CycleReport> RunAsync(CycleTrigger trigger, string? policyId, bool install, CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        var state = AgentState.Load(context.StateDirectory) ?? throw new AgentException($"Not enrolled: run 'enrol' first (no {Path.Combine(context.StateDirectory, "agent.json")}).");
        _ledger = AgentLedger.Load(context.StateDirectory, context.Log);
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
            if (install)
            {
                Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, why, AgentCycleReported.Stopped, Trigger: triggerText));
                // A run that was waiting for this cycle is tried again in a quarter of an hour (as after any failure outside
                // the updates), not at every tick of the service until the inventory reads again.
                if (_ledger.Waiting!.RemoveAll(w => w.Trigger == CycleSchedule.Waitable(trigger) && w.PolicyId == policyId) > 0)
                    _ledger.Waiting!.Add(new WaitingRun(CycleSchedule.Waitable(trigger), policyId, Now.AddMinutes(15)));
            }
            Save();
            await FlushAsync(state, ct);
            return Report(triggerText, install, why, [], [], [], null, false);
        }
        var evaluations = InstallCycle.Evaluate(assignments, InventoryFacts.Of(inventory), _ledger.Entries);
        foreach (var e in evaluations) Record(e.Policy.PolicyId, e.Update, e.Status, e.LastApplied, e.Failures, e.InstalledRevision,
            e.Status == UpdateStatus.Installed && e.LastApplied is null ? "Last Applied: Never (installed by another source)" : null);
        Save();

        var windows = assignments.MaintenanceWindows.Select(w => w.Schedule).ToList();
        var run = install ? await InstallAsync(state, assignments, evaluations, trigger, policyId, ct) : InstallRun.Nothing;
        PlanRestart(configuration, windows);
        NoticeBoot();
        var restarted = await RestartIfDueCoreAsync(ct);
        if (install)
            Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, run.Stopped, run.Stopped is null ? AgentCycleReported.Completed : AgentCycleReported.Stopped, Trigger: triggerText));
        Save();
        await FlushAsync(state, ct);
        return Report(triggerText, install, run.Stopped, run.Installed, run.Failed, run.Waiting, run.WaitingUntil, restarted);
    }

    private static bool IsInventoryProblem(Exception e) =>
        e is IOException or FormatException or JsonException or UnauthorizedAccessException or InvalidOperationException or System.Runtime.InteropServices.COMException;

    private CycleReport Report(string trigger, bool ran, string? stopped, List<string> installed, List<string> failed, List<string> waiting, DateTimeOffset? waitingUntil, bool restarted)
    {
        var items = _ledger.Entries.Values.OrderBy(e => e.Bulletin, StringComparer.OrdinalIgnoreCase).ThenBy(e => e.UpdateId, StringComparer.Ordinal)
            .Select(e => new CycleItem(e.PolicyId, e.Bulletin, e.UpdateId, e.Status, e.LastAppliedText, null)).ToList();
        return new CycleReport(trigger, ran, stopped, items, installed, failed, waiting, waitingUntil, _ledger.Restart, restarted);
    }
}
