namespace Patch.Domain;

/// <summary>
/// Stream identities are natural string keys (ADR 0001): the same vendor fact always lands in the same stream,
/// which is what makes imports idempotent without a lookup table.
/// </summary>
public static class StreamIds
{
    public const string CustomSeverityLevels = "settings:custom-severities";
    public const string CoreSettings = "settings:core";

    public static string Bulletin(string vendor, string number) => $"{Slug(vendor)}:{number.Trim().ToUpperInvariant()}";

    public static string KnownExploited(string cve) => $"cve:{cve.Trim().ToUpperInvariant()}";

    /// <summary>One CVE in one product without a KB: "vuln:CVE-2025-1234:microsoft edge (chromium-based)".</summary>
    public static string ProductVulnerability(string cve, string product) => $"vuln:{cve.Trim().ToUpperInvariant()}:{Inventory.Products.ProductKeys.Normalize(product)}";

    public static string ServerTaskRun(Guid runId) => $"task-run:{runId:N}";

    public static string Slug(string vendor)
    {
        var chars = vendor.Trim().ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray();
        return new string(chars).Trim('-');
    }
}
