using Npgsql;

namespace Patch.Application.Computers;

/// <summary>
/// A numbered page of every computer sorted by an indexed column other than the name, descending (ADR 0041). The list's
/// order is the column's values, ties by id the same way, computers without a value last either way. Descending, one
/// query in that order cannot use the column's (value, id) index — read backwards it puts the rows without a value
/// first — so PostgreSQL sorted the million rows for every page, the first one too (a quarter to a whole second). The
/// page is read in two parts: the rows with a value from the index read backwards (skipping the ones before the page),
/// then, when the page reaches past them, the rows without one, from the same index's end.
/// </summary>
public static class ValuePages
{
    /// <summary>The list's sorts read this way: columns of their own, each with its (value, id) index (<c>ComputerCounts.SortIndexes</c>).</summary>
    public static readonly HashSet<string> Indexed = ["operatingSystem", "agentVersion", "lastInventoryAt"];

    /// <summary>
    /// The ids of the page at <paramref name="offset"/> (<paramref name="limit"/> rows: the page and the row after it) of the
    /// computer rows in <paramref name="computers"/> (alias <c>c</c>) meeting <paramref name="filter"/>, ordered by
    /// <paramref name="column"/>: a relation of one column (page_id) over the parameter it returns.
    /// </summary>
    public static async Task<(string PageIds, NpgsqlParameter Parameter)> LocateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string computers,
        string filter, string column, List<NpgsqlParameter> ps, long offset, int limit, bool descending, CancellationToken ct)
    {
        var direction = descending ? "desc" : "asc";
        var ids = await IdsAsync(conn, tx, $"""
            select c.id from {computers} where {filter} and {column} is not null
            order by {column} {direction}, c.id {direction} limit {limit} offset {offset}
            """, ps, ct);
        if (ids.Count < limit)
        {
            // The page reaches the rows without a value: from their start when it began among the rows with one, else
            // past as many of them as the rows with a value leave of the offset (counted only then).
            var skip = 0L;
            if (ids.Count == 0) skip = Math.Max(0, offset - await CountAsync(conn, tx, $"select count(*) from {computers} where {filter} and {column} is not null", ps, ct));
            ids.AddRange(await IdsAsync(conn, tx, $"""
                select c.id from {computers} where {filter} and {column} is null
                order by {column} {(descending ? "desc nulls first" : "asc nulls last")}, c.id {direction} limit {limit - ids.Count} offset {skip}
                """, ps, ct));
        }
        return ("select unnest(@page_ids) page_id", new NpgsqlParameter("page_ids", ids.ToArray()));
    }

    private static async Task<List<string>> IdsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, List<NpgsqlParameter> ps, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var p in ps) cmd.Parameters.Add(p.Clone());
        var ids = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) ids.Add(reader.GetString(0));
        return ids;
    }

    private static async Task<long> CountAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, List<NpgsqlParameter> ps, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var p in ps) cmd.Parameters.Add(p.Clone());
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
