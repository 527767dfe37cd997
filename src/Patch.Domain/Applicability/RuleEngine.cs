using System.Text.Json;

namespace Patch.Domain.Applicability;

/// <summary>
/// Evaluates Patch's rule language (see <see cref="Rules.RuleSyntax"/>) on a computer's facts. One engine for the server
/// and the agent. A build comparison the facts cannot decide (no revision known) is false, so "installed" is never
/// guessed.
/// </summary>
public static class RuleEngine
{
    public static bool Evaluate(string rule, ComputerFacts facts)
    {
        using var doc = JsonDocument.Parse(rule);
        return Evaluate(doc.RootElement, facts);
    }

    private static bool Evaluate(JsonElement rule, ComputerFacts facts)
    {
        var p = rule.EnumerateObject().Single();
        return p.Name switch
        {
            "all" => p.Value.EnumerateArray().All(r => Evaluate(r, facts)),
            "any" => p.Value.EnumerateArray().Any(r => Evaluate(r, facts)),
            "not" => !Evaluate(p.Value, facts),
            "product" => facts.SoftwareReleases.Contains(p.Value.GetString()!, StringComparer.OrdinalIgnoreCase),
            "kbInstalled" => facts.HasKb(p.Value.GetString()!),
            "osBuildAtLeast" => Compare(facts, p.Value.GetString()!) is >= 0,
            "osBuildBelow" => Compare(facts, p.Value.GetString()!) is < 0,
            "architecture" => string.Equals(facts.Architecture, p.Value.GetString(), StringComparison.OrdinalIgnoreCase),
            "culture" => facts.Cultures.Contains(p.Value.GetString()!, StringComparer.OrdinalIgnoreCase),
            _ => throw new FormatException($"unknown rule '{p.Name}'"),
        };
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
