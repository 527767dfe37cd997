using Npgsql;
using NpgsqlTypes;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Inventory.Products;

namespace Patch.Projections.Compliance;

/// <summary>One applicable update on one computer, as the rule engine decided it.</summary>
public sealed record ComplianceRow(string Key, string BulletinId, string UpdateId, string Product, string Family, short State, Severity Severity);

/// <summary>
/// One computer's analysis: its rows and findings, true from <c>At</c> (its latest fact or the catalog's), decided from
/// the inventory of <c>Shape</c> (the digest of its JSON; empty without one) with the catalog of <c>CatalogAt</c>.
/// </summary>
public sealed record ComputerAnalysis(string Id, string Name, DateTimeOffset At, List<ComplianceRow> Rows, List<VulnerabilityFinding> Findings)
{
    public string Shape { get; init; } = "";
    public DateTimeOffset CatalogAt { get; init; } = DateTimeOffset.MinValue;
}

/// <summary>
/// The one write path of the compliance read model (ADR 0035): the live analysis of some computers, the analysis of every
/// shape after a catalog change and the rebuild from the event log all write through here, as differences (ADR 0019),
/// the counters of bulletins and updates recounted from the shapes in the same transaction as the rows they count.
/// </summary>
public static class ComplianceWriter
{
    private const string S = ReadModels.Schema;

