using System.Text.RegularExpressions;
using Patch.Domain.Inventory.Products;
using Patch.Domain.Vulnerabilities;

namespace Patch.Domain.Applicability;

public enum FindingState { Fixed = 1, Vulnerable = 2, Undecided = 3 }

/// <summary>One CVE of one installed product without a KB: fixed, vulnerable ("build X is below the fixed build Y"), or not decidable, and why.</summary>
public sealed record VulnerabilityFinding(string VulnerabilityId, ProductVulnerabilityFacts Facts, InstalledProduct Product, FindingState State, string Reason);

/// <summary>
/// The product vulnerability facts indexed by product key once for many computers, and what they mean for one: a
/// product the computer has (read or inferred, with a version) is vulnerable when its version is below the fixed build,
/// fixed at or past it; with no fixed build published (Click-to-Run points at a web page) or a version less precise
/// than the fixed build, nothing is decided and the finding says so. The same code runs on the server and the agent.
/// </summary>
public sealed partial class PreparedVulnerabilities
{
    private readonly ILookup<string, ProductVulnerabilityFacts> _byKey;

    public PreparedVulnerabilities(IReadOnlyList<ProductVulnerabilityFacts> facts)
    {
        Facts = facts;
        _byKey = facts.SelectMany(f => CatalogKeys.Of(f.Product).Select(k => (Key: k, Fact: f))).Distinct().ToLookup(x => x.Key, x => x.Fact, StringComparer.Ordinal);
    }

    public static readonly PreparedVulnerabilities Empty = new([]);

    public IReadOnlyList<ProductVulnerabilityFacts> Facts { get; }

    public IEnumerable<VulnerabilityFinding> For(ComputerFacts computer)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, product) in computer.Keys)
        {
            if (product is null) continue;
            foreach (var fact in _byKey[key])
            {
                var id = StreamIds.ProductVulnerability(fact.Cve, fact.Product);
                if (seen.Add(id)) yield return Decide(id, fact, product);
            }
        }
    }

    private static VulnerabilityFinding Decide(string id, ProductVulnerabilityFacts fact, InstalledProduct product)
    {
        if (FixedBuildOf(fact.FixedBuild) is not { } fixedBuild)
            return new(id, fact, product, FindingState.Undecided, $"no fixed build is published for {fact.Cve}{((fact.FixedBuild ?? fact.Url) is { } where ? $" (see {where})" : "")}");
        if (InstalledProduct.ParseVersion(product.Version) is not { } have || Precision(have) < Precision(fixedBuild))
            return new(id, fact, product, FindingState.Undecided, $"the installed version ({product.Version ?? "unknown"}) cannot be compared with the fixed build {fixedBuild} for {fact.Cve}");
        return have < fixedBuild
            ? new(id, fact, product, FindingState.Vulnerable, $"build {product.Version} is below the fixed build {fixedBuild} for {fact.Cve}")
            : new(id, fact, product, FindingState.Fixed, $"build {product.Version} is at or past the fixed build {fixedBuild} for {fact.Cve}");
    }

    /// <summary>The version a published fixed build names ("142.0.3595.53", "v136.0.3240.64", "Fixed Version 17.13.7"), or null (a URL, free text).</summary>
    public static Version? FixedBuildOf(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Contains("://", StringComparison.Ordinal)) return null;
        return VersionText().Match(text) is { Success: true } m && Version.TryParse(m.Value, out var v) ? v : null;
    }

    private static int Precision(Version v) => v.Revision >= 0 ? 4 : v.Build >= 0 ? 3 : 2;

    [GeneratedRegex(@"\d+(\.\d+){1,3}")]
    private static partial Regex VersionText();
}
