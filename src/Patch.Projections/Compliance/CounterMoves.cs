using Npgsql;

namespace Patch.Projections.Compliance;

/// <summary>
/// How the counters of updates and bulletins move with a live write (ADR 0035): rows counted in or out, each times a
/// number of computers. One statement list applies them; a counter that reaches no computer goes.
/// </summary>
public sealed class CounterMoves
{
    private const string S = ReadModels.Schema;

    private readonly Dictionary<string, (ComplianceRow Row, int[] Counts)> updates = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int[]> bulletins = new(StringComparer.Ordinal);

    /// <summary>Counts these rows <paramref name="times"/> times more (fewer when negative).</summary>
    public void Add(IEnumerable<ComplianceRow> rows, int times)
    {
        if (times == 0) return;
        foreach (var r in rows)
        {
            if (!updates.TryGetValue(r.Key, out var u)) updates[r.Key] = u = (r, new int[4]);
            if (!bulletins.TryGetValue(r.BulletinId, out var b)) bulletins[r.BulletinId] = b = new int[4];
            foreach (var counts in new[] { u.Counts, b })
            {
                counts[0] += times;
                counts[r.State] += times;
            }
        }
    }

    public static readonly string Sql = $"""
        update {S}.{ReadModels.ComplianceUpdate} t set applicable = t.applicable + d.a, installed = t.installed + d.i, missing = t.missing + d.m, superseded = t.superseded + d.x
          from unnest(@u_keys, @u_a, @u_i, @u_m, @u_x) as d(k, a, i, m, x) where t.update_key = d.k;
        insert into {S}.{ReadModels.ComplianceUpdate} (update_key, bulletin_id, update_id, product, family, applicable, installed, missing, superseded)
          select k, b, u, p, f, a, i, m, x from unnest(@u_keys, @u_bulletins, @u_updates, @u_products, @u_families, @u_a, @u_i, @u_m, @u_x) as d(k, b, u, p, f, a, i, m, x)
          where not exists (select 1 from {S}.{ReadModels.ComplianceUpdate} t where t.update_key = d.k);
        delete from {S}.{ReadModels.ComplianceUpdate} where update_key = any(@u_keys) and applicable = 0;
        update {S}.{ReadModels.ComplianceBulletin} t set applicable = t.applicable + d.a, installed = t.installed + d.i, missing = t.missing + d.m, superseded = t.superseded + d.x
          from unnest(@b_ids, @b_a, @b_i, @b_m, @b_x) as d(k, a, i, m, x) where t.bulletin_id = d.k;
        insert into {S}.{ReadModels.ComplianceBulletin} (bulletin_id, applicable, installed, missing, superseded)
          select k, a, i, m, x from unnest(@b_ids, @b_a, @b_i, @b_m, @b_x) as d(k, a, i, m, x)
          where not exists (select 1 from {S}.{ReadModels.ComplianceBulletin} t where t.bulletin_id = d.k);
        delete from {S}.{ReadModels.ComplianceBulletin} where bulletin_id = any(@b_ids) and applicable = 0;
        """;

    public void AddTo(NpgsqlCommand cmd)
    {
        var u = updates.Values.Where(v => v.Counts.Any(c => c != 0)).ToList();
        cmd.Parameters.AddWithValue("u_keys", u.Select(v => v.Row.Key).ToArray());
        cmd.Parameters.AddWithValue("u_bulletins", u.Select(v => v.Row.BulletinId).ToArray());
        cmd.Parameters.AddWithValue("u_updates", u.Select(v => v.Row.UpdateId).ToArray());
        cmd.Parameters.AddWithValue("u_products", u.Select(v => v.Row.Product).ToArray());
        cmd.Parameters.AddWithValue("u_families", u.Select(v => v.Row.Family).ToArray());
        Counts(cmd, "u_", u.Select(v => v.Counts).ToList());
        var b = bulletins.Where(v => v.Value.Any(c => c != 0)).ToList();
        cmd.Parameters.AddWithValue("b_ids", b.Select(v => v.Key).ToArray());
        Counts(cmd, "b_", b.Select(v => v.Value).ToList());
    }

    private static void Counts(NpgsqlCommand cmd, string prefix, List<int[]> counts)
    {
        cmd.Parameters.AddWithValue(prefix + "a", counts.Select(c => c[0]).ToArray());
        cmd.Parameters.AddWithValue(prefix + "i", counts.Select(c => c[1]).ToArray());
        cmd.Parameters.AddWithValue(prefix + "m", counts.Select(c => c[2]).ToArray());
        cmd.Parameters.AddWithValue(prefix + "x", counts.Select(c => c[3]).ToArray());
    }
}
