using Npgsql;
using Patch.Application.Common;
using Patch.Projections;
using Patch.Projections.History;

namespace Patch.Application.Compliance;

/// <summary>
/// A page of compliance by computer sorted by a counter (ADR 0035). A computer's counters are its inventory shape's,
/// so the computers sorted by a counter are the shapes grouped by its value, in order, each group's members in name
/// order: the groups (a few dozen values) are counted first, and only the members of the groups the page overlaps are
/// read — page 1 of "missing first" reads the few computers missing the most, not a sort of the fleet.
/// </summary>
public static class ComputersByCounters
{
    public static async Task<ReportPage<ComputerComplianceRow>> PageAsync(NpgsqlDataSource db, ReportQuery query, string sortColumn, string? family, DateTimeOffset? asOf,
        CancellationToken ct)
    {
        var shapes = ReadSql.At(ReadModels.ComplianceShape, asOf);
        // Per shape: its members and its counters (of the family's updates, with a family).
        var k = family is null
            ? $"select shape, members, applicable, installed, missing, superseded, missing_critical, missing_important, analysed_at from {shapes} x"
            : $"""
              select f.shape, c.members, f.applicable, f.installed, f.missing, f.superseded, f.missing_critical, f.missing_important, f.analysed_at
              from {ReadSql.At(ReadModels.ComplianceShapeFamily, asOf)} f join {shapes} c on c.shape = f.shape where f.family = @family
              """;
        // One shape's counters (of the family's updates, with a family), for the page's members.
        var counters = ReadModelHistory.One(family is null ? ReadModels.ComplianceShape : ReadModels.ComplianceShapeFamily, asOf is not null,
            family is null ? "x.shape = m.shape" : "x.shape = m.shape and x.family = @family");
        var value = sortColumn == "compliance" ? ComplianceQueries.Compliance : sortColumn;
        var direction = query.Descending ? "desc" : "asc";
        await using var conn = await db.OpenConnectionAsync(ct);
        // One snapshot for the groups, the buckets and the members (a repeatable-read transaction).
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var groups = new List<(long Members, string[] Shapes)>();
        await using (var cmd = new NpgsqlCommand($"""
            select sum(members)::bigint, array_agg(shape) from (select {value} as v, members, shape from ({k}) k where members > 0) g
            group by v order by v {direction} nulls last
            """, conn, tx))
        {
            Parameters(cmd, family, asOf);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) groups.Add((reader.GetInt64(0), reader.GetFieldValue<string[]>(1)));
        }
        var items = new List<ComputerComplianceRow>();
        long skip = query.Offset, before = 0;
        foreach (var (members, inGroup) in groups)
        {
            if (items.Count >= query.PageSize) break;
            if (before + members <= skip) { before += members; continue; }
            var (limit, offset, range) = (query.PageSize - items.Count, Math.Max(0, skip - before), "true");
            List<NpgsqlParameter> bounds = [];
            // Deep in a group, now or asOf: walked from the name bucket the page starts in (ADR 0038).
            if (offset > 0)
            {
                var start = await NamePages.LocateAsync(conn, tx, NameBuckets.Members, Weights.OneEach("shapes"),
                    [new NpgsqlParameter("shapes", inGroup), .. ReadSql.AsOfParameters(asOf)], offset, limit, false, "m", ct, asOf is not null);
                if (start is not null) (range, offset, bounds) = (start.Condition, start.Skip, start.Parameters);
            }
            // The page's members first, then each one's counters by key: a join to every shape's version at an instant
            // was planned from a guess of their number (a nested loop over 4,900 shapes per member at 1M, ≈ 1 s). In a
            // bucket's range the shape is kept from its statistics (the range decides the plan; estimating thousands of
            // shapes against them cost ≈ 8 ms of planning).
            await using var cmd = new NpgsqlCommand($"""
                select m.computer_id, m.name, k.applicable, k.installed, k.missing, k.superseded, k.missing_critical, k.missing_important,
                       {ComplianceQueries.Compliance}, greatest(m.analysed_at, k.analysed_at)
                from (select m.computer_id, m.name, m.shape, m.analysed_at from {ReadSql.At(ReadModels.ComplianceMember, asOf)} m
                      where {(range == "true" ? "m.shape" : "(m.shape || '')")} = any(@shapes) and {range} order by m.name, m.computer_id limit {limit} offset {offset}) m
                cross join lateral {counters} k
                order by m.name, m.computer_id
                """, conn, tx);
            Parameters(cmd, family, asOf);
            cmd.Parameters.AddWithValue("shapes", inGroup);
            cmd.Parameters.AddRange(bounds.ToArray());
            await using (var reader = await cmd.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct))
                    items.Add(new ComputerComplianceRow(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetInt32(5),
                        reader.GetInt32(6), reader.GetInt32(7), (double)reader.GetDecimal(8), reader.GetFieldValue<DateTimeOffset>(9)));
            before += members;
        }
        return new ReportPage<ComputerComplianceRow>(items, groups.Sum(g => g.Members), query.Page, query.PageSize);
    }

    private static void Parameters(NpgsqlCommand cmd, string? family, DateTimeOffset? asOf)
    {
        if (family is not null) cmd.Parameters.AddWithValue("family", family);
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
    }
}
