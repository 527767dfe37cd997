using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain.ServerTasks;

namespace Patch.Application.ServerTasks;

/// <summary>
/// Starts each enabled task when its cron schedule comes due, checking every Patch:ServerTasks:CheckSeconds (30 by
/// default; 0 turns the scheduler off). A run missed while the server was down runs once at the first check; a task
/// marked to fill a fresh server runs at the first start. Every node checks; the runner's lock lets one of them run it.
/// </summary>
public sealed class ServerTaskScheduler(ServerTaskRunner runner, IDocumentStore store, TimeProvider time, IConfiguration config, ILogger<ServerTaskScheduler> logger)
    : BackgroundService
{
    public const string Trigger = "schedule";

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var seconds = config.GetValue("Patch:ServerTasks:CheckSeconds", 30);
        if (seconds <= 0) return;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(seconds), time);
        do
        {
            try
            {
                await TickAsync(ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                logger.LogWarning(e, "Checking the server task schedules failed; trying again at the next check");
            }
        }
        while (await timer.WaitForNextTickAsync(ct));
    }

    /// <summary>One check: starts what is due, returns the runs started.</summary>
    public async Task<IReadOnlyList<TaskStart>> TickAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var started = new List<TaskStart>();
        foreach (var task in runner.Tasks)
        {
            await using var session = store.QuerySession();
            var schedule = await runner.ScheduleOfAsync(session, task, ct);
            if (!schedule.Enabled) continue;
            var last = await runner.LastRunAsync(task.Name, ct);
            if (runner.NextRun(task, schedule, last) is not { } occurrence || occurrence > now) continue;
            var parameters = last is null && task.RunWhenNeverRun
                ? new Dictionary<string, string> { ["reason"] = "first start" }
                : new Dictionary<string, string> { ["scheduledFor"] = occurrence.ToString("O") };
            if (await runner.StartAsync(task.Name, Trigger, Actor.ServerTask(task.Name), parameters, ct, occurrence) is { AlreadyRunning: false } start)
                started.Add(start);
        }
        return started;
    }
}
