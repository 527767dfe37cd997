using System.Globalization;
using System.Text.RegularExpressions;

namespace Patch.Application.Common;

/// <summary>
/// An instant or a date in a query parameter, read as ISO 8601 says and nothing looser: a date (<c>2026-10-01</c>, its
/// first instant in UTC), or a time with its offset (<c>2026-10-01T12:00Z</c>, <c>2026-10-01T12:00:00.5+02:00</c>): a
/// time without one names no instant (whose noon?).
/// .NET's own parsing also takes <c>1.5</c> (the 5th of January of this year) or <c>1/2/3</c> — an answer to a question
/// nobody asked.
/// </summary>
public static partial class IsoInstant
{
    // ASCII digits only: .NET's \d also takes "２026" (full-width), which no ISO 8601 text holds.
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?([Zz]|[+-]\d{2}:\d{2}))?$", RegexOptions.ECMAScript)]
    private static partial Regex Shape();

    /// <summary>The instant in UTC, or — <paramref name="keepOffset"/> — with the offset it was given with.</summary>
    public static bool TryParse(string? text, out DateTimeOffset at, bool keepOffset = false)
    {
        at = default;
        return text is not null && Shape().IsMatch(text) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
            keepOffset ? DateTimeStyles.AssumeUniversal : DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at);
    }

    /// <summary>What a refusal says of <paramref name="text"/> given as <paramref name="name"/>.</summary>
    public static string Refusal(string name, string text) => Shape().IsMatch(text)
        // Written as ISO 8601 says, but no instant: a day or hour that does not exist (2026-02-30, 25:00), or past the ends
        // of the calendar once its offset is applied (9999-12-31T23:59:59-14:00).
        ? $"{name}: '{Domain.Users.UserDecisions.Printable(text)}' is no instant there is: a date or time that does not exist, or outside 0001-01-01 to 9999-12-31 in UTC"
        : $"{name}: '{Domain.Users.UserDecisions.Printable(text)}' is not an ISO 8601 date or instant with its offset (e.g. 2026-10-01 or 2026-10-01T12:00:00Z; seconds to 7 decimals)";
}
