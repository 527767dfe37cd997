using Patch.Domain;
using Patch.Domain.AgentConfigurations;
using Patch.Domain.Cycle;
using Patch.Domain.MaintenanceWindows;

namespace Patch.Domain.Tests;

/// <summary>The agent's restart and schedule decisions, pure (the cycle runner only applies them).</summary>
public class RestartsTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 10, 12, 0, 0, TimeSpan.Zero);

    private static readonly AgentConfigurationSettings EndOfCycle = AgentConfigurationSettings.Defaults with
    {
        Reboot = new RebootDefaults(true, RebootMode.EndOfCycle, null),
        Notifications = AgentConfigurationSettings.Defaults.Notifications with { PendingRestartWarningMinutes = null, AllowDefer = true, DeferralChoicesMinutes = [15, 60], MaxDeferrals = 2 },
    };

    [Fact]
    public void an_install_that_needs_a_restart_keeps_it_pending_from_then_and_one_that_restarts_itself_from_its_start()
    {
        var pending = Restarts.AfterInstall(null, initiated: false, startedAt: Noon.AddMinutes(-5), now: Noon, uptimeBefore: 42, overrideWindows: false);
        Assert.Equal((Noon, true, false, 42L), (pending.Since, pending.NeedsPlan, pending.HandedToSystem, pending.UptimeMark!.Value));
        var initiated = Restarts.AfterInstall(pending with { NeedsPlan = false }, initiated: true, startedAt: Noon, now: Noon.AddMinutes(1), uptimeBefore: 99, overrideWindows: true);
        // The first need's time and uptime mark stay; the installer's restart is handed to the system and needs a plan again.
        Assert.Equal((Noon, true, true, 42L, true, Noon.AddMinutes(1)), (initiated.Since, initiated.NeedsPlan, initiated.HandedToSystem, initiated.UptimeMark!.Value,
            initiated.OverrideWindows, initiated.HandedAt!.Value));
    }

    [Fact]
    public void a_restart_is_planned_at_the_end_of_the_cycle_unless_deferred_further_or_never_allowed()
    {
        var pending = new PendingRestart(Noon, null, 0, null, NeedsPlan: true);
        var (planned, detail) = Restarts.Plan(pending, Noon, EndOfCycle, []);
        Assert.Equal((Noon, false, (string?)null), (planned.PlannedAt!.Value, planned.NeedsPlan, detail));
        var (deferred, _) = Restarts.Plan(pending with { DeferredUntil = Noon.AddHours(1) }, Noon, EndOfCycle, []);
        Assert.Equal(Noon.AddHours(1), deferred.PlannedAt);
        var (never, why) = Restarts.Plan(pending, Noon, EndOfCycle with { Reboot = new RebootDefaults(true, RebootMode.Never, null) }, []);
        Assert.Null(never.PlannedAt);
        Assert.Contains("never restarts automatically", why);
        var (handed, because) = Restarts.Plan(pending with { HandedToSystem = true, Since = Noon.AddMinutes(-3) }, Noon, EndOfCycle, []);
        Assert.Equal(Noon.AddMinutes(-3), handed.PlannedAt);
        Assert.Contains("1641", because);
    }

    [Fact]
    public void a_restart_is_due_once_its_time_came_unless_deferred_or_just_handed_to_the_system()
    {
        var planned = new PendingRestart(Noon.AddHours(-1), Noon, 0, null);
        Assert.True(Restarts.IsDue(planned, Noon));
        Assert.False(Restarts.IsDue(planned, Noon.AddMinutes(-1)));
        Assert.False(Restarts.IsDue(planned with { NeedsPlan = true }, Noon));
        Assert.False(Restarts.IsDue(planned with { DeferredUntil = Noon.AddMinutes(5) }, Noon));
        Assert.False(Restarts.IsDue(planned with { HandedToSystem = true, HandedAt = Noon.AddMinutes(-10) }, Noon));
        Assert.True(Restarts.IsDue(planned with { HandedToSystem = true, HandedAt = Noon.AddMinutes(-31) }, Noon));
        Assert.False(Restarts.IsDue(null, Noon));
    }

    /// <summary>Planned inside a window, carried out when the computer woke hours later: it waits for the next window; a re-ask of a restart an installer began follows the configuration.</summary>
    [Fact]
    public void a_restart_due_outside_every_window_waits_for_the_next_and_a_never_configuration_is_not_forced()
    {
        var nightly = new MaintenanceWindowSchedule("UTC", new TimeOnly(2, 0), TimeSpan.FromHours(2), new Recurrence(RecurrenceKind.Daily));
        var planned = new PendingRestart(Noon.AddHours(-10), Noon.AddHours(-10), 0, null);
        var (later, why) = Restarts.Postponed(planned, Noon, EndOfCycle, [nightly])!.Value;
        Assert.Equal(new DateTimeOffset(2026, 11, 11, 2, 0, 0, TimeSpan.Zero), later.PlannedAt);
        Assert.Contains("outside the maintenance windows", why);
        Assert.False(Restarts.IsDue(later, Noon));
        // Inside a window, with no window, or with the windows overridden: it runs.
        Assert.Null(Restarts.Postponed(planned, new DateTimeOffset(2026, 11, 10, 3, 0, 0, TimeSpan.Zero), EndOfCycle, [nightly]));
        Assert.Null(Restarts.Postponed(planned, Noon, EndOfCycle, []));
        Assert.Null(Restarts.Postponed(planned with { OverrideWindows = true }, Noon, EndOfCycle, [nightly]));
        // An installer's restart (1641) that did not happen is asked for again only if the agent may restart.
        var handed = planned with { HandedToSystem = true, HandedAt = Noon.AddMinutes(-40) };
        var (never, because) = Restarts.Postponed(handed, Noon, EndOfCycle with { Reboot = new RebootDefaults(true, RebootMode.Never, null) }, [])!.Value;
        Assert.Null(never.PlannedAt);
        Assert.Contains("never restarts automatically", because);
        Assert.Null(Restarts.Postponed(handed, Noon, EndOfCycle, []));
    }

    [Fact]
    public void a_person_defers_by_an_offered_choice_a_limited_number_of_times_never_once_handed_over()
    {
        var pending = new PendingRestart(Noon, Noon, 0, null);
        var (refusal, deferred, at) = Restarts.Defer(pending, 60, Noon, EndOfCycle, []);
        Assert.Null(refusal);
        Assert.Equal((1, Noon.AddMinutes(60), Noon.AddMinutes(60)), (deferred!.Deferrals, deferred.DeferredUntil!.Value, at));
        Assert.NotNull(Restarts.Defer(pending, 30, Noon, EndOfCycle, []).Refusal);
        Assert.NotNull(Restarts.Defer(pending with { Deferrals = 2 }, 15, Noon, EndOfCycle, []).Refusal);
        Assert.Equal(RejectionKind.Conflict, Restarts.Defer(pending with { HandedToSystem = true }, 15, Noon, EndOfCycle, []).Refusal!.Kind);
    }

    [Fact]
    public void the_service_runs_what_its_schedules_and_the_waiting_runs_say_and_a_persons_cycle_waits_as_a_scheduled_one()
    {
        var assignments = new Assignments("computer:a", AgentConfiguration.DefaultId, AgentConfiguration.DefaultName,
            AgentConfigurationSettings.Defaults with { InstallSchedules = [new Policies.PolicySchedule("UTC", new TimeOnly(13, 0), new Recurrence(RecurrenceKind.Daily))] },
            [], [], []);
        Assert.Empty(CycleSchedule.Due(null, null, [], Noon));
        Assert.Empty(CycleSchedule.Due(assignments, Noon, [], Noon.AddMinutes(30)));
        Assert.Equal([(CycleTrigger.Scheduled, (string?)null)], CycleSchedule.Due(assignments, Noon, [], Noon.AddHours(2)));
        Assert.Equal([(CycleTrigger.PolicySchedule, (string?)"policy:x")],
            CycleSchedule.Due(assignments, Noon, [new WaitingRun(CycleTrigger.PolicySchedule, "policy:x", Noon.AddMinutes(10))], Noon.AddMinutes(30)));
        Assert.Equal(CycleTrigger.Scheduled, CycleSchedule.Waitable(CycleTrigger.User));
        Assert.Equal("Not scheduled", CycleSchedule.NextRunText(assignments, UpdateStatus.Installed, "policy:x", Noon));
        Assert.Equal("2026-11-10 13:00 UTC", CycleSchedule.NextRunText(assignments, UpdateStatus.InstallationScheduled, "policy:x", Noon));
    }
}
