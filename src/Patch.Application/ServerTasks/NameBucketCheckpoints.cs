using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.Common;
using Patch.Projections;

namespace Patch.Application.ServerTasks;

/// <summary>
/// Takes the name buckets' checkpoints (ADR 0040): for the compliance members and the computers list, a checkpoint a few
/// minutes in the past (<c>Patch:Reports:CheckpointMarginMinutes</c>, default 5: writers still finishing stamp their
/// versions within it) when enough versions changed since the last one and the last is <see cref="RegularEvery"/> old,
/// so a report asked about an older instant counts only the changes between that instant and the next checkpoint. Where
/// changes come thick (a Patch Tuesday storm: 168,000 computers in ten minutes), one more checkpoint every
/// <see cref="ChangesApart"/> versions begun, at the instants they began, so an instant inside the storm is never more
/// than that many changes from one. The task runs every five minutes, so a storm is covered minutes after it passed.
/// Checkpoints older than two days are thinned as far as that spacing allows, and after <c>Patch:Reports:CheckpointDays</c>
/// (35) to the last of each day.
/// </summary>
public sealed class NameBucketCheckpoints(NpgsqlDataSource db, IConfiguration config)
{
    public const string TaskName = "report-checkpoints";

    /// <summary>Versions changed since the last checkpoint before another is worth its rows.</summary>
    public const int ChangesBetween = 1000;

    /// <summary>Versions begun between two checkpoints taken where changes come thick (a page counts both ends of each: ≈ 40,000 rows' walk).</summary>
    public const int ChangesApart = 20_000;

    /// <summary>At most this many of those a run (a day of storms every hour), each ≈ 1 s of the buckets' lock at a million.</summary>
    public const int MostApartPerRun = 24;

    /// <summary>
    /// The checkpoint a few minutes back is taken at most this often (the task runs every five minutes, for the checkpoints
    /// apart): a fleet changing all the time would otherwise keep one every run, each ≈ 4.5 MB at a million members.
    /// </summary>
    public static readonly TimeSpan RegularEvery = TimeSpan.FromHours(1);

    /// <summary>
    /// Versions begun in the last minute at which a run takes no checkpoint (a Patch Tuesday storm: 280 inventories a
    /// second at a million): each holds the buckets' lock ≈ 1 s, which every inventory's analysis then waits for. The next
    /// quiet run takes them.
    /// </summary>
    public const int BusyPerMinute = 5_000;

    /// <summary>All checkpoints are kept this long; then they are thinned by the versions between them (<see cref="Plan.Dense"/>).</summary>
    public static readonly TimeSpan KeepAll = TimeSpan.FromDays(2);

    /// <summary>
    /// What one run does: take a checkpoint every <paramref name="Apart"/> versions begun since the latest (at most
    /// <paramref name="Most"/>), then one <paramref name="Margin"/> back when <paramref name="Between"/> versions changed
    /// since the latest, the latest is at least <paramref name="Every"/> before it and the ones apart did not run out;
    /// then thin: all kept for <paramref name="KeepAll"/>, then only as many as keep them at most <paramref name="Apart"/>
    /// versions apart until <paramref name="Dense"/> (<c>Patch:Reports:CheckpointDays</c>, default 35: last month's end
    /// and its Patch Tuesday), older the last of each day. None is taken while <paramref name="Busy"/> versions began in the
    /// last minute.
    /// </summary>
    public sealed record Plan(TimeSpan Margin, int Between, int Apart, int Most, TimeSpan Every, TimeSpan KeepAll, TimeSpan Dense, int Busy = BusyPerMinute);

    public Task<TaskOutcome> WorkAsync(CancellationToken ct)
    {
        var margin = TimeSpan.FromMinutes(config.GetValue("Patch:Reports:CheckpointMarginMinutes", 5.0));
        if (margin < TimeSpan.Zero) throw new InvalidOperationException("Patch:Reports:CheckpointMarginMinutes: 0 or more minutes");
        var dense = TimeSpan.FromDays(config.GetValue("Patch:Reports:CheckpointDays", 35.0));
        if (dense < KeepAll) throw new InvalidOperationException($"Patch:Reports:CheckpointDays: at least {KeepAll.TotalDays} days");
        return RunAsync(new Plan(margin, ChangesBetween, ChangesApart, MostApartPerRun, RegularEvery, KeepAll, dense), ct);
    }

