using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Patch.Application.Compliance;

namespace Patch.Application.Common;

/// <summary>
/// A keyset cursor for reports paged in name order (the drill-downs; the computers list, in any of its orders): a page
/// ends with the cursor of the next (<c>next</c> in the answer), and <c>after=</c> that cursor starts the next page where
/// the last one stopped — an index walk from that row, never a walk of every row before it, now or <c>asOf</c>. It
/// carries the page size and the next page's number (a cursor asked with another page size is refused: its page number
/// would be wrong), the report it pages (another report's cursor is refused) and the last row's keys, in an opaque string.
/// </summary>
public sealed record NameCursor(string Report, int PageSize, int Page, IReadOnlyList<string> Keys)
{
    private const string Version = "v1";
    private const char Separator = '\u001f';

    public override string ToString() =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join(Separator,
                [Version, Report, PageSize.ToString(CultureInfo.InvariantCulture), Page.ToString(CultureInfo.InvariantCulture), .. Keys])))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// What a page asks besides its paging — every parameter but page, after, pageSize, sort and format (those have their own
    /// checks), and the subject (whose computers, which computer) — as a short digest. A cursor carries the question of the
    /// page that gave it (<c>report@question</c>): asked with other filters, another asOf or another subject, its page number
    /// and the rows it skips would belong to another list.
    /// </summary>
    public static string Question(IQueryCollection q, string subject = "")
    {
        var asked = q.Where(kv => kv.Key.ToLowerInvariant() is not ("page" or "after" or "pagesize" or "sort" or "format"))
            .OrderBy(kv => kv.Key, StringComparer.OrdinalIgnoreCase).Select(kv => $"{kv.Key.ToLowerInvariant()}={kv.Value}");
        var text = string.Join('\n', asked.Append(subject));
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>
    /// The cursor of <c>after</c> that <paramref name="report"/> gave, with <paramref name="keyCount"/> keys, null when absent;
    /// a problem naming the parameter when it cannot be used. In name order only, unless <paramref name="anySort"/> (the
    /// report's cursor then names its order).
    /// </summary>
    public static (NameCursor? Cursor, string? Problem) Parse(IQueryCollection q, ReportQuery query, string report, int keyCount, bool anySort = false)
    {
        var text = q["after"].ToString();
        if (!q.ContainsKey("after")) return (null, null);
        if (text.Length == 0) return (null, "after: empty (take 'next' from the previous page's answer)");
        if (query.Sort != "name" && !anySort)
            return (null, $"after: pages follow one another by cursor in name order only (sort=name or sort=-name); this request sorts by {query.Sort} — use page=");
        if (q.ContainsKey("page")) return (null, "after and page: give one of them (after is the 'next' cursor of the previous page's answer)");
        var parts = Decode(text)?.Split(Separator);
        if (parts is { Length: > 1 } && parts[0] == Version && parts[1] != report && parts[1].Split('@')[0] == report.Split('@')[0])
            return (null, "after: this cursor continues the same report asked otherwise (other filters, asOf or subject): ask with the parameters of the page that gave it, or start again with page=");
        if (parts is null || parts.Length != 4 + keyCount || parts[0] != Version || parts[1] != report
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var pageSize) || pageSize < 1
            || !int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            || number < 2 || parts.Skip(4).Any(k => k.Length == 0 || RequestText.ControlAt(k) >= 0))
            return (null, $"after: '{Domain.Users.UserDecisions.Printable(text.Length > 80 ? text[..80] + "…" : text)}' is not a cursor this report gave (take 'next' from the previous page's answer)");
        if (pageSize != query.PageSize)
            return (null, $"after: this cursor continues pages of {pageSize} rows; ask with pageSize={pageSize}, or start again with page=");
        return (new NameCursor(report, pageSize, number, parts[4..]), null);
    }

    private static string? Decode(string text)
    {
        var base64 = text.Replace('-', '+').Replace('_', '/');
        base64 += new string('=', (4 - base64.Length % 4) % 4);
        var bytes = new byte[base64.Length];
        try
        {
            return Convert.TryFromBase64String(base64, bytes, out var written) ? new UTF8Encoding(false, true).GetString(bytes, 0, written) : null;
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
