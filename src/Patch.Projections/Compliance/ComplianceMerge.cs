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
}
