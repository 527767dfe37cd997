using System.Text.RegularExpressions;

namespace Patch.Domain;

/// <summary>
/// A time zone by its IANA ("Europe/Berlin") or Windows ("W. Europe Standard Time") id. The id names a file under
/// /usr/share/zoneinfo on Linux: anything not shaped like a zone id (a folder such as "Europe/", "..", a path) is no zone,
/// and whatever the runtime throws while looking one up is "not found", never an error of the caller's request. The
/// runtime converts between IANA and Windows ids only with ICU, which Windows Server 2016/2019 lack (a maintenance
/// window in "Europe/Berlin" threw on such an agent): the other kind of id is then tried, converted by TimeZoneConverter's
/// own CLDR mapping.
/// </summary>
public static partial class TimeZones
{
    public static bool TryFind(string? id, out TimeZoneInfo zone) => TryFind(id, SystemZone, out zone);

    private static TimeZoneInfo? SystemZone(string id) => TimeZoneInfo.TryFindSystemTimeZoneById(id, out var found) ? found : null;

    /// <summary><see cref="TryFind(string?, out TimeZoneInfo)"/> over a system's own look-up (a test stands in for a system without ICU).</summary>
    public static bool TryFind(string? id, Func<string, TimeZoneInfo?> system, out TimeZoneInfo zone)
    {
        zone = TimeZoneInfo.Utc;
        if (id is null || !Shape().IsMatch(id) || id.Split('/').Any(part => part is "." or "..") || NotAZone(id)) return false;
        try
        {
            var found = system(id);
            if (found is null && (TimeZoneConverter.TZConvert.TryIanaToWindows(id, out var other) || TimeZoneConverter.TZConvert.TryWindowsToIana(id, out other)))
                found = system(other);
            if (found is null) return false;
            zone = found;
            return true;
        }
        catch (Exception e) when (e is System.Security.SecurityException or UnauthorizedAccessException or IOException or InvalidTimeZoneException
            or TimeZoneNotFoundException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// Files of the zoneinfo folder that are no zone a schedule can name: "localtime" (the host's own zone, another on each
    /// node), "posixrules", "Factory" (no offset at all), and the "posix/" and "right/" copies (leap seconds counted).
    /// </summary>
    private static bool NotAZone(string id) =>
        id.Equals("localtime", StringComparison.OrdinalIgnoreCase) || id.Equals("posixrules", StringComparison.OrdinalIgnoreCase)
        || id.Equals("Factory", StringComparison.OrdinalIgnoreCase) || id.StartsWith("posix/", StringComparison.OrdinalIgnoreCase)
        || id.StartsWith("right/", StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9 ._+\-]{0,63}(/[A-Za-z0-9._+\-]{1,64}){0,3}\z")]
    private static partial Regex Shape();
}
