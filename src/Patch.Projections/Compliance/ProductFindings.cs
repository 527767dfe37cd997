using Npgsql;
using NpgsqlTypes;
using Patch.Domain.Applicability;
using Patch.Domain.Inventory.Products;

namespace Patch.Projections.Compliance;

/// <summary>
/// The compliance table of products without a KB (compliance_vulnerability): one row per (computer, CVE of a product it
/// has), fixed, vulnerable or undecided with the reason. Written with the update rows, in the same transaction.
/// </summary>
public static class ProductFindings
{
    private const string S = ComplianceTables.Schema;

    public static List<VulnerabilityFinding> Of(ComputerFacts? facts, PreparedVulnerabilities vulnerabilities) =>
        facts is null || vulnerabilities.Facts.Count == 0 ? [] : vulnerabilities.For(facts).ToList();

    public static readonly string[] Values = ["cve", "product", "family", "installed_version", "fixed_build", "severity", "state", "reason"];
}
