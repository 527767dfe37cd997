using System.Text.RegularExpressions;

namespace Patch.Domain;

/// <summary>
/// A culture's name as Windows and Microsoft's catalogs write it (BCP 47's shape, as .NET names cultures): a language of
/// two or three letters, then an optional script of four letters, then an optional region of two letters or three digits,
/// then an optional variant of five to eight, or four beginning with a digit (ca-ES-valencia, de-DE-1996), then Windows' optional sort (es-ES_tradnl) — en-US, sr-Latn-RS,
/// zh-Hans-CN, es-419, qps-ploc. "xx-YY-ZZ-123" or "not a culture" is none.
/// </summary>
public static partial class CultureNames
{
    [GeneratedRegex("^[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-([a-zA-Z]{2}|[0-9]{3}))?(-([a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}))?(_[a-zA-Z]{2,8})?$")]
    private static partial Regex Shape();

    public static bool IsName(string? name) => name is not null && Shape().IsMatch(name.Trim());

    /// <summary>
    /// A culture an administrator can mean: shaped as above and one the platform's culture data (ICU) knows — "xx-NOPE"
    /// and "qq" have the shape and are none. Without culture data (invariant globalization) or with Windows' sort suffix
    /// (es-ES_tradnl, which ICU names otherwise), the shape decides. An agent's report keeps to the shape: a computer may
    /// have a culture this server's data lacks.
    /// </summary>
    public static bool IsKnown(string? name)
    {
        if (!IsName(name)) return false;
        var trimmed = name!.Trim();
        if (trimmed.Contains('_') || !HasCultureData.Value) return true;
        try
        {
            return System.Globalization.CultureInfo.GetCultureInfo(trimmed, predefinedOnly: true) is { Name.Length: > 0 };
        }
        catch (System.Globalization.CultureNotFoundException)
        {
            return false;
        }
    }

    private static readonly Lazy<bool> HasCultureData = new(() => System.Globalization.CultureInfo.GetCultures(System.Globalization.CultureTypes.SpecificCultures).Length > 1);
}