    /// <summary>
    /// These computers' memberships after their inventories changed (each joins the shape of its inventory), and the
    /// rows of the shapes that are new or were decided with an older catalog than this analysis's. The counters of
    /// updates and bulletins move by the difference: each rewritten shape's members × (new rows − old rows), and each
    /// computer that moved, its new shape's rows − its old shape's.
    /// </summary>
    public static async Task WriteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<ComputerAnalysis> batch, DateTimeOffset stamp, CancellationToken ct)
    {
        if (batch.Count == 0) return;
        var byShape = batch.GroupBy(a => a.Shape, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var computers = batch.Select(a => a.Id).ToArray();
        var old = new Dictionary<string, string>(StringComparer.Ordinal);
        var known = new Dictionary<string, (DateTimeOffset At, int Members)>(StringComparer.Ordinal);
        var held = new Dictionary<string, List<ComplianceRow>>(StringComparer.Ordinal);
        await using (var read = new NpgsqlCommand($"""
            select computer_id, shape from {S}.{ReadModels.ComplianceMember} where computer_id = any(@computers);
            select shape, analysed_at, members from {S}.{ReadModels.ComplianceShape}
            where shape = any(@shapes) or shape in (select shape from {S}.{ReadModels.ComplianceMember} where computer_id = any(@computers));
            select shape, update_key, bulletin_id, update_id, product, family, state from {S}.{ReadModels.ComplianceShapeState}
            where shape = any(@shapes) or shape in (select shape from {S}.{ReadModels.ComplianceMember} where computer_id = any(@computers));
            """, conn, tx))
        {
            read.Parameters.AddWithValue("computers", computers);
            read.Parameters.AddWithValue("shapes", byShape.Keys.ToArray());
            await using var reader = await read.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) old[reader.GetString(0)] = reader.GetString(1);
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct)) known[reader.GetString(0)] = (reader.GetFieldValue<DateTimeOffset>(1), reader.GetInt32(2));
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var shape = reader.GetString(0);
                if (!held.TryGetValue(shape, out var rows)) held[shape] = rows = [];
                rows.Add(new ComplianceRow(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.GetInt16(6), default));
            }
        }
        // A shape known from this catalog has these rows already; one known from a later catalog keeps its own.
        var shapes = byShape.Values.Where(a => !known.TryGetValue(a.Shape, out var k) || k.At < a.CatalogAt).ToList();
        var counters = new CounterMoves();
        foreach (var a in shapes)
        {
            var members = known.TryGetValue(a.Shape, out var k) ? k.Members : 0;
            counters.Add(held.GetValueOrDefault(a.Shape) ?? [], -members);
            counters.Add(a.Rows, members);
            held[a.Shape] = a.Rows;
        }
        var moved = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var a in batch)
        {
            if (old.TryGetValue(a.Id, out var was) && was == a.Shape) continue;
            if (was is not null)
            {
                moved[was] = moved.GetValueOrDefault(was) - 1;
                counters.Add(held.GetValueOrDefault(was) ?? [], -1);
            }
            moved[a.Shape] = moved.GetValueOrDefault(a.Shape) + 1;
            counters.Add(held.GetValueOrDefault(a.Shape) ?? [], 1);
        }
        await using var cmd = new NpgsqlCommand(ShapesSql("@") + $"""
            {ComplianceMerge.Replace(ReadModels.ComplianceMember, ["computer_id"], ["name", "shape", "analysed_at"],
                "(select * from unnest(@computers, @names, @member_shapes, @at) as t(computer_id, name, shape, analysed_at))", "t.computer_id = any(@computers)")}
            update {S}.{ReadModels.ComplianceShape} c set members = c.members + d.n from unnest(@moved, @moves) as d(shape, n) where c.shape = d.shape;
            """ + CounterMoves.Sql + PruneSql, conn, tx);
        History.ReadModelHistory.Stamp(cmd, stamp);
        AddShapes(cmd, shapes);
        cmd.Parameters.AddWithValue("computers", computers);
        cmd.Parameters.AddWithValue("names", batch.Select(a => a.Name).ToArray());
        cmd.Parameters.AddWithValue("member_shapes", batch.Select(a => a.Shape).ToArray());
        cmd.Parameters.AddWithValue("at", batch.Select(a => a.At).ToArray());
        cmd.Parameters.AddWithValue("moved", moved.Keys.ToArray());
        cmd.Parameters.AddWithValue("moves", moved.Values.ToArray());
        cmd.Parameters.AddWithValue("touched", old.Values.Concat(byShape.Keys).Distinct(StringComparer.Ordinal).ToArray());
        counters.AddTo(cmd);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// After a catalog change: every shape's analysis (one per shape with members), written where it differs from the
    /// rows held; the computers <paramref name="gone"/> (no inventory any more) leave; shapes without members are
    /// dropped; members and counters recounted. Returns the shapes that changed.
    /// </summary>
    public static async Task<HashSet<string>> WriteShapesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<ComputerAnalysis> all, DateTimeOffset? stamp,
        IReadOnlyCollection<string> gone, CancellationToken ct)
    {
        var held = new Dictionary<string, HashSet<(string Key, string Bulletin, string Product, string Family, short State)>>(StringComparer.Ordinal);
        var counts = new Dictionary<string, ComplianceCounts>(StringComparer.Ordinal);
        var findings = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var read = new NpgsqlCommand($"""
            select shape, applicable, installed, missing, superseded, missing_critical, missing_important from {S}.{ReadModels.ComplianceShape};
            select shape, update_key, bulletin_id, product, family, state from {S}.{ReadModels.ComplianceShapeState};
            select shape, vulnerability_id || '|' || coalesce(installed_version, '') || '|' || state || '|' || reason from {S}.{ReadModels.ComplianceShapeVulnerability};
            """, conn, tx))
        await using (var reader = await read.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                held[reader.GetString(0)] = [];
                counts[reader.GetString(0)] = new(reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetInt32(5), reader.GetInt32(6));
            }
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var shape = reader.GetString(0);
                if (!held.TryGetValue(shape, out var rows)) held[shape] = rows = [];
                rows.Add((reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt16(5)));
                keys[reader.GetString(1)] = reader.GetString(2);
            }
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var shape = reader.GetString(0);
                if (!findings.TryGetValue(shape, out var f)) findings[shape] = f = [];
                f.Add(reader.GetString(1));
            }
        }
        // A shape changed when its rows did (bulletin, product, family, state) or their counters (a bulletin's severity).
        var changed = all.Where(a => !held.TryGetValue(a.Shape, out var rows) || !rows.SetEquals(a.Rows.Select(r => (r.Key, r.BulletinId, r.Product, r.Family, r.State)))
            || !counts.TryGetValue(a.Shape, out var before) || before != ComplianceCounts.Of(a.Rows.Select(r => (r.State, r.Severity)))
            || !(findings.GetValueOrDefault(a.Shape) ?? []).SetEquals(a.Findings.Select(f => $"{f.VulnerabilityId}|{f.Product.Version}|{(short)f.State}|{f.Reason}"))).ToList();
        foreach (var r in changed.SelectMany(a => a.Rows)) keys[r.Key] = r.BulletinId;
        await using var cmd = new NpgsqlCommand(ShapesSql("@") + $"""
            delete from {S}.{ReadModels.ComplianceMember} where computer_id = any(@gone);
            -- Each shape's members as the name buckets count them (kept by the members' triggers, ADR 0038): ≈ 100,000
            -- bucket rows read at a million computers instead of every membership.
            update {S}.{ReadModels.ComplianceShape} c set members = n.k
              from (select x.shape, coalesce(sum(k.members), 0)::int k from {S}.{ReadModels.ComplianceShape} x
                    left join {S}.{NameBuckets.Members.Buckets} k on k.shape = x.shape group by x.shape) n
              where c.shape = n.shape and c.members <> n.k;
            """ + RecountSql + PruneSql, conn, tx) { CommandTimeout = 0 };
        if (stamp is { } at) History.ReadModelHistory.Stamp(cmd, at);
        AddShapes(cmd, changed);
        cmd.Parameters.AddWithValue("gone", gone.ToArray());
        // Every shape is recounted and pruned: one no member holds any more goes with its rows.
        AddRecount(cmd, held.Keys.Concat(all.Select(a => a.Shape)), keys);
        await cmd.ExecuteNonQueryAsync(ct);
        return changed.Select(a => a.Shape).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The rows, counters per family, findings and counters of the shapes in the parameters (<see cref="AddShapes"/>), replaced as differences.</summary>
    private static string ShapesSql(string p) => $"""
        {ComplianceMerge.Replace(ReadModels.ComplianceShapeState, ["shape", "update_key"], ["bulletin_id", "update_id", "product", "family", "state"],
            $"(select * from unnest({p}s_shapes, {p}s_keys, {p}s_bulletins, {p}s_updates, {p}s_products, {p}s_families, {p}s_states) as t(shape, update_key, bulletin_id, update_id, product, family, state))",
            $"t.shape = any({p}shapes_written)")}
        {ComplianceMerge.Replace(ReadModels.ComplianceShapeFamily, ["shape", "family"], [.. CountColumns, "analysed_at"],
            $"(select * from unnest({p}f_shapes, {p}f_families, {p}f_a, {p}f_i, {p}f_m, {p}f_x, {p}f_cr, {p}f_im, {p}f_at) as t(shape, family, {string.Join(", ", CountColumns)}, analysed_at))",
            $"t.shape = any({p}shapes_written)")}
        {ComplianceMerge.Replace(ReadModels.ComplianceShapeVulnerability, ["shape", "vulnerability_id"], ProductFindings.Values,
            $"""
            (select * from unnest({p}v_shapes, {p}v_ids, {p}v_cves, {p}v_products, {p}v_families, {p}v_versions, {p}v_fixed, {p}v_severities, {p}v_states, {p}v_reasons)
             as t(shape, vulnerability_id, cve, product, family, installed_version, fixed_build, severity, state, reason))
            """, $"t.shape = any({p}shapes_written)")}
        insert into {S}.{ReadModels.ComplianceShape} (shape, members, {string.Join(", ", CountColumns)}, analysed_at)
          select t.shape, 0, t.a, t.i, t.m, t.x, t.cr, t.im, t.at from unnest({p}shapes_written, {p}a, {p}i, {p}m, {p}x, {p}cr, {p}im, {p}at_shapes) as t(shape, a, i, m, x, cr, im, at)
        on conflict (shape) do update set {string.Join(", ", CountColumns.Append("analysed_at").Select(c => $"{c} = excluded.{c}"))};
        """;

    private static readonly string[] CountColumns = ["applicable", "installed", "missing", "superseded", "missing_critical", "missing_important"];

    private static void AddShapes(NpgsqlCommand cmd, IReadOnlyList<ComputerAnalysis> shapes)
    {
        var rows = shapes.SelectMany(a => a.Rows.Select(r => (a.Shape, Row: r))).ToList();
        cmd.Parameters.AddWithValue("shapes_written", shapes.Select(a => a.Shape).ToArray());
        cmd.Parameters.AddWithValue("s_shapes", rows.Select(r => r.Shape).ToArray());
        cmd.Parameters.AddWithValue("s_keys", rows.Select(r => r.Row.Key).ToArray());
        cmd.Parameters.AddWithValue("s_bulletins", rows.Select(r => r.Row.BulletinId).ToArray());
        cmd.Parameters.AddWithValue("s_updates", rows.Select(r => r.Row.UpdateId).ToArray());
        cmd.Parameters.AddWithValue("s_products", rows.Select(r => r.Row.Product).ToArray());
        cmd.Parameters.AddWithValue("s_families", rows.Select(r => r.Row.Family).ToArray());
        cmd.Parameters.AddWithValue("s_states", rows.Select(r => r.Row.State).ToArray());
        AddCounts(cmd, "", shapes.Select(a => ComplianceCounts.Of(a.Rows.Select(r => (r.State, r.Severity)))).ToList());
        cmd.Parameters.AddWithValue("at_shapes", shapes.Select(a => a.CatalogAt).ToArray());
        var families = shapes.SelectMany(a => ComputerFamilyCounts.Of(a.Rows.Select(r => (r.Family, r.State, r.Severity))).Select(f => (a, f.Family, f.Counts))).ToList();
        cmd.Parameters.AddWithValue("f_shapes", families.Select(f => f.a.Shape).ToArray());
        cmd.Parameters.AddWithValue("f_families", families.Select(f => f.Family).ToArray());
        cmd.Parameters.AddWithValue("f_at", families.Select(f => f.a.CatalogAt).ToArray());
        AddCounts(cmd, "f_", families.Select(f => f.Counts).ToList());
        var findings = shapes.SelectMany(a => a.Findings.Select(f => (a.Shape, Finding: f))).ToList();
        cmd.Parameters.AddWithValue("v_shapes", findings.Select(f => f.Shape).ToArray());
        cmd.Parameters.AddWithValue("v_ids", findings.Select(f => f.Finding.VulnerabilityId).ToArray());
        cmd.Parameters.AddWithValue("v_cves", findings.Select(f => f.Finding.Facts.Cve).ToArray());
        cmd.Parameters.AddWithValue("v_products", findings.Select(f => f.Finding.Facts.Product).ToArray());
        cmd.Parameters.AddWithValue("v_families", findings.Select(f => ProductFamilies.Of(f.Finding.Facts.Product).Id).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("v_versions", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = findings.Select(f => (object?)f.Finding.Product.Version ?? DBNull.Value).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("v_fixed", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = findings.Select(f => (object?)f.Finding.Facts.FixedBuild ?? DBNull.Value).ToArray() });
        cmd.Parameters.AddWithValue("v_severities", findings.Select(f => (short)f.Finding.Facts.Severity).ToArray());
        cmd.Parameters.AddWithValue("v_states", findings.Select(f => (short)f.Finding.State).ToArray());
        cmd.Parameters.AddWithValue("v_reasons", findings.Select(f => f.Finding.Reason).ToArray());
    }

    private static void AddCounts(NpgsqlCommand cmd, string prefix, List<ComplianceCounts> counts)
    {
        cmd.Parameters.AddWithValue(prefix + "a", counts.Select(c => c.Applicable).ToArray());
        cmd.Parameters.AddWithValue(prefix + "i", counts.Select(c => c.Installed).ToArray());
        cmd.Parameters.AddWithValue(prefix + "m", counts.Select(c => c.Missing).ToArray());
        cmd.Parameters.AddWithValue(prefix + "x", counts.Select(c => c.Superseded).ToArray());
        cmd.Parameters.AddWithValue(prefix + "cr", counts.Select(c => c.Critical).ToArray());
        cmd.Parameters.AddWithValue(prefix + "im", counts.Select(c => c.Important).ToArray());
    }

    /// <summary>
    /// The counters of the updates and bulletins whose rows the written shapes held or hold (<c>@keys</c>, <c>@bulletins</c>),
    /// recounted as Σ shape rows × members.
    /// </summary>
    private static readonly string RecountSql = $"""
        {ComplianceMerge.Replace(ReadModels.ComplianceUpdate, ["update_key"], ["bulletin_id", "update_id", "product", "family", "applicable", "installed", "missing", "superseded"], $"""
            (select s.update_key, min(s.bulletin_id) bulletin_id, min(s.update_id) update_id, min(s.product) product, min(s.family) family, {Sums}
             from {S}.{ReadModels.ComplianceShapeState} s join {S}.{ReadModels.ComplianceShape} c on c.shape = s.shape
             where s.update_key = any(@keys) and c.members > 0 group by s.update_key)
            """, "t.update_key = any(@keys)")}
        {ComplianceMerge.Replace(ReadModels.ComplianceBulletin, ["bulletin_id"], ["applicable", "installed", "missing", "superseded"], $"""
            (select s.bulletin_id, {Sums}
             from {S}.{ReadModels.ComplianceShapeState} s join {S}.{ReadModels.ComplianceShape} c on c.shape = s.shape
             where s.bulletin_id = any(@bulletins) and c.members > 0 group by s.bulletin_id)
            """, "t.bulletin_id = any(@bulletins)")}
        """;

    /// <summary>The shapes (<c>@touched</c>) no computer is a member of any more go, with their rows.</summary>
    private static readonly string PruneSql = $"""
        delete from {S}.{ReadModels.ComplianceShapeState} s using {S}.{ReadModels.ComplianceShape} c where c.shape = s.shape and c.shape = any(@touched) and c.members = 0;
        delete from {S}.{ReadModels.ComplianceShapeFamily} s using {S}.{ReadModels.ComplianceShape} c where c.shape = s.shape and c.shape = any(@touched) and c.members = 0;
        delete from {S}.{ReadModels.ComplianceShapeVulnerability} s using {S}.{ReadModels.ComplianceShape} c where c.shape = s.shape and c.shape = any(@touched) and c.members = 0;
        delete from {S}.{ReadModels.ComplianceShape} c where c.shape = any(@touched) and c.members = 0;
        """;

    private const string Sums = """
        sum(c.members)::int applicable, coalesce(sum(c.members) filter (where s.state = 1), 0)::int installed,
        coalesce(sum(c.members) filter (where s.state = 2), 0)::int missing, coalesce(sum(c.members) filter (where s.state = 3), 0)::int superseded
        """;

    private static void AddRecount(NpgsqlCommand cmd, IEnumerable<string> touched, Dictionary<string, string> keys)
    {
        cmd.Parameters.AddWithValue("touched", touched.Distinct(StringComparer.Ordinal).ToArray());
        cmd.Parameters.AddWithValue("keys", keys.Keys.ToArray());
        cmd.Parameters.AddWithValue("bulletins", keys.Values.Distinct(StringComparer.Ordinal).ToArray());
    }
}
