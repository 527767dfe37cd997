using Npgsql;
using Patch.Application.Common;
using Patch.Projections;
using Patch.Projections.Computers;

namespace Patch.Application.Computers;

/// <summary>
/// A numbered page of the computers list sorted by agent version or operating system, placed without skipping the rows
/// before it (ADR 0037 amended, ADR 0043). The list's order is the column's values in order (computers without one last),
/// each value's computers by id; a computer's id is the lower case of its name behind a fixed prefix (<c>computer:</c>),
/// so within a value that is name order. The kept counts give each value's run — their groups are the lower-case
/// operating system and the agent version, the very values of these sorts — and a page inside one run is placed by the
/// name buckets' counts of that value's groups (ADR 0038): at a million computers of one version, a deep page no longer
/// skips half a million index entries, and filtered by operating system, the first page no longer walks past every
/// computer of the systems the filter refuses. A page across two runs, or a store with an empty value (the counts' "none"),
/// takes the skip.
/// </summary>
public static class RunPages
{
    /// <summary>A sort read by runs: the row's column, the counts' column and the name buckets' shape part of the same value.</summary>
    private sealed record Run(string RowColumn, string CountsColumn, int ShapePart);

    private static readonly Dictionary<string, Run> Runs = new()
    {
        ["agentVersion"] = new("agent_version", "agent_version", 2),
        ["operatingSystem"] = new("operating_system_lower", "os", 1),
    };

    public static bool Sorts(string sort) => Runs.ContainsKey(sort);

    /// <summary>
    /// The ids of the page at <paramref name="offset"/> (and the row after it, <paramref name="limit"/> in all) of the computer
    /// rows in <paramref name="computers"/> (alias <c>c</c>) meeting <paramref name="filter"/> — the same filter as
    /// <paramref name="grouped"/>, a condition on the kept counts' columns (<c>os</c>, <c>agent_version</c>), and as
    /// <paramref name="shaped"/>, a condition on a name bucket's shape — sorted by <paramref name="sort"/>: a relation of one
    /// column (page_id) with its parameters besides <paramref name="ps"/>, or null to take the skip.
    /// </summary>
    public static async Task<(string PageIds, List<NpgsqlParameter> Parameters)?> LocateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string computers,
        string sort, string filter, string grouped, Func<string, string> shaped, List<NpgsqlParameter> ps, long offset, int limit, bool descending, CancellationToken ct)
    {
        var by = Runs[sort];
        var direction = descending ? "desc" : "asc";
        var runs = new List<(string? Value, long Computers)>();
        await using (var cmd = new NpgsqlCommand($"""
            select nullif({by.CountsColumn}, ''), sum(computers)::bigint from {ReadModels.Schema}.{ComputerCounts.Table} where {grouped}
            group by 1 having sum(computers) > 0 order by 1 {direction} nulls last;
            select exists (select 1 from {ReadModels.Schema}.{PatchProjections.ComputerRowTable} where {by.RowColumn} = '')
            """, conn, tx))
        {
            foreach (var p in ps) cmd.Parameters.Add(p.Clone());
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) runs.Add((reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(1)));
            await reader.NextResultAsync(ct);
            await reader.ReadAsync(ct);
            if (reader.GetBoolean(0)) return null;
        }
        long before = 0;
        foreach (var (value, count) in runs)
        {
            if (offset >= before + count) { before += count; continue; }
            // The page and the row after it in this run, or the skip.
            if (offset - before + limit > count) return null;
            var run = new NpgsqlParameter("run_value", value ?? "");
            var weights = Weights.OneWhere(shape => $"{shaped(shape)} and {NameBuckets.ComputerGroup(shape, by.ShapePart)} = @run_value");
            var start = await NamePages.LocateAsync(conn, tx, NameBuckets.Computers, weights, [.. ps, run], offset - before, limit, descending, "c", ct);
            if (start is null) return null;
            var inRun = value is null ? $"c.{by.RowColumn} is null" : $"c.{by.RowColumn} = @run_value";
            return ($"""
                select c.id page_id from {computers} where {filter} and {inRun} and {start.Condition}
                order by c.name_lower {direction}, c.id {direction} limit {limit} offset {start.Skip}
                """, [run, .. start.Parameters]);
        }
        // Past the last row: an empty page, without a walk past every row the filter refuses.
        return ("select null::text page_id where false", []);
    }
}
