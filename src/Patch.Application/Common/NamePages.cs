using Npgsql;
using Patch.Projections;

namespace Patch.Application.Common;

/// <summary>
/// Where a numbered page in name order starts (ADR 0038): the rows before each name bucket are summed from the buckets'
/// counts per shape, weighted by the rows each member of a shape has in the report, so the page's SQL walks from the
/// bucket its first row is in (and stops by the bucket its last row is in) instead of skipping every name before it.
/// Asked inside the page's own snapshot (a repeatable-read transaction), so the counts are those of the rows.
/// </summary>
public static class NamePages
{
    /// <summary>A page's range of names (a SQL condition on the alias's name column, its parameters) and the rows to skip in it.</summary>
    public sealed record Start(string Condition, long Skip, List<NpgsqlParameter> Parameters);

    /// <summary>Where the buckets' counts at an instant come from: the checkpoint after it (ADR 0040), or today's (null).</summary>
    public sealed record Since(DateTimeOffset? Checkpoint);

    /// <summary>
    /// Where the buckets' counts at <paramref name="ps"/>' <c>@asOf</c> can be worked out from — the nearest checkpoint
    /// after it (ADR 0040), else today's counts — when fewer versions changed in between than <paramref name="cap"/>, or
    /// without one, than a quarter of the table's rows; null when more did (the page walks). One statement. The rest of
    /// the transaction plans each statement for its instant: a prepared statement's generic plan cannot know that
    /// "versions begun since the instant" are few, and scanned a million computers' history for them (0.7 → 320 ms in
    /// <c>psql</c>).
    /// </summary>
    public static async Task<Since?> SinceAsync(NpgsqlConnection conn, NpgsqlTransaction tx, NameBuckets buckets, IEnumerable<NpgsqlParameter> ps, long? cap,
        CancellationToken ct)
    {
        await using (var custom = new NpgsqlCommand("set local plan_cache_mode = force_custom_plan", conn, tx)) await custom.ExecuteNonQueryAsync(ct);
        await using var cmd = new NpgsqlCommand(buckets.CheckpointAndFewChanged("@asOf", cap is null ? buckets.QuarterOfRows : "@cap"), conn, tx);
        foreach (var p in ps.Where(p => p.ParameterName == "asOf")) cmd.Parameters.Add(p.Clone());
        if (cap is { } c) cmd.Parameters.AddWithValue("cap", Math.Max(1, c));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return reader.GetBoolean(1) ? new Since(reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0)) : null;
    }

    /// <summary>
    /// The start of rows <paramref name="offset"/> to <paramref name="offset"/> + <paramref name="limit"/> − 1 of the
    /// table of <paramref name="buckets"/> in name order (<paramref name="descending"/> or not), each row weighing the
    /// <c>n</c> its shape has in <paramref name="weights"/> (rows of shapes it does not list weigh nothing; a table
    /// without shapes has one, ''). <paramref name="asOf"/>: the rows as they stood at
    /// the instant in <paramref name="ps"/>' <c>@asOf</c> (the buckets' counts then, <see cref="NameBuckets.Weighed"/>) —
    /// or null, to walk from the first row, when the versions changed since then number more than the rows the page
    /// skips times <see cref="NameBuckets.ChangesPerRowWalked"/> (counting them would cost more than the walk).
    /// </summary>
    public static async Task<Start?> LocateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, NameBuckets buckets, Weights weights, IEnumerable<NpgsqlParameter> ps,
        long offset, int limit, bool descending, string alias, CancellationToken ct, bool asOf = false)
    {
        var s = ReadModels.Schema;
        // The buckets only when their corrections cost less than the walk (the table's ratio of the two).
        // From the checkpoint after the instant when there is one (ADR 0040), else from today's counts.
        DateTimeOffset? checkpoint = null;
        if (asOf)
        {
            if (await SinceAsync(conn, tx, buckets, ps, (long)(offset * buckets.ChangesPerRowWalked), ct) is not { } since) return null;
            checkpoint = since.Checkpoint;
        }
        // The page then reads a bucket's rows, a few thousand: parallel workers planned for the history's scans cost more
        // than they share on a small server (a drill-down's page asOf at a million computers 35 → 20–29 ms in psql; the
        // walk from the first row keeps them: 480 vs 580 ms).
        if (asOf)
            await using (var serial = new NpgsqlCommand("set local max_parallel_workers_per_gather = 0", conn, tx)) await serial.ExecuteNonQueryAsync(ct);
        var direction = descending ? "desc" : "asc";
        // The buckets' bounds then: the checkpoint's (cut before buckets were split since), else today's.
        var bounds = checkpoint is null ? $"{s}.{buckets.Bounds}" : $"(select lo_name from {s}.{buckets.Checkpoints} where at = @checkpoint)";
        await using var cmd = new NpgsqlCommand($"""
            with b as (select k.lo_name, sum(k.r)::bigint r from {buckets.Weighed(weights, asOf ? "@asOf" : null, checkpoint is null ? null : "@checkpoint")} k group by k.lo_name),
                 c as (select lo_name, r, sum(r) over (order by lo_name {direction} rows unbounded preceding) - r as before from b),
                 at as (select c.*, (select min(x.lo_name) from {bounds} x where x.lo_name > c.lo_name) hi from c)
            select (select array[lo_name, hi, before::text] from at where before <= @first and @first < before + r),
                   (select array[lo_name, hi] from at where before <= @last and @last < before + r)
            """, conn, tx);
        foreach (var p in ps) cmd.Parameters.Add(p.Clone());
        if (checkpoint is { } at) cmd.Parameters.AddWithValue("checkpoint", at);
        cmd.Parameters.AddWithValue("first", offset);
        cmd.Parameters.AddWithValue("last", offset + limit - 1);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var first = reader.IsDBNull(0) ? null : reader.GetFieldValue<string?[]>(0);
        var last = reader.IsDBNull(1) ? null : reader.GetFieldValue<string?[]>(1);
        // Past the last row: an empty page.
        if (first is null) return new Start("false", 0, []);
        var parameters = new List<NpgsqlParameter>();
        var conditions = new List<string>();
        void Bound(string op, string? name)
        {
            if (name is null) return;
            var parameter = $"bucket_{parameters.Count}";
            conditions.Add($"{alias}.{buckets.Name} {op} @{parameter}");
            parameters.Add(new NpgsqlParameter(parameter, name));
        }
        // Ascending, the walk starts at the first row's bucket and ends with the last row's; descending, the other way round.
        if (descending) { Bound("<", first[1]); Bound(">=", last?[0]); }
        else { Bound(">=", first[0]); Bound("<", last?[1]); }
        return new Start(conditions.Count == 0 ? "true" : string.Join(" and ", conditions), offset - long.Parse(first[2]!, System.Globalization.CultureInfo.InvariantCulture), parameters);
    }
}
