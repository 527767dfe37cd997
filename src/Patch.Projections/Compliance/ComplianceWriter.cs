using Npgsql;
using NpgsqlTypes;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Inventory.Products;

namespace Patch.Projections.Compliance;

/// <summary>One applicable update on one computer, as the rule engine decided it.</summary>
public sealed record ComplianceRow(string Key, string BulletinId, string UpdateId, string Product, string Family, short State, Severity Severity);

/// <summary>One computer's analysis: its rows and findings, true from <c>At</c> (its latest fact or the catalog's).</summary>
public sealed record ComputerAnalysis(string Id, string Name, DateTimeOffset At, List<ComplianceRow> Rows, List<VulnerabilityFinding> Findings);

/// <summary>
/// The one write path of the compliance read model: the live analysis of one computer, the full analysis after a
/// catalog change and the rebuild from the event log all write through here, as differences (ADR 0019), counters
/// moved in the same transaction as the rows they count.
/// </summary>
public static class ComplianceWriter
{
    private const string S = ReadModels.Schema;
    private const string StateValues = "bulletin_id, update_id, product, family, state";
    private static readonly string[] ComputerValues = ["name", "applicable", "installed", "missing", "superseded", "missing_critical", "missing_important", "analysed_at"];

    /// <summary>
    /// Some computers' rows, replaced by their new analyses in one statement list: counters move by the difference
    /// first (reading the old rows), then the rows of those computers are merged. Used for one computer live and for
    /// the computers whose facts share one instant in a rebuild.
    /// </summary>
    public static async Task WriteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<ComputerAnalysis> batch, DateTimeOffset stamp, CancellationToken ct)
    {
        if (batch.Count == 0) return;
        const string news = "unnest(@computers_of_rows, @keys, @states, @bulletins, @updates, @products, @families) as t(c, k, st, b, u, p, f)";
        const string scope = "t.computer_id = any(@computers)";
        await using var cmd = new NpgsqlCommand(
            ComplianceMerge.MoveCounters(ReadModels.ComplianceBulletin, "bulletin_id", "(select b k, st from unnest(@bulletins, @states) as t(b, st)) nb", []) +
            ComplianceMerge.MoveCounters(ReadModels.ComplianceUpdate, "update_key", $"(select * from {news}) nu",
                [("bulletin_id", "b"), ("update_id", "u"), ("product", "p"), ("family", "f")]) +
            ComplianceMerge.Replace(ReadModels.ComplianceState, ["computer_id", "update_key"], StateValues.Split(", "),
                $"(select c computer_id, k update_key, b bulletin_id, u update_id, p product, f family, st state from {news})", scope) +
            ComplianceMerge.Replace(ReadModels.ComplianceComputer, ["computer_id"], ComputerValues, """
                (select c computer_id, n name, a applicable, i installed, m missing, x superseded, cr missing_critical, im missing_important, at analysed_at
                 from unnest(@computers, @names, @a, @i, @m, @x, @cr, @im, @at) as t(c, n, a, i, m, x, cr, im, at))
                """, scope) +
            ComplianceMerge.Replace(ReadModels.ComplianceVulnerability, ["computer_id", "vulnerability_id"], ProductFindings.Values, """
                (select c computer_id, i vulnerability_id, cve, p product, f family, v installed_version, fb fixed_build, sev severity, st state, r reason
                 from unnest(@v_computers, @v_ids, @v_cves, @v_products, @v_families, @v_versions, @v_fixed, @v_severities, @v_states, @v_reasons)
                 as t(c, i, cve, p, f, v, fb, sev, st, r))
                """, scope) +
            ComplianceMerge.Replace(ReadModels.ComplianceComputerFamily, ["computer_id", "family"], ComputerFamilyCounts.Values, """
                (select c computer_id, f family, n name, a applicable, i installed, m missing, x superseded, cr missing_critical, im missing_important, at analysed_at
                 from unnest(@f_computers, @f_families, @f_names, @f_a, @f_i, @f_m, @f_x, @f_cr, @f_im, @f_at) as t(c, f, n, a, i, m, x, cr, im, at))
                """, scope), conn, tx);
        History.ReadModelHistory.Stamp(cmd, stamp);
        var rows = batch.SelectMany(a => a.Rows.Select(r => (a.Id, Row: r))).ToList();
        cmd.Parameters.AddWithValue("computers", batch.Select(a => a.Id).ToArray());
        cmd.Parameters.AddWithValue("computers_of_rows", rows.Select(r => r.Id).ToArray());
        cmd.Parameters.AddWithValue("keys", rows.Select(r => r.Row.Key).ToArray());
        cmd.Parameters.AddWithValue("bulletins", rows.Select(r => r.Row.BulletinId).ToArray());
        cmd.Parameters.AddWithValue("updates", rows.Select(r => r.Row.UpdateId).ToArray());
        cmd.Parameters.AddWithValue("products", rows.Select(r => r.Row.Product).ToArray());
        cmd.Parameters.AddWithValue("families", rows.Select(r => r.Row.Family).ToArray());
        cmd.Parameters.AddWithValue("states", rows.Select(r => r.Row.State).ToArray());
        var counts = batch.Select(a => ComplianceCounts.Of(a.Rows.Select(r => (r.State, r.Severity)))).ToList();
        cmd.Parameters.AddWithValue("names", batch.Select(a => a.Name).ToArray());
        AddCounts(cmd, "", counts, batch.Select(a => a.At));
        var findings = batch.SelectMany(a => a.Findings.Select(f => (a.Id, Finding: f))).ToList();
        cmd.Parameters.AddWithValue("v_computers", findings.Select(f => f.Id).ToArray());
        cmd.Parameters.AddWithValue("v_ids", findings.Select(f => f.Finding.VulnerabilityId).ToArray());
        cmd.Parameters.AddWithValue("v_cves", findings.Select(f => f.Finding.Facts.Cve).ToArray());
        cmd.Parameters.AddWithValue("v_products", findings.Select(f => f.Finding.Facts.Product).ToArray());
        cmd.Parameters.AddWithValue("v_families", findings.Select(f => ProductFamilies.Of(f.Finding.Facts.Product).Id).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("v_versions", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = findings.Select(f => (object?)f.Finding.Product.Version ?? DBNull.Value).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("v_fixed", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = findings.Select(f => (object?)f.Finding.Facts.FixedBuild ?? DBNull.Value).ToArray() });
        cmd.Parameters.AddWithValue("v_severities", findings.Select(f => (short)f.Finding.Facts.Severity).ToArray());
        cmd.Parameters.AddWithValue("v_states", findings.Select(f => (short)f.Finding.State).ToArray());
        cmd.Parameters.AddWithValue("v_reasons", findings.Select(f => f.Finding.Reason).ToArray());
        var families = batch.SelectMany(a => ComputerFamilyCounts.Of(a.Rows.Select(r => (r.Family, r.State, r.Severity))).Select(f => (a, f.Family, f.Counts))).ToList();
        cmd.Parameters.AddWithValue("f_computers", families.Select(f => f.a.Id).ToArray());
        cmd.Parameters.AddWithValue("f_families", families.Select(f => f.Family).ToArray());
        cmd.Parameters.AddWithValue("f_names", families.Select(f => f.a.Name).ToArray());
        AddCounts(cmd, "f_", families.Select(f => f.Counts).ToList(), families.Select(f => f.a.At));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static void AddCounts(NpgsqlCommand cmd, string prefix, List<ComplianceCounts> counts, IEnumerable<DateTimeOffset> at)
    {
        cmd.Parameters.AddWithValue(prefix + "a", counts.Select(c => c.Applicable).ToArray());
        cmd.Parameters.AddWithValue(prefix + "i", counts.Select(c => c.Installed).ToArray());
        cmd.Parameters.AddWithValue(prefix + "m", counts.Select(c => c.Missing).ToArray());
        cmd.Parameters.AddWithValue(prefix + "x", counts.Select(c => c.Superseded).ToArray());
        cmd.Parameters.AddWithValue(prefix + "cr", counts.Select(c => c.Critical).ToArray());
        cmd.Parameters.AddWithValue(prefix + "im", counts.Select(c => c.Important).ToArray());
        cmd.Parameters.AddWithValue(prefix + "at", at.ToArray());
    }

    /// <summary>
    /// Every computer's rows (the full analysis): staged by COPY, then merged into the tables as differences, with the
    /// bulletin and update counters recounted; a computer no longer analysed loses its rows.
    /// </summary>
    public static async Task<long> WriteAllAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<ComputerAnalysis> all, DateTimeOffset? stamp, CancellationToken ct)
    {
        await using (var temp = new NpgsqlCommand($"""
            create temp table new_state (like {S}.{ReadModels.ComplianceState}) on commit drop;
            create temp table new_computer (like {S}.{ReadModels.ComplianceComputer}) on commit drop;
            create temp table new_vulnerability (like {S}.{ReadModels.ComplianceVulnerability}) on commit drop;
            create temp table new_family (like {S}.{ReadModels.ComplianceComputerFamily}) on commit drop;
            """, conn, tx))
        {
            if (stamp is { } at) History.ReadModelHistory.Stamp(temp, at);
            await temp.ExecuteNonQueryAsync(ct);
        }
        long rows = 0;
        await using (var copy = await conn.BeginBinaryImportAsync($"copy new_state (computer_id, update_key, {StateValues}) from stdin (format binary)", ct))
        {
            foreach (var a in all)
                foreach (var r in a.Rows)
                {
                    await copy.WriteRowAsync(ct, a.Id, r.Key, r.BulletinId, r.UpdateId, r.Product, r.Family, r.State);
                    rows++;
                }
            await copy.CompleteAsync(ct);
        }
        await using (var copy = await conn.BeginBinaryImportAsync($"copy new_computer (computer_id, {string.Join(", ", ComputerValues)}) from stdin (format binary)", ct))
        {
            foreach (var a in all)
            {
                var c = ComplianceCounts.Of(a.Rows.Select(r => (r.State, r.Severity)));
                await copy.WriteRowAsync(ct, a.Id, a.Name, c.Applicable, c.Installed, c.Missing, c.Superseded, c.Critical, c.Important, a.At);
            }
            await copy.CompleteAsync(ct);
        }
        await ProductFindings.CopyAllAsync(conn, "new_vulnerability", all.Select(a => (a.Id, a.Findings)), ct);
        await ComputerFamilyCounts.CopyAllAsync(conn, "new_family", all.Select(a => (a.Id, a.Name, a.At, a.Rows.Select(r => (r.Family, r.State, r.Severity)))), ct);
        await using var merge = new NpgsqlCommand(
            "analyze new_state; analyze new_computer; analyze new_vulnerability; analyze new_family;" +
            ComplianceMerge.Replace(ReadModels.ComplianceState, ["computer_id", "update_key"], StateValues.Split(", "), "new_state", "true") +
            ComplianceMerge.Replace(ReadModels.ComplianceComputer, ["computer_id"], ComputerValues, "new_computer", "true") +
            ComplianceMerge.Replace(ReadModels.ComplianceVulnerability, ["computer_id", "vulnerability_id"], ProductFindings.Values, "new_vulnerability", "true") +
            ComplianceMerge.Replace(ReadModels.ComplianceComputerFamily, ["computer_id", "family"], ComputerFamilyCounts.Values, "new_family", "true") +
            ComplianceMerge.AllCounters + "drop table new_state; drop table new_computer; drop table new_vulnerability; drop table new_family;", conn, tx) { CommandTimeout = 0 };
        await merge.ExecuteNonQueryAsync(ct);
        return rows;
    }
}
