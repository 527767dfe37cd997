using Patch.Domain.MaintenanceWindows;

namespace Patch.Domain.Tests;

public class when_computing_maintenance_windows
{
    private static MaintenanceWindowSchedule Daily(string zone, int hour, int minute, double hours) =>
        new(zone, new TimeOnly(hour, minute), TimeSpan.FromHours(hours), new Recurrence(RecurrenceKind.Daily));

    private static DateTimeOffset Utc(string iso) => DateTimeOffset.Parse(iso + "Z").ToUniversalTime();

    [Fact]
    public void a_window_that_crosses_midnight_contains_the_small_hours()
    {
        var w = Daily("Europe/Berlin", 22, 0, 3);
        Assert.True(MaintenanceWindowCalendar.IsInside(w, Utc("2024-03-19T23:30:00")));   // 00:30 CET next day
        Assert.False(MaintenanceWindowCalendar.IsInside(w, Utc("2024-03-20T00:00:00")));  // 01:00 CET: closed
        Assert.Equal(Utc("2024-03-20T21:00:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-03-20T00:00:00")));
    }

    [Fact]
    public void a_start_time_skipped_by_spring_forward_opens_after_the_jump_in_berlin()
    {
        var w = Daily("Europe/Berlin", 2, 30, 1);
        // 2024-03-31: 02:00 CET → 03:00 CEST. 02:30 does not exist: the window opens at 03:30 CEST = 01:30Z.
        Assert.Equal(Utc("2024-03-31T01:30:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-03-30T02:00:00")));
        Assert.True(MaintenanceWindowCalendar.IsInside(w, Utc("2024-03-31T02:15:00")));
        Assert.False(MaintenanceWindowCalendar.IsInside(w, Utc("2024-03-31T02:31:00")));
        // The next day it is 02:30 CEST again = 00:30Z.
        Assert.Equal(Utc("2024-04-01T00:30:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-03-31T03:00:00")));
    }

    [Fact]
    public void a_start_time_repeated_by_fall_back_opens_once_at_its_first_occurrence()
    {
        var w = Daily("Europe/Berlin", 2, 30, 1);
        // 2024-10-27: 03:00 CEST → 02:00 CET; 02:30 happens twice. The window opens at the first (00:30Z) only.
        Assert.Equal(Utc("2024-10-27T00:30:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-10-26T12:00:00")));
        Assert.True(MaintenanceWindowCalendar.IsInside(w, Utc("2024-10-27T01:15:00")));
        Assert.False(MaintenanceWindowCalendar.IsInside(w, Utc("2024-10-27T01:45:00")));  // the second 02:45
        Assert.Equal(Utc("2024-10-28T01:30:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-10-27T01:00:00")));
    }

    [Fact]
    public void the_duration_is_elapsed_time_across_a_fall_back_night_in_new_york()
    {
        var w = Daily("America/New_York", 1, 0, 3);
        // 2024-11-03: 02:00 EDT → 01:00 EST. Opens 01:00 EDT (05:00Z), closes 3 real hours later (08:00Z = 03:00 EST).
        var window = MaintenanceWindowCalendar.Containing(w, Utc("2024-11-03T07:59:00"));
        Assert.Equal((Utc("2024-11-03T05:00:00"), Utc("2024-11-03T08:00:00")), window);
        Assert.False(MaintenanceWindowCalendar.IsInside(w, Utc("2024-11-03T08:00:00")));
    }

    [Fact]
    public void the_southern_hemisphere_jumps_forward_in_october()
    {
        var w = Daily("Australia/Sydney", 2, 15, 2);
        // 2024-10-06: 02:00 AEST → 03:00 AEDT: opens 03:15 AEDT = 16:15Z on the 5th.
        Assert.Equal(Utc("2024-10-05T16:15:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-10-05T12:00:00")));
        // 2024-04-07: 03:00 AEDT → 02:00 AEST: 02:15 is ambiguous, first occurrence = 15:15Z on the 6th.
        Assert.Equal(Utc("2024-04-06T15:15:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-04-06T12:00:00")));
    }

    [Fact]
    public void second_tuesday_plus_two_days_is_the_thursday_after_patch_tuesday()
    {
        var w = new MaintenanceWindowSchedule("UTC", new TimeOnly(20, 0), TimeSpan.FromHours(4),
            new Recurrence(RecurrenceKind.MonthlyNthWeekday, Week: 2, Weekday: DayOfWeek.Tuesday, OffsetDays: 2));
        Assert.Equal(Utc("2024-01-11T20:00:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-01-01T00:00:00")));
        Assert.Equal(Utc("2024-02-15T20:00:00"), MaintenanceWindowCalendar.NextStart(w, Utc("2024-01-12T00:00:00")));
        Assert.True(MaintenanceWindowCalendar.IsInside(w, Utc("2024-01-11T23:59:00")));
    }

    [Fact]
    public void an_offset_can_carry_the_window_into_the_next_month()
    {
        var lastTuesdayPlusWeek = new Recurrence(RecurrenceKind.MonthlyNthWeekday, Week: 5, Weekday: DayOfWeek.Tuesday, OffsetDays: 7);
        Assert.Equal(new DateOnly(2024, 1, 30), MaintenanceWindowCalendar.NthWeekday(2024, 1, 5, DayOfWeek.Tuesday));
        Assert.True(MaintenanceWindowCalendar.Matches(lastTuesdayPlusWeek, new DateOnly(2024, 2, 6)));
        Assert.False(MaintenanceWindowCalendar.Matches(lastTuesdayPlusWeek, new DateOnly(2024, 1, 30)));
    }

    [Fact]
    public void weekly_and_monthly_days()
    {
        var weekend = new Recurrence(RecurrenceKind.Weekly, Days: [DayOfWeek.Saturday, DayOfWeek.Sunday]);
        Assert.True(MaintenanceWindowCalendar.Matches(weekend, new DateOnly(2024, 1, 13)));
        Assert.False(MaintenanceWindowCalendar.Matches(weekend, new DateOnly(2024, 1, 15)));
        var endOfMonth = new Recurrence(RecurrenceKind.Monthly, DayOfMonth: 31);
        Assert.True(MaintenanceWindowCalendar.Matches(endOfMonth, new DateOnly(2024, 2, 29)));
        Assert.False(MaintenanceWindowCalendar.Matches(endOfMonth, new DateOnly(2024, 2, 28)));
        Assert.True(MaintenanceWindowCalendar.Matches(endOfMonth, new DateOnly(2024, 4, 30)));
    }

    [Fact]
    public void a_computer_in_several_windows_is_inside_any_and_waits_for_the_earliest()
    {
        var nights = Daily("UTC", 1, 0, 2);
        var weekend = new MaintenanceWindowSchedule("UTC", new TimeOnly(10, 0), TimeSpan.FromHours(8), new Recurrence(RecurrenceKind.Weekly, Days: [DayOfWeek.Saturday]));
        Assert.True(MaintenanceWindowCalendar.IsInsideAny([nights, weekend], Utc("2024-01-13T12:00:00")));
        Assert.False(MaintenanceWindowCalendar.IsInsideAny([nights, weekend], Utc("2024-01-12T12:00:00")));
        Assert.Equal(Utc("2024-01-13T01:00:00"), MaintenanceWindowCalendar.NextStartOfAny([nights, weekend], Utc("2024-01-12T12:00:00")));
    }

    [Fact]
    public void an_impossible_schedule_lists_its_problems()
    {
        var bad = new MaintenanceWindowSchedule("Mars/Olympus", new TimeOnly(1, 0), TimeSpan.Zero, new Recurrence(RecurrenceKind.Weekly));
        Assert.Equal(3, bad.Problems().Count);
        Assert.Contains(bad.Problems(), p => p.StartsWith("timeZone:"));
        Assert.Empty(Daily("Europe/Berlin", 1, 0, 1).Problems());
    }

    /// <summary>
    /// A system whose runtime knows only its own kind of id (Windows without ICU: Windows ids; a Linux without ICU: IANA
    /// ones) still finds a zone named by the other kind, converted by TimeZoneConverter's mapping; a name of neither kind is no zone.
    /// </summary>
    [Fact]
    public void a_zone_named_by_the_other_kind_of_id_is_found_where_the_runtime_cannot_convert()
    {
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        TimeZoneInfo? WindowsOnly(string id) => id == "W. Europe Standard Time" ? berlin : null;
        Assert.True(TimeZones.TryFind("Europe/Berlin", WindowsOnly, out var zone));
        Assert.Same(berlin, zone);
        TimeZoneInfo? IanaOnly(string id) => id == "Europe/Berlin" ? berlin : null;
        Assert.True(TimeZones.TryFind("W. Europe Standard Time", IanaOnly, out zone));
        Assert.False(TimeZones.TryFind("Mars/Base", WindowsOnly, out _));
        Assert.False(TimeZones.TryFind("../etc/passwd", WindowsOnly, out _));
    }
}
