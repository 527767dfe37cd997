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

    /// <summary>One computer's findings, written as differences (ADR 0019).</summary>
    public static async Task ReplaceAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string computerId, List<VulnerabilityFinding> findings, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ComplianceMerge.Replace(ReadModels.ComplianceVulnerability, ["computer_id", "vulnerability_id"], Values, """
            (select @c::text computer_id, i vulnerability_id, cve, p product, f family, v installed_version, fb fixed_build, sev severity, st state, r reason
             from unnest(@ids, @cves, @products, @families, @versions, @fixed, @severities, @states, @reasons) as t(i, cve, p, f, v, fb, sev, st, r))
            """, "t.computer_id = @c"), conn, tx);
        cmd.Parameters.AddWithValue("c", computerId);
        cmd.Parameters.AddWithValue("ids", findings.Select(f => f.VulnerabilityId).ToArray());
        cmd.Parameters.AddWithValue("cves", findings.Select(f => f.Facts.Cve).ToArray());
        cmd.Parameters.AddWithValue("products", findings.Select(f => f.Facts.Product).ToArray());
        cmd.Parameters.AddWithValue("families", findings.Select(f => ProductFamilies.Of(f.Facts.Product).Id).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("versions", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = findings.Select(f => (object?)f.Product.Version ?? DBNull.Value).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("fixed", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = findings.Select(f => (object?)f.Facts.FixedBuild ?? DBNull.Value).ToArray() });
        cmd.Parameters.AddWithValue("severities", findings.Select(f => (short)f.Facts.Severity).ToArray());
        cmd.Parameters.AddWithValue("states", findings.Select(f => (short)f.State).ToArray());
        cmd.Parameters.AddWithValue("reasons", findings.Select(f => f.Reason).ToArray());
        await cmd.ExecuteNonQueryAsync(ct);
    }

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