    /// <summary>One run (<see cref="Plan"/>), per table.</summary>
    public async Task<TaskOutcome> RunAsync(Plan plan, CancellationToken ct)
    {
        var counts = new Dictionary<string, int>();
        foreach (var buckets in new[] { NameBuckets.Members, NameBuckets.Computers })
        {
            var busy = await BusyAsync(buckets, plan.Busy, ct);
            counts[$"{buckets.Prefix}Busy"] = busy ? 1 : 0;
            var taken = busy ? 0 : await ApartAsync(buckets, plan.Margin, plan.Apart, plan.Most, ct);
            counts[$"{buckets.Prefix}Apart"] = taken;
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            // Not when the checkpoints apart ran out before the margin: the next run goes on from the last of them.
            await using var cmd = new NpgsqlCommand($"""
                with c as (select now() - @margin as instant, (select max(at) from {ReadModels.Schema}.{buckets.Checkpoints}) as latest)
                select case when {(taken < plan.Most && !busy ? "true" : "false")} and (c.latest is null or c.instant > c.latest and c.instant >= c.latest + @every and (select count(*) from (select 1 from {ReadModels.Schema}.{buckets.Table}_history v
                                 where v.valid_to > c.latest and v.valid_to < 'infinity' or v.valid_from > c.latest limit @between) x) >= @between)
                            then {ReadModels.Schema}.{buckets.Checkpoints}_take(c.instant) else false end
                from c
                """, conn, tx);
            cmd.Parameters.AddWithValue("margin", plan.Margin);
            cmd.Parameters.AddWithValue("between", plan.Between);
            cmd.Parameters.AddWithValue("every", plan.Every);
            cmd.CommandTimeout = 0;
            counts[$"{buckets.Prefix}Taken"] = (bool)(await cmd.ExecuteScalarAsync(ct))! ? 1 : 0;
            await using var thin = new NpgsqlCommand(buckets.Thin("@keepAll", "@dense", "@apart"), conn, tx);
            thin.Parameters.AddWithValue("keepAll", plan.KeepAll);
            thin.Parameters.AddWithValue("dense", plan.Dense);
            thin.Parameters.AddWithValue("apart", plan.Apart);
            thin.CommandTimeout = 0;
            counts[$"{buckets.Prefix}Pruned"] = (int)(await thin.ExecuteScalarAsync(ct))!;
            await tx.CommitAsync(ct);
        }
        return new TaskOutcome(counts);
    }

    /// <summary>Whether at least <paramref name="busy"/> versions of the table began in the last minute.</summary>
    private async Task<bool> BusyAsync(NameBuckets buckets, int busy, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            select count(*) >= @busy from (select 1 from {ReadModels.Schema}.{buckets.Table}_history v where v.valid_from > now() - interval '1 minute' limit @busy) x
            """);
        cmd.Parameters.AddWithValue("busy", busy);
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Checkpoints every <paramref name="apart"/> versions begun after the latest one, up to <paramref name="margin"/> before
    /// now (at most <paramref name="most"/>): each at the instant its last version began, each in its own transaction (the
    /// buckets' lock held for one). None before the first checkpoint (the run takes that one as before). Returns how many
    /// were taken.
    /// </summary>
    public async Task<int> ApartAsync(NameBuckets buckets, TimeSpan margin, int apart, int most, CancellationToken ct)
    {
        var s = ReadModels.Schema;
        var taken = 0;
        while (taken < most)
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await using var cmd = new NpgsqlCommand($"""
                select {s}.{buckets.Checkpoints}_take(v.valid_from) from (select max(at) latest from {s}.{buckets.Checkpoints}) c
                cross join lateral (select v.valid_from from {s}.{buckets.Table}_history v where v.valid_from > c.latest and v.valid_from <= now() - @margin
                                    order by v.valid_from offset @apart - 1 limit 1) v
                """, conn, tx);
            cmd.Parameters.AddWithValue("margin", margin);
            cmd.Parameters.AddWithValue("apart", apart);
            cmd.CommandTimeout = 0;
            if (await cmd.ExecuteScalarAsync(ct) is not true) break;
            await tx.CommitAsync(ct);
            taken++;
        }
        return taken;
    }
}
