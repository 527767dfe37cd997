using Patch.Projections;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.Targets;
using BuiltIn = Patch.Domain.Targets.Targets;

namespace Patch.Application.Targets;

/// <summary>
/// Target membership over the whole fleet as one SQL query on the narrow computer rows (the domain's
/// <see cref="BuiltIn.Contains"/> decides for one computer, as agents' assignments do). Each criterion translates the
/// domain rule exactly: OS text contains (any case), an installed product (any case), a name pattern with * and ?,
/// explicit names, agent installed or not, agent version below the current one, requiring updates (from the
/// vulnerability analysis). A test compares both on a varied fleet.
/// </summary>
public sealed class TargetSql
{
    private readonly List<NpgsqlParameter> _parameters = [];
    private readonly DateTimeOffset? _asOf;

    private TargetSql(DateTimeOffset? asOf)
    {
        _asOf = asOf;
        if (asOf is { } at) _parameters.Add(new NpgsqlParameter("asOf", at));
    }

    private string Parameter(object value)
    {
        var name = $"p{_parameters.Count}";
        _parameters.Add(new NpgsqlParameter(name, value));
        return "@" + name;
    }

    /// <summary>
    /// The names of the computers the targets reach, less the exclusions, by name; <paramref name="limit"/> caps the list,
    /// <c>Total</c> counts them all. With <paramref name="asOf"/>, over the computers and the analysis as they stood then.
    /// </summary>
    public static async Task<(long Total, IReadOnlyList<string> Names)> MembersAsync(NpgsqlDataSource db, IReadOnlyList<string> targetIds, IReadOnlyDictionary<string, Target> custom,
        IReadOnlyCollection<string> policyUpdateIds, string currentAgentVersion, IReadOnlyCollection<string> exclusions, int? limit, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var sql = new TargetSql(asOf);
        var where = sql.Where(targetIds, custom, policyUpdateIds, currentAgentVersion, exclusions);
        var Computers = ReadSql.At(Projections.PatchProjections.ComputerRowTable, asOf);
        await using var conn = await db.OpenConnectionAsync(ct);
        long total;
        await using (var count = new NpgsqlCommand($"select count(*) from {Computers} c where {where}", conn))
        {
            foreach (var p in sql._parameters) count.Parameters.Add(p.Clone());
            total = (long)(await count.ExecuteScalarAsync(ct))!;
        }
        var names = new List<string>();
        await using var cmd = new NpgsqlCommand($"select c.data->>'name' from {Computers} c where {where} order by c.name_lower, c.data->>'name'{(limit is { } n ? $" limit {n}" : "")}", conn);
        foreach (var p in sql._parameters) cmd.Parameters.Add(p.Clone());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) names.Add(reader.GetString(0));
        return (total, names);
    }

    /// <summary>
    /// How many computers each target reaches (at <paramref name="asOf"/>, or now), in one pass over the computer rows;
    /// a target whose members depend on a policy ("requiring the policy's updates") is not counted.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, long>> CountsAsync(NpgsqlDataSource db, IReadOnlyList<string> targetIds, IReadOnlyDictionary<string, Target> custom,
        string currentAgentVersion, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var counted = targetIds.Where(t => t != BuiltIn.RequiringUpdates).Distinct().ToList();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        if (counted.Count == 0) return counts;
        var sql = new TargetSql(asOf);
        var columns = counted.Select(t => $"count(*) filter (where {sql.Where([t], custom, [], currentAgentVersion, [])})");
        await using var cmd = db.CreateCommand($"select {string.Join(", ", columns)} from {ReadSql.At(Projections.PatchProjections.ComputerRowTable, asOf)} c");
        foreach (var p in sql._parameters) cmd.Parameters.Add(p.Clone());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        for (var i = 0; i < counted.Count; i++) counts[counted[i]] = reader.GetInt64(i);
        return counts;
    }

    /// <summary>PostgreSQL's estimate of the computers known (from its statistics, without a pass); 0 before the table is first analysed.</summary>
    public static async Task<long> EstimatedComputersAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            $"select coalesce((select greatest(reltuples, 0)::bigint from pg_class where oid = to_regclass('{PatchStore.Schema}.{Projections.PatchProjections.ComputerRowTable}')), 0)");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The ids of the computers a target reached (at <paramref name="asOf"/>, or now): for reports over its members.</summary>
    public static async Task<string[]> MemberIdsAsync(NpgsqlDataSource db, string targetId, IReadOnlyDictionary<string, Target> custom, string currentAgentVersion,
        CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var sql = new TargetSql(asOf);
        var where = sql.Where([targetId], custom, [], currentAgentVersion, []);
        await using var cmd = db.CreateCommand($"select c.id from {ReadSql.At(Projections.PatchProjections.ComputerRowTable, asOf)} c where {where}");
        foreach (var p in sql._parameters) cmd.Parameters.Add(p.Clone());
        var ids = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) ids.Add(reader.GetString(0));
        return [.. ids];
    }

    private string Where(IReadOnlyList<string> targetIds, IReadOnlyDictionary<string, Target> custom, IReadOnlyCollection<string> policyUpdateIds, string currentAgentVersion,
        IReadOnlyCollection<string> exclusions)
    {
        var any = targetIds.Select(t => Target(t, custom.GetValueOrDefault(t), policyUpdateIds, currentAgentVersion)).ToList();
        var reach = any.Count == 0 ? "false" : "(" + string.Join(" or ", any) + ")";
        return exclusions.Count == 0 ? reach : $"{reach} and c.name_lower <> all({Parameter(exclusions.Select(e => e.ToLowerInvariant()).ToArray())})";
    }

    private string Target(string targetId, Target? custom, IReadOnlyCollection<string> policyUpdateIds, string currentAgentVersion) => targetId switch
    {
        BuiltIn.AllWithAgent => AgentInstalled,
        BuiltIn.WithoutAgent => $"not {AgentInstalled}",
        BuiltIn.AgentNeedsUpgrade when System.Version.TryParse(currentAgentVersion, out var current) =>
            $"{AgentInstalled} and coalesce(c.agent_version, '') ~ '^[0-9]+(\\.[0-9]+){{1,3}}$' " +
            $"and {VersionArray("c.agent_version")} < {VersionArray(Parameter(current.ToString()))}",
        BuiltIn.AgentNeedsUpgrade => "false",
        BuiltIn.RequiringUpdates => Requiring(policyUpdateIds.ToArray()),
        _ when targetId.StartsWith(BuiltIn.RequiringUpdatePrefix, StringComparison.Ordinal) => Requiring([targetId[BuiltIn.RequiringUpdatePrefix.Length..]]),
        _ when custom is { Deleted: false } c => $"({Any(c.Include)}) and not ({Any(c.Exclude)})",
        _ => "false",
    };

    private const string AgentInstalled = "coalesce(c.agent_installed, false)";

    /// <summary>A dotted version as an int array, padded so 0.1 compares as 0.1.0.0 would not: like System.Version, a missing part sorts first.</summary>
    private static string VersionArray(string text) => $"(string_to_array({text}, '.')::int[] || array[-1, -1, -1])[1:4]";

    private string Requiring(string[] updateIds) => updateIds.Length == 0
        ? "false"
        : $"exists (select 1 from {ReadSql.At(ReadModels.ComplianceState, _asOf)} s where s.computer_id = c.id and s.state = {Projections.Compliance.VulnerabilityAnalysis.Missing} and s.update_id = any({Parameter(updateIds)}))";

    private string Any(IReadOnlyList<TargetRule> rules) => rules.Count == 0 ? "false" : string.Join(" or ", rules.Select(Rule));

    private string Rule(TargetRule rule)
    {
        var all = new List<string>();
        if (rule.OperatingSystemContains is { } os) all.Add($"c.operating_system_lower like {Parameter("%" + Like(os.ToLowerInvariant()) + "%")}");
        if (rule.Product is { } product)
            all.Add($"exists (select 1 from jsonb_array_elements_text(c.data->'products') p(name) where lower(p.name) = {Parameter(product.ToLowerInvariant())})");
        if (rule.NamePattern is { } pattern) all.Add($"c.name_lower like {Parameter(Like(pattern.ToLowerInvariant()).Replace('*', '%').Replace('?', '_'))}");
        if (rule.Computers is { } names) all.Add($"c.name_lower = any({Parameter(names.Select(n => n.ToLowerInvariant()).ToArray())})");
        return all.Count == 0 ? "false" : "(" + string.Join(" and ", all) + ")";
    }

    /// <summary>Escapes LIKE's own wildcards (the default escape character is the backslash).</summary>
    private static string Like(string text) => text.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_");
}
