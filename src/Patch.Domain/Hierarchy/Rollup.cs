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
        return null;
    }

    /// <summary>Null when these subtree figures hold <paramref name="own"/> (a server's subtree is itself and its descendants), else what is wrong.</summary>
    public string? SubtreeProblem(HierarchyFigures own) =>
        Servers < own.Servers || Computers < own.Computers || ComputersWithAgent < own.ComputersWithAgent || Executed < own.Executed
            ? "subtree: its figures include the server's own (at least own's servers, computers, computers with an agent and executed deliveries)"
            : null;
}

/// <summary>A child's figures as it last reported them: its own, and its own with its descendants'.</summary>
public sealed record ChildRollup(HierarchyFigures Own, HierarchyFigures Subtree, DateTimeOffset At);

public sealed record ChildRollupReported(string ChildId, HierarchyFigures Own, HierarchyFigures Subtree, DateTimeOffset At);
