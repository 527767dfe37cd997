using Patch.Domain.Cycle;
using Patch.Domain.MaintenanceWindows;

namespace Patch.Agent.Cycle;

/// <summary>The ledger: each update's status (a change is an event), the outbox of events, the schedules the service checks.</summary>
public sealed partial class CycleRunner
{
    /// <summary>Remembers when the service last looked at the schedules (so a run that came round while it was stopped is not lost, nor run twice).</summary>
    public async Task MarkScheduleCheckedAsync(DateTimeOffset at, CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        (AgentLedger.Load(context.StateDirectory, context.Log) with { LastScheduleCheck = at }).Save(context.StateDirectory);
    }

    /// <summary>A run that failed for a reason outside the updates (the server away, the disk): tried again in a quarter of an hour.</summary>
    public async Task RetryLaterAsync(CycleTrigger trigger, string? policyId, CancellationToken ct)
    {
        using var exclusive = await AgentLock.AcquireAsync(context.StateDirectory, LockWait, ct);
        var ledger = AgentLedger.Load(context.StateDirectory, context.Log);
        ledger.Waiting!.RemoveAll(w => w.Trigger == CycleSchedule.Waitable(trigger) && w.PolicyId == policyId);
        ledger.Waiting!.Add(new WaitingRun(CycleSchedule.Waitable(trigger), policyId, Now.AddMinutes(15)));
        ledger.Save(context.StateDirectory);
    }

    /// <summary>The cycles the service must run now (<see cref="CycleSchedule.Due"/>).</summary>
    public static IReadOnlyList<(CycleTrigger Trigger, string? PolicyId)> DueCycles(AgentLedger ledger, DateTimeOffset now) =>
        CycleSchedule.Due(ledger.Assignments, ledger.LastScheduleCheck, ledger.Waiting ?? [], now);

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
        CompactOutbox();
    }

    /// <summary>Keeps the outbox within its cap (<see cref="Outbox.Compact"/>), saying so.</summary>
    private void CompactOutbox()
    {
        if (Outbox.Compact(_ledger.Outbox, context.MaxOutbox) is > 0 and var compacted)
            context.Log?.Invoke($"The server has been away long: {compacted} older status change(s) compacted to keep at most {context.MaxOutbox} unsent events (the last status of each update is kept)");
    }

    /// <summary>For the status table: when an update to install runs next (<see cref="CycleSchedule.NextRunText"/>).</summary>
    public static string ScheduleText(AgentLedger ledger, LedgerEntry entry, DateTimeOffset now) => CycleSchedule.NextRunText(ledger.Assignments, entry.Status, entry.PolicyId, now);

    public static IReadOnlyList<MaintenanceWindowSchedule> Windows(AgentLedger ledger) => ledger.Assignments?.MaintenanceWindows.Select(w => w.Schedule).ToList() ?? [];
}
