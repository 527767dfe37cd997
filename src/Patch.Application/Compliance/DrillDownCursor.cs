using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Patch.Application.Compliance;

/// <summary>
/// Keyset paging of the drill-downs (a bulletin's or an update's computers, a computer's updates) in name order: a page
/// ends with the cursor of the next (<c>next</c> in the answer), and <c>after=</c> that cursor starts the next page where
/// the last one stopped — an index walk from that row, never a scan of every row before it (a deep <c>page=</c> starts
/// from its name bucket, <see cref="Common.NamePages"/>; asked <c>asOf</c>, it is an OFFSET). The cursor carries the page size and the next page's number (a cursor asked with another page size is
/// refused: its page number would be wrong), the last row's name, computer and update, in an opaque string.
/// </summary>
public sealed record DrillDownCursor(int PageSize, int Page, string Name, string ComputerId, string UpdateKey)
{
    private const string Version = "v1";
    private const char Separator = '\u001f';

    public override string ToString() =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join(Separator, Version, PageSize.ToString(CultureInfo.InvariantCulture), Page.ToString(CultureInfo.InvariantCulture), Name, ComputerId, UpdateKey)))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The cursor of <c>after</c>, null when absent; a problem naming the parameter when it cannot be used.</summary>
    public static (DrillDownCursor? Cursor, string? Problem) Parse(IQueryCollection q, ReportQuery query)
    {
        var text = q["after"].ToString();
        if (text.Length == 0) return (null, null);
        if (query.Sort != "name")
            return (null, $"after: pages follow one another by cursor in name order only (sort=name or sort=-name); this request sorts by {query.Sort} — use page=");
        if (q.ContainsKey("page")) return (null, "after and page: give one of them (after is the 'next' cursor of the previous page's answer)");
        var parts = Decode(text)?.Split(Separator);
        if (parts is not [Version, var size, var page, var name, var computer, var update]
            || !int.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var pageSize) || pageSize < 1
            || !int.TryParse(page, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            || number < 2 || name.Length == 0 || computer.Length == 0 || update.Length == 0)
            return (null, $"after: '{Domain.Users.UserDecisions.Printable(text.Length > 80 ? text[..80] + "…" : text)}' is not a cursor this report gave (take 'next' from the previous page's answer)");
        if (pageSize != query.PageSize)
            return (null, $"after: this cursor continues pages of {pageSize} rows; ask with pageSize={pageSize}, or start again with page=");
        return (new DrillDownCursor(pageSize, number, name, computer, update), null);
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

    /// <summary>
    /// The rows after the cursor's in the drill-down's order (name, then computer and update ascending; the name
    /// descending with sort=-name), as a condition the name index can start from.
    /// </summary>
    public static string Condition(bool descending) => descending
        ? "c.name <= @after_name and (c.name < @after_name or (c.computer_id, s.update_key) > (@after_computer, @after_update))"
        : "c.name >= @after_name and (c.name > @after_name or (c.computer_id, s.update_key) > (@after_computer, @after_update))";
}
