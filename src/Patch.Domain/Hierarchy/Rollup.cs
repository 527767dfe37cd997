namespace Patch.Domain.Hierarchy;

/// <summary>Missing installs of one severity, and the computers missing any, on one server or a whole subtree.</summary>
public sealed record SeverityFigures(string Severity, long MissingInstalls, long Computers);

/// <summary>
/// What a server's reports say, in figures that add up across servers (their fleets are disjoint): how patched it is
/// and how its deliveries went (the home page's last 30 days). <c>Servers</c>: how many servers the figures cover.
/// </summary>
public sealed record HierarchyFigures(int Servers, long Computers, long ComputersWithAgent, long NotReportingInventory, IReadOnlyList<SeverityFigures> Vulnerabilities,
    long Executed, long Succeeded, long Failed, long NotCompleted, long PendingRestarts)
{
    public static readonly HierarchyFigures None = new(0, 0, 0, 0, [], 0, 0, 0, 0, 0);

    public static HierarchyFigures Sum(IEnumerable<HierarchyFigures> all) => all.Aggregate(None, (a, b) => new HierarchyFigures(a.Servers + b.Servers,
        a.Computers + b.Computers, a.ComputersWithAgent + b.ComputersWithAgent, a.NotReportingInventory + b.NotReportingInventory,
        a.Vulnerabilities.Concat(b.Vulnerabilities).GroupBy(v => v.Severity, StringComparer.Ordinal)
            .Select(g => new SeverityFigures(g.Key, g.Sum(v => v.MissingInstalls), g.Sum(v => v.Computers))).OrderBy(v => v.Severity, StringComparer.Ordinal).ToList(),
        a.Executed + b.Executed, a.Succeeded + b.Succeeded, a.Failed + b.Failed, a.NotCompleted + b.NotCompleted, a.PendingRestarts + b.PendingRestarts));

    /// <summary>
    /// The largest count a report may carry: a trillion — beyond any fleet, and summed over the most servers a hierarchy may
    /// have still far from the range of a 64-bit count (a child cannot make the parent's totals wrap around).
    /// </summary>
    public const long MaxCount = 1_000_000_000_000;

    /// <summary>Null when every figure is a plausible count, else what is wrong (a child's report is input like any other).</summary>
    public string? Problem()
    {
        if (Servers < 1 || Servers > 100_000) return "servers: 1 to 100000";
        if (new[] { Computers, ComputersWithAgent, NotReportingInventory, Executed, Succeeded, Failed, NotCompleted, PendingRestarts }.Any(n => n < 0)
            || Vulnerabilities.Any(v => v.MissingInstalls < 0 || v.Computers < 0)) return "figures: counts are never negative";
        // Each figure is read by its own query on the child (the computers, the compliance shapes, the restarts), not in one
        // snapshot: during a read-model rebuild or an enrolment wave they may disagree for a while, so no figure is checked
        // against another — only each against the bound that keeps the parent's sums counts.
        if (new[] { Computers, ComputersWithAgent, NotReportingInventory, Executed, Succeeded, Failed, NotCompleted, PendingRestarts }
                .Concat(Vulnerabilities.SelectMany(v => new[] { v.MissingInstalls, v.Computers })).Any(n => n > MaxCount))
            return $"figures: at most {MaxCount} each";
        if (Vulnerabilities.Count > 20 || Vulnerabilities.Any(v => string.IsNullOrWhiteSpace(v.Severity) || v.Severity.Length > 32 || v.Severity.Any(char.IsControl)))
            return "vulnerabilities: up to 20 severities by name";
        if (Vulnerabilities.Select(v => v.Severity).Distinct(StringComparer.Ordinal).Count() != Vulnerabilities.Count) return "vulnerabilities: each severity once";
        // The severities a server's reports count by (the home page's): another name is no figure the parent can add up.
        if (Vulnerabilities.FirstOrDefault(v => !Enum.GetNames<Catalog.Severity>().Contains(v.Severity, StringComparer.Ordinal)) is { } unknown)
            return $"vulnerabilities: '{Users.UserDecisions.Printable(unknown.Severity)}' is no severity ({string.Join(", ", Enum.GetNames<Catalog.Severity>())})";
        return null;
    }

    /// <summary>Null when these subtree figures hold <paramref name="own"/> (a server's subtree is itself and its descendants), else what is wrong.</summary>
    public string? SubtreeProblem(HierarchyFigures own) =>
        Servers < own.Servers || Computers < own.Computers || ComputersWithAgent < own.ComputersWithAgent || Executed < own.Executed
            ? "subtree: its figures include the server's own (at least own's servers, computers, computers with an agent and executed deliveries)"
            : null;
}

/// <summary>
/// A child's figures as it last reported them: its own, and its own with its descendants'. <c>Servers</c>: the server ids
/// of that subtree (the child's own first), none from a child of an earlier version.
/// </summary>
public sealed record ChildRollup(HierarchyFigures Own, HierarchyFigures Subtree, DateTimeOffset At, IReadOnlyList<string>? Servers = null);

public sealed record ChildRollupReported(string ChildId, HierarchyFigures Own, HierarchyFigures Subtree, DateTimeOffset At, IReadOnlyList<string>? Servers = null);

/// <summary>
/// The servers of a subtree by id: what keeps a hierarchy a tree. A parent knows only its own parent, so a cycle through
/// three servers (A → B → C → A) shows only in the ids a subtree reports: a server that finds its own id among a
/// registering server's subtree, or among a child's roll-up, would be its own descendant.
/// </summary>
public static class SubtreeServers
{
    public const int MaxServers = 100_000;

    /// <summary>Null when the ids are server ids ("server-" and 32 hexadecimal digits), each once, at most <see cref="MaxServers"/>; else what is wrong.</summary>
    public static string? Problem(IReadOnlyList<string?> ids, string field)
    {
        if (ids.Count > MaxServers) return $"{field}: at most {MaxServers} server ids";
        foreach (var id in ids)
            if (!IsServerId(id)) return $"{field}: '{Shown(id)}' is not a server id (\"server-\" and 32 hexadecimal digits)";
        return ids.Distinct(StringComparer.Ordinal).Count() != ids.Count ? $"{field}: each server once" : null;
    }

    public static bool IsServerId(string? id) =>
        id is { Length: 39 } && id.StartsWith("server-", StringComparison.Ordinal) && id.AsSpan(7).IndexOfAnyExcept("0123456789abcdef") < 0;

    private static string Shown(string? id) => id is null ? "null" : Users.UserDecisions.Printable(id.Length > 60 ? id[..60] + "…" : id);

    /// <summary>A server's subtree: itself, then every server its children last reported (children of earlier versions report none).</summary>
    public static IReadOnlyList<string> Of(string own, IEnumerable<ChildServer> children) =>
        children.Where(c => !c.Revoked).SelectMany(c => c.Rollup?.Servers ?? []).Prepend(own).Distinct(StringComparer.Ordinal).ToList();
}
