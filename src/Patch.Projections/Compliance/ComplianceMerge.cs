namespace Patch.Projections.Compliance;

/// <summary>
/// Writes of the compliance tables as differences: a row that did not change is not touched, so its version in the
/// read-model history (ADR 0019) goes on, and an analysis that finds what it found before writes nothing at all.
/// </summary>
public static class ComplianceMerge
{
    private const string S = ComplianceTables.Schema;

    /// <summary>
    /// Statements making the rows of <paramref name="table"/> within <paramref name="scope"/> (a predicate over alias t)
    /// equal to the rows of <paramref name="source"/> (a relation with the key and value columns): rows no longer there
    /// are deleted, changed ones updated, new ones inserted.
    /// </summary>
    public static string Replace(string table, string[] keys, string[] values, string source, string scope)
    {
        var match = string.Join(" and ", keys.Select(k => $"t.{k} = n.{k}"));
        var all = string.Join(", ", keys.Concat(values));
        return $"""
            delete from {S}.{table} t where {scope} and not exists (select 1 from {source} n where {match});
            update {S}.{table} t set {string.Join(", ", values.Select(v => $"{v} = n.{v}"))} from {source} n
              where {match} and ({string.Join(", ", values.Select(v => "t." + v))}) is distinct from ({string.Join(", ", values.Select(v => "n." + v))});
            insert into {S}.{table} ({all}) select {all} from {source} n where not exists (select 1 from {S}.{table} t where {match});
            """;
    }

    private const string Counts = "count(*) a, count(*) filter (where st = 1) i, count(*) filter (where st = 2) m, count(*) filter (where st = 3) x";

    /// <summary>
    /// Moves the counters of <paramref name="table"/> (keyed by <paramref name="key"/>) by the difference between some
    /// computers' (<c>@computers</c>) current state rows and their new ones (<paramref name="newRows"/>: a relation with columns k, st and the
    /// extra columns), before the state rows are replaced: only counters that change are written.
    /// </summary>
    public static string MoveCounters(string table, string key, string newRows, (string Column, string Source)[] extra) => $"""
        with o as (select {key} k, {Counts} from (select {key}, state st from {S}.{ReadModels.ComplianceState} where computer_id = any(@computers)) s group by {key}),
             n as (select k, {Counts} from {newRows} group by k),
             d as (select coalesce(n.k, o.k) k, coalesce(n.a, 0) - coalesce(o.a, 0) a, coalesce(n.i, 0) - coalesce(o.i, 0) i,
                          coalesce(n.m, 0) - coalesce(o.m, 0) m, coalesce(n.x, 0) - coalesce(o.x, 0) x from o full join n on n.k = o.k)
        update {S}.{table} c set applicable = c.applicable + d.a, installed = c.installed + d.i, missing = c.missing + d.m, superseded = c.superseded + d.x
        from d where c.{key} = d.k and (d.a, d.i, d.m, d.x) <> (0, 0, 0, 0);
        insert into {S}.{table} ({key}, {string.Join("", extra.Select(e => e.Column + ", "))}applicable, installed, missing, superseded)
          select k, {string.Join("", extra.Select(e => $"min({e.Source}), "))}{Counts} from {newRows} group by k
        on conflict ({key}) do nothing;
        """;

    /// <summary>Every counter of bulletins and updates from the state rows (the full analysis, after they were replaced).</summary>
    public static readonly string AllCounters =
        Replace(ReadModels.ComplianceBulletin, ["bulletin_id"], ["applicable", "installed", "missing", "superseded"], $"""
            (select bulletin_id, count(*)::int applicable, (count(*) filter (where state = 1))::int installed, (count(*) filter (where state = 2))::int missing,
                    (count(*) filter (where state = 3))::int superseded from {S}.{ReadModels.ComplianceState} group by bulletin_id)
            """, "true") +
        Replace(ReadModels.ComplianceUpdate, ["update_key"], ["bulletin_id", "update_id", "product", "family", "applicable", "installed", "missing", "superseded"], $"""
            (select update_key, min(bulletin_id) bulletin_id, min(update_id) update_id, min(product) product, min(family) family, count(*)::int applicable,
                    (count(*) filter (where state = 1))::int installed, (count(*) filter (where state = 2))::int missing, (count(*) filter (where state = 3))::int superseded
             from {S}.{ReadModels.ComplianceState} group by update_key)
            """, "true");
}
