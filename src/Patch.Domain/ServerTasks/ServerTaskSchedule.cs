using Cronos;

namespace Patch.Domain.ServerTasks;

/// <summary>An administrator set when a server task runs by itself: a cron expression in a time zone, or no schedule.</summary>
public sealed record ServerTaskScheduleSet(string Id, string Task, string? Cron, string TimeZone, bool Enabled, DateTimeOffset At);

/// <summary>A task's schedule as set (stream <c>server-task:{name}</c>); a task never set runs on its configured default.</summary>
public sealed record ServerTaskSchedule(string Id, string Task, string? Cron, string TimeZone, bool Enabled, DateTimeOffset Changed)
{
    public static string StreamId(string task) => $"server-task:{task}";

    public static ServerTaskSchedule Create(ServerTaskScheduleSet e) => new(e.Id, e.Task, e.Cron, e.TimeZone, e.Enabled, e.At);

    public static ServerTaskSchedule Apply(ServerTaskScheduleSet e, ServerTaskSchedule _) => Create(e);
}

/// <summary>Cron arithmetic for task schedules (Cronos): five fields, or six with seconds first; occurrences in the schedule's zone.</summary>
public static class TaskSchedules
{
    /// <summary>Null when the cron expression and time zone are usable, else what is wrong with them.</summary>
    public static string? Problem(string? cron, string timeZone)
    {
        if (cron is { Length: > 200 }) return "cron: at most 200 characters";
        if (timeZone is { Length: > 100 }) return "time zone: at most 100 characters";
        if (cron is not null)
        {
            try
            {
                // A date no calendar has (the 31st of February): parsed, but the task would never run.
                if (Parse(cron).GetNextOccurrence(new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc)) is null)
                    return $"cron '{Users.UserDecisions.Printable(cron)}' never comes: no calendar has the day it names";
            }
            // Cronos reads past the last field as a NUL character: "Unexpected character '\0'" means the expression ended early.
            catch (CronFormatException e) { return $"cron '{Users.UserDecisions.Printable(cron)}' is not a cron expression: {Users.UserDecisions.Printable(e.Message.Replace("character '\0'", "end of the expression"))}"; }
        }
        return Zone(timeZone) is null ? $"time zone '{Users.UserDecisions.Printable(timeZone)}' is not a known IANA or Windows time zone id" : null;
    }

    public static TimeZoneInfo? Zone(string id) => TimeZones.TryFind(id, out var zone) ? zone : null;

    /// <summary>The first occurrence strictly after <paramref name="after"/>.</summary>
    public static DateTimeOffset? Next(string cron, string timeZone, DateTimeOffset after) =>
        Parse(cron).GetNextOccurrence(after, Zone(timeZone) ?? TimeZoneInfo.Utc);

    /// <summary>
    /// The occurrence a run is due for: the first one after the baseline (the last run, or since when the schedule holds)
    /// if it has come. Runs missed while the server was down collapse into this one run.
    /// </summary>
    public static DateTimeOffset? Due(string cron, string timeZone, DateTimeOffset baseline, DateTimeOffset now) =>
        Next(cron, timeZone, baseline) is { } next && next <= now ? next : null;

    private static CronExpression Parse(string cron)
    {
        var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        return CronExpression.Parse(cron.Trim(), fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
    }
}
