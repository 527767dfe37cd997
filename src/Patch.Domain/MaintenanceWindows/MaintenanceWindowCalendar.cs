namespace Patch.Domain.MaintenanceWindows;

/// <summary>
/// Pure window arithmetic, correct across daylight-saving changes:
/// a start time that does not exist locally (clocks jump forward over it) opens the window at the same wall-clock
/// distance after the jump (02:30 on a 02:00→03:00 night opens at 03:30); a start time that happens twice (clocks go
/// back) opens at its first occurrence. The duration is elapsed time, so a 3-hour window is 3 real hours even on the
/// night the clocks change.
/// </summary>
public static class MaintenanceWindowCalendar
{
    private const int SearchDays = 800;

    /// <summary>The window occurrence that contains <paramref name="t"/>, if any.</summary>
    public static (DateTimeOffset Start, DateTimeOffset End)? Containing(MaintenanceWindowSchedule schedule, DateTimeOffset t)
    {
        var zone = Zone(schedule);
        var localDay = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(t, zone).DateTime);
        var lookBack = (int)Math.Ceiling(schedule.Duration.TotalDays) + 1;
        for (var d = localDay.AddDays(-lookBack); d <= localDay; d = d.AddDays(1))
        {
            if (!Matches(schedule.Recurrence, d)) continue;
            var start = StartOn(d, schedule.Start, zone);
            var end = start + schedule.Duration;
            if (start <= t && t < end) return (start, end);
        }
        return null;
    }

    public static bool IsInside(MaintenanceWindowSchedule schedule, DateTimeOffset t) => Containing(schedule, t) is not null;

    /// <summary>The first window start at or after <paramref name="after"/>; null if none within about two years.</summary>
    public static DateTimeOffset? NextStart(MaintenanceWindowSchedule schedule, DateTimeOffset after)
    {
        var zone = Zone(schedule);
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(after, zone).DateTime).AddDays(-1);
        for (var i = 0; i < SearchDays; i++, day = day.AddDays(1))
        {
            if (!Matches(schedule.Recurrence, day)) continue;
            var start = StartOn(day, schedule.Start, zone);
            if (start >= after) return start;
        }
        return null;
    }

    /// <summary>For a computer in several windows: inside any of them?</summary>
    public static bool IsInsideAny(IEnumerable<MaintenanceWindowSchedule> schedules, DateTimeOffset t) => schedules.Any(s => IsInside(s, t));

    /// <summary>The earliest next start over several windows.</summary>
    public static DateTimeOffset? NextStartOfAny(IEnumerable<MaintenanceWindowSchedule> schedules, DateTimeOffset after) =>
        schedules.Select(s => NextStart(s, after)).Where(s => s is not null).Min();

    public static bool Matches(Recurrence r, DateOnly day) => r.Kind switch
    {
        RecurrenceKind.Daily => true,
        RecurrenceKind.Weekly => r.Days?.Contains(day.DayOfWeek) == true,
        RecurrenceKind.Monthly => day.Day == Math.Min(r.DayOfMonth ?? 1, DateTime.DaysInMonth(day.Year, day.Month)),
        RecurrenceKind.MonthlyNthWeekday => MatchesNthWeekday(r, day),
        _ => false,
    };

    private static bool MatchesNthWeekday(Recurrence r, DateOnly day)
    {
        if (r.Week is null || r.Weekday is null) return false;
        // The base day may fall in the previous or next month when the offset crosses a month boundary.
        var month = new DateOnly(day.Year, day.Month, 1);
        foreach (var m in new[] { month.AddMonths(-1), month, month.AddMonths(1) })
            if (NthWeekday(m.Year, m.Month, r.Week.Value, r.Weekday.Value).AddDays(r.OffsetDays) == day) return true;
        return false;
    }

    public static DateOnly NthWeekday(int year, int month, int week, DayOfWeek weekday)
    {
        if (week >= 5)
        {
            var last = new DateOnly(year, month, DateTime.DaysInMonth(year, month));
            return last.AddDays(-(((int)last.DayOfWeek - (int)weekday + 7) % 7));
        }
        var first = new DateOnly(year, month, 1);
        return first.AddDays(((int)weekday - (int)first.DayOfWeek + 7) % 7 + 7 * (week - 1));
    }

    private static DateTimeOffset StartOn(DateOnly day, TimeOnly start, TimeZoneInfo zone)
    {
        var local = day.ToDateTime(start, DateTimeKind.Unspecified);
        if (zone.IsInvalidTime(local))
        {
            // Clocks jumped forward over this time: keep the wall-clock distance past the jump.
            var rule = zone.GetAdjustmentRules().FirstOrDefault(a => a.DateStart <= local && local <= a.DateEnd);
            local = local + (rule?.DaylightDelta ?? TimeSpan.FromHours(1));
        }
        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset);
    }

    private static TimeZoneInfo Zone(MaintenanceWindowSchedule schedule) =>
        MaintenanceWindowSchedule.TryZone(schedule.TimeZone, out var zone) ? zone : throw new ArgumentException($"Unknown time zone '{schedule.TimeZone}'.");
}
