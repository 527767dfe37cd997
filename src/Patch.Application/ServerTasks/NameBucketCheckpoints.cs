using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.Common;
using Patch.Projections;

namespace Patch.Application.ServerTasks;

/// <summary>
/// Takes the name buckets' checkpoints (ADR 0040): for the compliance members and the computers list, a checkpoint a few
/// minutes in the past (<c>Patch:Reports:CheckpointMarginMinutes</c>, default 5: writers still finishing stamp their
/// versions within it) when enough versions changed since the last one, so a report asked about an older instant counts
/// only the changes between that instant and the next checkpoint. Checkpoints older than two days are thinned to the
/// last of each day.
/// </summary>
public sealed class NameBucketCheckpoints(NpgsqlDataSource db, IConfiguration config)
{
    public const string TaskName = "report-checkpoints";

    /// <summary>Versions changed since the last checkpoint before another is worth its rows.</summary>
    public const int ChangesBetween = 1000;

    public async Task<TaskOutcome> WorkAsync(CancellationToken ct)
    {
        var margin = TimeSpan.FromMinutes(config.GetValue("Patch:Reports:CheckpointMarginMinutes", 5.0));
        if (margin < TimeSpan.Zero) throw new InvalidOperationException("Patch:Reports:CheckpointMarginMinutes: 0 or more minutes");
        var counts = new Dictionary<string, int>();
        foreach (var buckets in new[] { NameBuckets.Members, NameBuckets.Computers })
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await using var cmd = new NpgsqlCommand($"""
                with c as (select now() - @margin as instant, (select max(at) from {ReadModels.Schema}.{buckets.Checkpoints}) as latest)
                select case when c.latest is null or c.instant > c.latest and (select count(*) from (select 1 from {ReadModels.Schema}.{buckets.Table}_history v
                                 where v.valid_to > c.latest and v.valid_to < 'infinity' or v.valid_from > c.latest limit {ChangesBetween}) x) >= {ChangesBetween}
                            then {ReadModels.Schema}.{buckets.Checkpoints}_take(c.instant) else false end
                from c
                """, conn, tx);
            cmd.Parameters.AddWithValue("margin", margin);
            cmd.CommandTimeout = 0;
            counts[$"{buckets.Prefix}Taken"] = (bool)(await cmd.ExecuteScalarAsync(ct))! ? 1 : 0;
            await using var prune = new NpgsqlCommand(buckets.Prune("interval '2 days'"), conn, tx);
            counts[$"{buckets.Prefix}Pruned"] = (int)(await prune.ExecuteScalarAsync(ct))!;
            await tx.CommitAsync(ct);
        }
        return new TaskOutcome(counts);
    }
}
