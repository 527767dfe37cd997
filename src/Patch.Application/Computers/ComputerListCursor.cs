using System.Globalization;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Compliance;

namespace Patch.Application.Computers;

/// <summary>
/// The computers list's pages by cursor (<see cref="NameCursor"/>) in each of its orders: the cursor names the order it
/// continues (another order is refused) and holds the last row's sort value (or none: computers without one come last
/// either way) and id. The next page is an index walk from that row — the rows with a value after it, then the rows
/// without one — never a walk of every row before it, whatever the filters. Ordered by another column than the name, the
/// list's ties go by id in the sort's direction, the order of that column's (value, id) index.
/// </summary>
public static class ComputerListCursor
{
    /// <summary>The keys a cursor holds: the order it continues, the last row's sort value and its id.</summary>
    public const int Keys = 3;

    /// <summary>The report its cursors name.</summary>
    public const string Report = "computers";

    private static readonly HashSet<string> Instants = ["lastInventoryAt", "enrolledAt"];

    /// <summary>The order a request asks for, as the cursor names it.</summary>
    public static string Order(ReportQuery query) => (query.Descending ? "-" : "") + query.Sort;

    /// <summary>The report the list's cursors name, for this question (its filters and asOf: <see cref="NameCursor.Question"/>).</summary>
    public static string For(Microsoft.AspNetCore.Http.IQueryCollection paging) => $"{Report}@{NameCursor.Question(paging)}";

    /// <summary>The cursor after <paramref name="row"/> (whose lower-case name is <paramref name="nameLower"/>) in the request's order.</summary>
    public static NameCursor Next(string report, ReportQuery query, int page, ComputerView row, string nameLower)
    {
        string? value = query.Sort switch
        {
            "name" => nameLower,
            // The list's order by operating system is its lower case (ADR 0043), as the row keeps it.
            "operatingSystem" => Projections.Computers.ComputerRow.Lower(row.OperatingSystem),
            "agentVersion" => row.AgentVersion,
            "lastInventoryAt" => row.LastInventoryAt?.ToString("O", CultureInfo.InvariantCulture),
            "enrolledAt" => row.EnrolledAt?.ToString("O", CultureInfo.InvariantCulture),
            _ => throw new ArgumentOutOfRangeException(nameof(query), query.Sort, "not an order of the computers list"),
        };
        return new NameCursor(report, query.PageSize, page + 1, [Order(query), value is null ? "-" : "v" + value, row.Id]);
    }

    /// <summary>Why the cursor cannot continue this request's order, or null.</summary>
    public static string? Problem(NameCursor cursor, ReportQuery query)
    {
        var (order, value) = (Domain.Users.UserDecisions.Printable(cursor.Keys[0]), cursor.Keys[1]);
        // A tampered cursor's order is no sort of this list: nothing to advise asking with.
        if (!ComputerQueries.Sort.ContainsKey(cursor.Keys[0].TrimStart('-')))
            return "after: not a cursor this report gave (take 'next' from the previous page's answer)";
        if (cursor.Keys[0] != Order(query))
            return $"after: this cursor continues the list sorted by {order}; ask with sort={order}, or start again with page=";
        if (value != "-" && (value[0] != 'v' || (Instants.Contains(query.Sort)
                && !DateTimeOffset.TryParse(value[1..], CultureInfo.InvariantCulture, DateTimeStyles.None, out _))))
            return "after: not a cursor this report gave (take 'next' from the previous page's answer)";
        return null;
    }

    /// <summary>
    /// The list's order: by name (then id; ADR 0038's name buckets cut it), or by another column with the rows without a
    /// value last and the id after it in the same direction — the order of that column's (value, id) index, read forward
    /// or backward.
    /// </summary>
    public static string OrderBy(ReportQuery query, string column) => query.Sort == "name"
        ? query.OrderBy(ComputerQueries.Sort, "id")
        : $"{column} {(query.Descending ? "desc" : "asc")} nulls last, id {(query.Descending ? "desc" : "asc")}";

    /// <summary>
    /// The ids of the page after the cursor's row (a relation of one column, page_id) in the list's order by
    /// <paramref name="column"/>: the rows after it with a value (a range of the column's index), then those without.
    /// </summary>
    public static (string Sql, NpgsqlParameter[] Parameters) Page(NameCursor cursor, ReportQuery query, string computers, string filter, string column, int limit)
    {
        var id = new NpgsqlParameter("after_id", cursor.Keys[2]);
        var (direction, beyond) = query.Descending ? ("desc", "<") : ("asc", ">");
        if (query.Sort == "name")
            return ($"""
                select c.id page_id from {computers} where {filter} and c.name_lower {beyond}= @after_value and (c.name_lower {beyond} @after_value or c.id > @after_id)
                order by {OrderBy(query, column)} limit {limit}
                """, [new NpgsqlParameter("after_value", cursor.Keys[1][1..]), id]);
        var withoutValue = $"select c.id page_id, null k from {computers} where {filter} and {column} is null";
        if (cursor.Keys[1] == "-") return ($"{withoutValue} and c.id {beyond} @after_id order by c.id {direction} limit {limit}", [id]);
        var text = cursor.Keys[1][1..];
        var value = Instants.Contains(query.Sort)
            ? new NpgsqlParameter("after_value", DateTimeOffset.Parse(text, CultureInfo.InvariantCulture).ToUniversalTime())
            : new NpgsqlParameter("after_value", text);
        return ($"""
            select page_id from (
              (select c.id page_id, {column} k from {computers} where {filter} and ({column}, c.id) {beyond} (@after_value, @after_id)
                order by {column} {direction}, c.id {direction} limit {limit})
              union all
              ({withoutValue} order by c.id {direction} limit {limit})) x
            order by k {direction} nulls last, page_id {direction} limit {limit}
            """, [value, id]);
    }
}
