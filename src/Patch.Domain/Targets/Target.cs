using System.Text.RegularExpressions;
using Patch.Domain.Computers;

namespace Patch.Domain.Targets;

/// <summary>One rule of a custom target: every criterion given must hold (OS text, installed product, name pattern with * and ?, explicit names).</summary>
public sealed record TargetRule(string? OperatingSystemContains = null, string? Product = null, string? NamePattern = null, IReadOnlyList<string>? Computers = null)
{
    public bool Matches(Computer c) =>
        (OperatingSystemContains is null || c.OperatingSystem?.Contains(OperatingSystemContains, StringComparison.OrdinalIgnoreCase) == true)
        && (Product is null || c.Products.Contains(Product, StringComparer.OrdinalIgnoreCase))
        && (NamePattern is null || GlobMatches(NamePattern, c.Name))
        && (Computers is null || Computers.Contains(c.Name, StringComparer.OrdinalIgnoreCase));

    /// <summary>No criterion given (refused by the decision): worked out, never stored in an event or answered.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => OperatingSystemContains is null && Product is null && NamePattern is null && Computers is null;

    private static bool GlobMatches(string pattern, string name)
    {
        try
        {
            return Glob(pattern).IsMatch(name);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    private static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
}

public sealed record TargetDefined(string TargetId, string Name, IReadOnlyList<TargetRule> Include, IReadOnlyList<TargetRule> Exclude);

public sealed record TargetChanged(string TargetId, string Name, IReadOnlyList<TargetRule> Include, IReadOnlyList<TargetRule> Exclude);

public sealed record TargetDeleted(string TargetId);

/// <summary>A custom target as the parent server has it (a replicated policy uses it): read-only here; also brings back one deleted here.</summary>
public sealed record TargetReplicated(string TargetId, string Parent, string Name, IReadOnlyList<TargetRule> Include, IReadOnlyList<TargetRule> Exclude);

/// <summary>No policy the parent replicates here uses the target any more: this server's own from now on (editable, deletable).</summary>
public sealed record TargetReleased(string TargetId, string Parent);

/// <summary>A custom target (filter): computers matching any include rule and no exclude rule. Membership is computed, never stored.</summary>
public sealed record Target(string Id, string Name, IReadOnlyList<TargetRule> Include, IReadOnlyList<TargetRule> Exclude, bool Deleted)
{
    public static Target Create(TargetDefined e) => new(e.TargetId, e.Name, e.Include, e.Exclude, false);

    public static Target Apply(TargetChanged e, Target t) => t with { Name = e.Name, Include = e.Include, Exclude = e.Exclude };

    public static Target Apply(TargetDeleted e, Target t) => t with { Deleted = true };

    public static Target Create(TargetReplicated e) => new(e.TargetId, e.Name, e.Include, e.Exclude, false) { ReplicatedFrom = e.Parent };

    public static Target Apply(TargetReplicated e, Target t) => Create(e);

    public static Target Apply(TargetReleased e, Target t) => t with { ReplicatedFrom = null };

    /// <summary>The parent server this target is replicated from (read-only here), or null.</summary>
    public string? ReplicatedFrom { get; init; }

    /// <summary>Whether the target here is the parent's as it is (replicated, not deleted, the same name and rules).</summary>
    public bool IsReplicaOf(string name, IReadOnlyList<TargetRule> include, IReadOnlyList<TargetRule> exclude) =>
        ReplicatedFrom is not null && !Deleted && Name == name && ValueEquality.Same(Include, include) && ValueEquality.Same(Exclude, exclude);

    /// <summary>A change to a target the parent server replicates here: refused (change it on the parent).</summary>
    public static Rejection? ReadOnly(Target? target) => target is { ReplicatedFrom: { } parent, Deleted: false }
        ? new Rejection(RejectionKind.Conflict, "Replicated target", $"Target '{target.Id}' is replicated from the parent server '{parent}': it is read-only here; change it on the parent.")
        : null;

    /// <summary>The longest operating system text or product name a rule may hold (a caption or a product's display name is shorter).</summary>
    public const int MaxCriterion = 256;

    /// <summary>The most computers a rule may name one by one (a larger set is a pattern, an operating system or a product).</summary>
    public const int MaxComputers = 10_000;

    public static Outcome DecideDefine(Target? current, string targetId, string? name, IReadOnlyList<TargetRule>? include, IReadOnlyList<TargetRule>? exclude)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(name) || name.Length > 128 || name.Any(char.IsControl)) problems.Add("name: 1 to 128 characters, none a control character");
        if (include is not { Count: > 0 }) problems.Add("include: at least one rule");
        var rules = (include ?? []).Concat(exclude ?? []).ToList();
        if (rules.Any(r => r is null || r.IsEmpty)) problems.Add("include/exclude: a rule needs at least one criterion");
        foreach (var pattern in rules.Where(r => r?.NamePattern is not null).Select(r => r.NamePattern!))
            if (pattern.Length > 128 || !pattern.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' or '*' or '?'))
                problems.Add($"namePattern: '{Users.UserDecisions.Printable(pattern)}' may hold letters, digits, '-', '_', '.', '*' and '?' (at most 128)");
        if (rules.Any(r => r?.OperatingSystemContains is { Length: > MaxCriterion } || r?.Product is { Length: > MaxCriterion }))
            problems.Add($"operatingSystemContains, product: at most {MaxCriterion} characters");
        if (rules.Any(r => r?.Computers is { } names && names.Any(string.IsNullOrWhiteSpace))) problems.Add("computers: names must not be empty");
        // An empty criterion is none: an empty pattern, list or text would match no computer (or every one), in silence.
        if (rules.Any(r => r?.Computers is { Count: 0 })) problems.Add("computers: an empty list names no computer (leave it out, or name one)");
        if (rules.Any(r => r is not null && (r.NamePattern, r.OperatingSystemContains, r.Product) is var (n, o, p)
                           && new[] { n, o, p }.Any(text => text is not null && string.IsNullOrWhiteSpace(text))))
            problems.Add("namePattern, operatingSystemContains, product: empty (leave the criterion out, or give it)");
        if (rules.Any(r => r?.Computers is { } names && names.Count > MaxComputers)) problems.Add($"computers: at most {MaxComputers} names a rule");
        // Named as a computer is named (Computer.Decide): a name no computer can have would match none, in silence.
        foreach (var bad in rules.SelectMany(r => r?.Computers ?? []).Where(n => !string.IsNullOrWhiteSpace(n) && !Computer.IsName(n)).Take(3))
            problems.Add($"computers: '{Users.UserDecisions.Printable(bad.Length > 70 ? bad[..70] + "…" : bad)}' is not a computer name (1 to 63 letters, digits, '-', '_' or '.', neither starting nor ending with '.')");
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid target", string.Join("; ", problems));
        if (ReadOnly(current) is { } replicated) return Outcome.Refuse(replicated.Kind, replicated.Title, replicated.Detail);
        if (current is { Deleted: true }) return Outcome.Refuse(RejectionKind.NotFound, "Target deleted", $"Target '{targetId}' was deleted.");
        if (current is null) return Outcome.Append(new TargetDefined(targetId, name!.Trim(), include!, exclude ?? []));
        if (current.Name == name!.Trim() && ValueEquality.Same(current.Include, include) && ValueEquality.Same(current.Exclude, exclude ?? [])) return Outcome.Nothing;
        return Outcome.Append(new TargetChanged(targetId, name.Trim(), include!, exclude ?? []));
    }
}

/// <summary>The built-in dynamic targets and the membership rule for every target.</summary>
public static class Targets
{
    public const string AllWithAgent = "builtin:all-with-agent";
    public const string WithoutAgent = "builtin:without-agent";
    public const string AgentNeedsUpgrade = "builtin:agent-needs-upgrade";
    public const string RequiringUpdates = Settings.VendorSettingsValues.RequiringUpdatesTarget;
    public const string RequiringUpdatePrefix = "builtin:requiring-update:";

