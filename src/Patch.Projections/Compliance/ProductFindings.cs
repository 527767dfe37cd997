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

    /// <summary>Every computer's findings into <paramref name="table"/> (the full analysis's staging table).</summary>
    public static async Task CopyAllAsync(NpgsqlConnection conn, string table, IEnumerable<(string ComputerId, List<VulnerabilityFinding> Findings)> all, CancellationToken ct)
    {
        await using var copy = await conn.BeginBinaryImportAsync(
            $"copy {table} (computer_id, vulnerability_id, cve, product, family, installed_version, fixed_build, severity, state, reason) from stdin (format binary)", ct);
        foreach (var (computerId, findings) in all)
            foreach (var f in findings)
                await copy.WriteRowAsync(ct, computerId, f.VulnerabilityId, f.Facts.Cve, f.Facts.Product, ProductFamilies.Of(f.Facts.Product).Id,
                    (object?)f.Product.Version ?? DBNull.Value, (object?)f.Facts.FixedBuild ?? DBNull.Value, (short)f.Facts.Severity, (short)f.State, f.Reason);
        await copy.CompleteAsync(ct);
    }
}
