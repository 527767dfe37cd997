using Npgsql;
using Patch.Application.Common;
using Patch.Projections;
using Patch.Projections.Computers;

namespace Patch.Application.Computers;

/// <summary>
/// A numbered page of the computers list sorted by agent version, placed without skipping the rows before it (ADR 0037,
/// amended). The list's order is the versions in order (computers without one last), each version's computers by id; a
/// computer's id is the lower case of its name behind a fixed prefix (<c>computer:</c>), so within a version that is name
/// order. The kept counts give each version's run, and a page inside one run is placed by the name buckets' counts of
/// that version's groups (ADR 0038) — at a million computers of one version, a deep page no longer skips half a million
/// index entries. A page across two runs, or a store with an empty agent version (the counts' "none"), takes the skip.
/// </summary>
public static class AgentVersionPages
{
    /// <summary>
    /// The ids of the page at <paramref name="offset"/> (and the row after it, <paramref name="limit"/> in all) of the computer
    /// rows in <paramref name="computers"/> (alias <c>c</c>) meeting <paramref name="filter"/> — the same filter as
    /// <paramref name="grouped"/>, a condition on the kept counts' columns (<c>os</c>, <c>agent_version</c>), and as
    /// <paramref name="shaped"/>, a condition on a name bucket's shape — in the list's order: a relation of one column
    /// (page_id) with its parameters besides <paramref name="ps"/>, or null to take the skip.
    /// </summary>
    public static async Task<(string PageIds, List<NpgsqlParameter> Parameters)?> LocateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string computers,
        string filter, string grouped, Func<string, string> shaped, List<NpgsqlParameter> ps, long offset, int limit, bool descending, CancellationToken ct)
    {
        var direction = descending ? "desc" : "asc";
        var runs = new List<(string? Version, long Computers)>();
        await using (var cmd = new NpgsqlCommand($"""
            select nullif(agent_version, ''), sum(computers)::bigint from {ReadModels.Schema}.{ComputerCounts.Table} where {grouped}
            group by 1 having sum(computers) > 0 order by 1 {direction} nulls last;
            select exists (select 1 from {ReadModels.Schema}.{PatchProjections.ComputerRowTable} where agent_version = '')
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
        foreach (var (version, count) in runs)
        {
            if (offset >= before + count) { before += count; continue; }
            // The page and the row after it in this run, or the skip.
            if (offset - before + limit > count) return null;
            var run = new NpgsqlParameter("run_version", version ?? "");
            var weights = Weights.OneWhere(shape => $"{shaped(shape)} and {NameBuckets.ComputerGroup(shape, 2)} = @run_version");
            var start = await NamePages.LocateAsync(conn, tx, NameBuckets.Computers, weights, [.. ps, run], offset - before, limit, descending, "c", ct);
            if (start is null) return null;
            var inRun = version is null ? "c.agent_version is null" : "c.agent_version = @run_version";
            return ($"""
                select c.id page_id from {computers} where {filter} and {inRun} and {start.Condition}
                order by c.name_lower {direction}, c.id {direction} limit {limit} offset {start.Skip}
                """, [run, .. start.Parameters]);
        }
        return null;
    }
}
