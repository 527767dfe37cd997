using System.Text.RegularExpressions;

namespace Patch.Domain;

/// <summary>
/// A time zone by its IANA ("Europe/Berlin") or Windows ("W. Europe Standard Time") id. The id names a file under
/// /usr/share/zoneinfo on Linux: anything not shaped like a zone id (a folder such as "Europe/", "..", a path) is no zone,
/// and whatever the runtime throws while looking one up is "not found", never an error of the caller's request.
/// </summary>
public static partial class TimeZones
{
    public static bool TryFind(string? id, out TimeZoneInfo zone)
    {
        zone = TimeZoneInfo.Utc;
        if (id is null || !Shape().IsMatch(id) || id.Split('/').Any(part => part is "." or "..")) return false;
        try
        {
            if (!TimeZoneInfo.TryFindSystemTimeZoneById(id, out var found)) return false;
            zone = found;
            return true;
        }
        catch (Exception e) when (e is System.Security.SecurityException or UnauthorizedAccessException or IOException or InvalidTimeZoneException
            or TimeZoneNotFoundException or ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9 ._+\-]{0,63}(/[A-Za-z0-9._+\-]{1,64}){0,3}\z")]
    private static partial Regex Shape();
}
