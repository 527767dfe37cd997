using Npgsql;

namespace Patch.Application.Computers;

/// <summary>
/// A numbered page of every computer (or of some groups, in their first quarter) sorted by an indexed column other than
/// the name, descending (ADR 0041, 0043). The list's order is the column's values, ties by id the same way, computers
/// without a value last either way. Descending, one query in that order cannot use the column's (value, id) index — read
/// backwards it puts the rows without a value first — so PostgreSQL sorted the million rows for every page, the first
/// one too (a quarter to a whole second). The page is read in two parts: the rows with a value from the index read
/// backwards (skipping the ones before the page), then, when the page reaches past them, the rows without one, from the
/// same index's end.
/// </summary>
public static class ValuePages
{
    /// <summary>The list's sorts read this way: columns of their own, each with its (value, id) index (<c>ComputerCounts.SortIndexes</c>).</summary>
    public static readonly HashSet<string> Indexed = ["operatingSystem", "agentVersion", "lastInventoryAt", "enrolledAt"];

    /// <summary>
    /// Whether a page ending at row <paramref name="end"/> of the <paramref name="groupsTotal"/> computers of some groups
    /// (the kept counts of the filter's operating systems and agent versions) is read from the index too: the walk passes
    /// every computer the filter refuses on the way — about <paramref name="end"/> times all computers over those of the
    /// groups, each looked up in the table — where the one query sorts the rows of the groups after a scan of the whole
    /// table. Read when the page lies in the first quarter of the groups' rows: at a million computers a walk then passes
    /// at most 250,000 entries (the 450,000 computers of Windows 11, by last inventory descending: page 1,100, 122,000
    /// entries, 0.11 s; the sort 0.39–0.6 s whatever the page).
    /// </summary>
    public static bool WalkPays(long end, long groupsTotal) => end * 4 <= groupsTotal;

    /// <summary>
    /// The ids of the page at <paramref name="offset"/> (<paramref name="limit"/> rows: the page and the row after it) of the
    /// computer rows in <paramref name="computers"/> (alias <c>c</c>) meeting <paramref name="filter"/>, ordered by
    /// <paramref name="column"/> descending: a relation of one column (page_id) over the parameter it returns.
    /// </summary>
    public static async Task<(string PageIds, NpgsqlParameter Parameter)> LocateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string computers,
        string filter, string column, List<NpgsqlParameter> ps, long offset, int limit, CancellationToken ct)
    {
        NpgsqlCommand Command(string sql)
        {
            var cmd = new NpgsqlCommand(sql, conn, tx);
            foreach (var p in ps) cmd.Parameters.Add(p.Clone());
            return cmd;
        }

        var ids = new List<string>();
        async Task ReadAsync(string sql)
        {
            await using var cmd = Command(sql);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) ids.Add(reader.GetString(0));
        }

        await ReadAsync($"""
            select c.id from {computers} where {filter} and {column} is not null
            order by {column} desc, c.id desc limit {limit} offset {offset}
            """);
        if (ids.Count < limit)
        {
            // The page reaches the rows without a value (the index's end: read backwards, they come first there): from
            // their start when it began among the rows with one, else past as many of them as the rows with a value leave
            // of the offset (counted only then).
            var skip = 0L;
            if (ids.Count == 0)
            {
                await using var count = Command($"select count(*) from {computers} where {filter} and {column} is not null");
                skip = Math.Max(0, offset - (long)(await count.ExecuteScalarAsync(ct))!);
            }
            await ReadAsync($"""
                select c.id from {computers} where {filter} and {column} is null
                order by {column} desc nulls first, c.id desc limit {limit - ids.Count} offset {skip}
                """);
        }
        return ("select unnest(@page_ids) page_id", new NpgsqlParameter("page_ids", ids.ToArray()));
    }
}