    public static readonly IReadOnlyDictionary<string, string> BuiltIn = new Dictionary<string, string>
    {
        [AllWithAgent] = "All computers with the Software Update Agent installed",
        [WithoutAgent] = "Computers without the Software Update Agent",
        [AgentNeedsUpgrade] = "Computers with an agent that needs upgrading",
        [RequiringUpdates] = "Computers requiring the policy's updates",
    };

    public static bool IsBuiltIn(string? id) => id is not null && (BuiltIn.ContainsKey(id) || id.StartsWith(RequiringUpdatePrefix, StringComparison.Ordinal));

    /// <summary>
    /// Whether a computer is in a target. <paramref name="policyUpdateIds"/> gives "requiring the policy's updates" its
    /// meaning; <paramref name="currentAgentVersion"/> decides "needs upgrade".
    /// </summary>
    public static bool Contains(string targetId, Target? custom, Computer c, IReadOnlyCollection<string> policyUpdateIds, string currentAgentVersion) => targetId switch
    {
        AllWithAgent => c.AgentInstalled,
        WithoutAgent => !c.AgentInstalled,
        AgentNeedsUpgrade => c.AgentInstalled && Version.TryParse(c.AgentVersion, out var v) && Version.TryParse(currentAgentVersion, out var current) && v < current,
        RequiringUpdates => c.RequiredUpdateIds.Any(policyUpdateIds.Contains),
        _ when targetId.StartsWith(RequiringUpdatePrefix, StringComparison.Ordinal) => c.RequiredUpdateIds.Contains(targetId[RequiringUpdatePrefix.Length..]),
        _ => custom is { Deleted: false } && custom.Include.Any(r => r.Matches(c)) && !custom.Exclude.Any(r => r.Matches(c)),
    };

    /// <summary>The computers a set of targets reaches, less the resource exclusions (computer names).</summary>
    public static IReadOnlyList<Computer> Members(IReadOnlyList<string> targetIds, IReadOnlyDictionary<string, Target> custom, IEnumerable<Computer> computers,
        IReadOnlyCollection<string> policyUpdateIds, string currentAgentVersion, IReadOnlyCollection<string> exclusions) =>
        computers.Where(c => !exclusions.Contains(c.Name, StringComparer.OrdinalIgnoreCase)
                             && targetIds.Any(t => Contains(t, custom.GetValueOrDefault(t), c, policyUpdateIds, currentAgentVersion)))
            .OrderBy(c => c.Name, StringComparer.OrdinalIgnoreCase).ToList();
}
