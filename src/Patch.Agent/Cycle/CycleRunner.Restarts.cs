using Patch.Domain.AgentConfigurations;
using Patch.Domain.Computers;
using Patch.Domain.Cycle;
using Patch.Domain.MaintenanceWindows;

namespace Patch.Agent.Cycle;

/// <summary>The restart a cycle leaves: planned at the cycle's end, done when due, noticed once the computer booted, deferred by a person.</summary>
public sealed partial class CycleRunner
{
    /// <summary>
    /// When the restart a cycle needs happens (<see cref="InstallCycle.RestartAt"/>); a person's deferral still holds. An
    /// installer that returned 1641 restarted the computer itself: nothing is planned. Reported once planned.
    /// </summary>
    private void PlanRestart(AgentConfigurationSettings configuration, IReadOnlyList<MaintenanceWindowSchedule> windows)
    {
        if (_ledger.Restart is not { NeedsPlan: true } pending) return;
        var (planned, detail) = Restarts.Plan(pending, Now, configuration, windows);
        _ledger = _ledger with { Restart = planned };
        Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, detail, AgentRestartReported.Pending, At: planned.PlannedAt));
        Save();
    }

    /// <summary>Restarts when the pending restart's time has come (and it is not deferred past now); notices a restart that happened.</summary>
    public async Task<bool> RestartIfDueAsync(CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        _ledger = AgentLedger.Load(context.StateDirectory, context.Log);
        NoticeBoot();
        if (_ledger.Assignments is { } a) PlanRestart(a.Configuration, Windows(_ledger));
        var restarted = await RestartIfDueCoreAsync(ct);
        Save();
        if (AgentState.Load(context.StateDirectory) is { } state) await FlushAsync(state, ct);
        return restarted;
    }

    private async Task<bool> RestartIfDueCoreAsync(CancellationToken ct)
    {
        if (!Restarts.IsDue(_ledger.Restart, Now) || _ledger.Restart is not { } pending) return false;
        // The windows are asked again now: the time was planned inside one, but the computer may have slept through it.
        if (_ledger.Assignments is { } a && Restarts.Postponed(pending, Now, a.Configuration, Windows(_ledger)) is { } postponed)
        {
            var (later, why) = postponed;
            _ledger = _ledger with { Restart = later };
            Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, why, AgentRestartReported.Pending, At: later.PlannedAt));
            Save();
            return false;
        }
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
        _ledger = AgentLedger.Load(context.StateDirectory, context.Log);
        NoticeBoot();
        if (_ledger.Restart is not { } pending) throw new AgentException("No restart is pending.");
        var assignments = _ledger.Assignments ?? throw new AgentException("No assignments yet: run a cycle first.");
        var (refusal, deferred, at) = Restarts.Defer(pending, minutes, Now, assignments.Configuration, Windows(_ledger));
        if (refusal is not null) throw new AgentException($"{refusal.Title}: {refusal.Detail}");
        _ledger = _ledger with { Restart = deferred };
        Emit(new AgentEvent(Guid.NewGuid(), default, null, null, null, $"deferred {minutes} minutes by the user", AgentRestartReported.Deferred, At: at));
        Save();
        await FlushAsync(state, ct);
        return deferred!;
    }
}
