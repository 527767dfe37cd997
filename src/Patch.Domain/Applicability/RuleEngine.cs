using System.Text.Json;

namespace Patch.Domain.Applicability;

/// <summary>
/// Evaluates Patch's rule language (see <see cref="Rules.RuleSyntax"/>) on a computer's facts. One engine for the server
/// and the agent. A build comparison the facts cannot decide (no revision known) is false, so "installed" is never
/// guessed.
/// </summary>
public static class RuleEngine
{
    /// <summary>True only when the rule certainly holds: an undecidable part (a build the facts cannot compare) is not a yes.</summary>
    public static bool Evaluate(string rule, ComputerFacts facts)
    {
        using var doc = JsonDocument.Parse(rule);
        return Evaluate(doc.RootElement, facts) == true;
    }

    /// <summary>Three-valued: null = cannot be decided from these facts; <c>not</c> of unknown stays unknown.</summary>
    private static bool? Evaluate(JsonElement rule, ComputerFacts facts)
    {
        var p = rule.EnumerateObject().Single();
        return p.Name switch
        {
            "all" => All(p.Value.EnumerateArray().Select(r => Evaluate(r, facts))),
            "any" => Any(p.Value.EnumerateArray().Select(r => Evaluate(r, facts))),
            "not" => Evaluate(p.Value, facts) is { } inner ? !inner : null,
            "product" => facts.HasProduct(p.Value.GetString()!),
            "kbInstalled" => facts.HasKb(p.Value.GetString()!),
            "osBuildAtLeast" => Compare(facts, p.Value.GetString()!) is { } c1 ? c1 >= 0 : null,
            "osBuildBelow" => Compare(facts, p.Value.GetString()!) is { } c2 ? c2 < 0 : null,
            "architecture" => string.Equals(facts.Architecture, p.Value.GetString(), StringComparison.OrdinalIgnoreCase),
            "culture" => facts.Cultures.Contains(p.Value.GetString()!, StringComparer.OrdinalIgnoreCase),
            _ => throw new FormatException($"unknown rule '{p.Name}'"),
        };
    }

    private static bool? All(IEnumerable<bool?> values)
    {
        var unknown = false;
        foreach (var v in values)
        {
            if (v == false) return false;
            unknown |= v is null;
        }
        return unknown ? null : true;
    }

    private static bool? Any(IEnumerable<bool?> values)
    {
        var unknown = false;
        foreach (var v in values)
        {
            if (v == true) return true;
            unknown |= v is null;
        }
        return unknown ? null : false;
    }

    /// <summary>Compares the OS version with a build; null when the facts lack the precision the build asks for.</summary>
    public static int? Compare(ComputerFacts facts, string build)
    {
        if (!Version.TryParse(build, out var target)) return null;
        var have = facts.Version;
        if (target.Revision >= 0 && have.Revision < 0)
        {
            // Same major.minor.build but no revision known: undecidable. A different build decides on its own.
            var head = new Version(have.Major, have.Minor, Math.Max(have.Build, 0));
            var targetHead = new Version(target.Major, target.Minor, Math.Max(target.Build, 0));
            return head == targetHead ? null : head.CompareTo(targetHead);
        }
        return have.CompareTo(target);
    }
}
