namespace Patch.Domain.MaintenanceWindows;

public enum RecurrenceKind { Daily, Weekly, Monthly, MonthlyNthWeekday }

/// <summary>
/// When a window recurs, on the local calendar of its time zone. <c>Weekly</c> uses <see cref="Days"/>;
/// <c>Monthly</c> uses <see cref="DayOfMonth"/> (31 means the month's last day in shorter months);
/// <c>MonthlyNthWeekday</c> is "the <see cref="Week"/>-th <see cref="Weekday"/> of the month plus <see cref="OffsetDays"/>"
/// (week 5 = the last one), e.g. second Tuesday + 2 days.
/// </summary>
public sealed record Recurrence(
    RecurrenceKind Kind,
    IReadOnlyList<DayOfWeek>? Days = null,
    int? DayOfMonth = null,
    int? Week = null,
    DayOfWeek? Weekday = null,
    int OffsetDays = 0);

/// <summary>A window's timing: it opens at <see cref="Start"/> local time on each matching day and lasts <see cref="Duration"/> of elapsed time.</summary>
public sealed record MaintenanceWindowSchedule(string TimeZone, TimeOnly Start, TimeSpan Duration, Recurrence Recurrence)
{
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(7);

    /// <summary>Every reason the schedule cannot work, as "field: problem" lines; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Recurrence is null) problems.Add("recurrence: required");
        if (TimeZone is null) return [.. problems, "timeZone: required"];
        if (!TryZone(TimeZone, out _)) problems.Add($"timeZone: '{TimeZone}' is not a known time zone (use an IANA id such as Europe/Berlin)");
        if (Duration <= TimeSpan.Zero || Duration > MaxDuration) problems.Add("duration: must be more than 0 and at most 7 days");
        // A wall-clock time to the second: "22:00:00.5" is no time a window is planned for.
        if (Start.Ticks % TimeSpan.TicksPerSecond != 0) problems.Add($"start: '{Start:HH:mm:ss.FFFFFFF}' has a fraction of a second; give a time such as 02:30:00");
        // A daily window longer than a day would overlap itself: it would never close.
        if (Recurrence is { Kind: RecurrenceKind.Daily } && Duration > TimeSpan.FromDays(1)) problems.Add("duration: a daily window lasts at most 24 hours (it would overlap itself and never close)");
        var r = Recurrence;
        if (r is null) return problems;
        if (!Enum.IsDefined(r.Kind)) return [.. problems, $"recurrence.kind: not one of {string.Join(", ", Enum.GetNames<RecurrenceKind>())}"];
        if (r.Days?.Any(d => !Enum.IsDefined(d)) == true || r.Weekday is { } w && !Enum.IsDefined(w)) problems.Add("recurrence: a day is not a day of the week");
        if (r.Days?.Distinct().Count() < r.Days?.Count) problems.Add("recurrence.days: a day is given twice");
        // A field another kind reads would be stored and never used: the window would not open when its author thinks.
        var given = new (string Name, bool Set, RecurrenceKind[] Kinds)[]
        {
            ("days", r.Days is not null, [RecurrenceKind.Weekly]), ("dayOfMonth", r.DayOfMonth is not null, [RecurrenceKind.Monthly]),
            ("week", r.Week is not null, [RecurrenceKind.MonthlyNthWeekday]), ("weekday", r.Weekday is not null, [RecurrenceKind.MonthlyNthWeekday]),
            ("offsetDays", r.OffsetDays != 0, [RecurrenceKind.MonthlyNthWeekday]),
        };
        foreach (var (name, _, kinds) in given.Where(g => g.Set && !g.Kinds.Contains(r.Kind)))
            problems.Add($"recurrence.{name}: only for a {string.Join(" or ", kinds)} window, not a {r.Kind} one");
        switch (r.Kind)
        {
            case RecurrenceKind.Weekly when r.Days is not { Count: > 0 }:
                problems.Add("recurrence.days: a weekly window needs at least one day");
                break;
            case RecurrenceKind.Monthly when r.DayOfMonth is not (>= 1 and <= 31):
                problems.Add("recurrence.dayOfMonth: must be 1 to 31");
                break;
            case RecurrenceKind.MonthlyNthWeekday:
                if (r.Week is not (>= 1 and <= 5)) problems.Add("recurrence.week: must be 1 to 5 (5 = last)");
                if (r.Weekday is null) problems.Add("recurrence.weekday: required");
                if (r.OffsetDays is < -27 or > 27) problems.Add("recurrence.offsetDays: must be -27 to 27");
                break;
        }
        return problems;
    }

    public static bool TryZone(string id, out TimeZoneInfo zone) => TimeZones.TryFind(id, out zone);
}
