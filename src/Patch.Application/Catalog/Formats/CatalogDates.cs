using System.Globalization;
using Patch.Domain.Catalog;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// The dates a catalog gives must be dates a vendor can have given: none before 1985 (no Windows, no bulletin) and none
/// after the import (a document revised in 2099, or a KEV catalog of version 9999.12.31, would make every real revision
/// after it look older and be set aside for good). Two days of slack for the vendor's time zone and the server's clock.
/// A KEV entry's due date may be ahead, by at most three years after the entry was added (CISA's are weeks, never more
/// than half a year, and some are before the date added).
/// </summary>
public static class CatalogDates
{
    public static readonly DateTimeOffset Earliest = new(1985, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static void Check(CatalogDocument document, DateTimeOffset now)
    {
        var last = Latest(now);
        foreach (var b in document.Bulletins)
        {
            Check(b.Facts.Released, last, $"bulletin {b.Facts.Number}: released");
            Check(b.Facts.Revised, last, $"bulletin {b.Facts.Number}: revised");
        }
    }

    public static void Check(KevDocument document, DateTimeOffset now)
    {
        var last = Latest(now);
        if (DateOnly.TryParseExact(document.CatalogVersion, "yyyy.MM.dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var version))
            Check(At(version), last, "catalogVersion");
        foreach (var v in document.Vulnerabilities)
        {
            Check(At(v.DateAdded), last, $"vulnerability {v.Cve}: dateAdded");
            if (v.DueDate is { } due) Check(At(due), At(v.DateAdded).AddYears(3), $"vulnerability {v.Cve}: dueDate");
        }
    }

    /// <summary>The import's time and two days: the vendor's time zone and the server's clock.</summary>
    private static DateTimeOffset Latest(DateTimeOffset now) => now.AddDays(2);

    private static DateTimeOffset At(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    private static void Check(DateTimeOffset? at, DateTimeOffset last, string place)
    {
        if (at is not { } date) return;
        if (date < Earliest || date > last)
            throw new CatalogFormatException("Date out of range",
                $"{place} is {date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}; a catalog's dates lie from {Earliest:yyyy-MM-dd} to {last:yyyy-MM-dd}.", place);
    }
}
