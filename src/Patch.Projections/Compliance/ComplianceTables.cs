using Npgsql;
using Patch.Domain.Inventory.Products;

namespace Patch.Projections.Compliance;

/// <summary>
/// The fleet-scale read model of vulnerability analysis (ADR 0010): one row per (computer, applicable update) and
/// counters per bulletin, update and computer kept with every change, so a report page reads a few rows instead of
/// grouping millions. Derived data: <see cref="VulnerabilityAnalysis.RecomputeAllAsync"/> rebuilds it from the
/// computers' inventories and the catalog. Every version of every row is kept (ADR 0019) for <c>asOf</c>.
/// </summary>
public static class ComplianceTables
{
    public const string Schema = ReadModels.Schema;

    public static readonly string Ddl = $"""
        create schema if not exists {Schema};
        create table if not exists {Schema}.{ReadModels.ComplianceState} (
            computer_id text not null, update_key text not null, bulletin_id text not null, update_id text not null,
            product text not null, state smallint not null, primary key (computer_id, update_key));
        create index if not exists ix_compliance_state_bulletin on {Schema}.{ReadModels.ComplianceState} (bulletin_id, state);
        create index if not exists ix_compliance_state_update on {Schema}.{ReadModels.ComplianceState} (update_key, state);
        -- The missing rows alone (a few in a hundred), by bulletin: which computers miss what (vulnerabilities, home page) without reading the installed ones.
        create index if not exists ix_compliance_state_missing on {Schema}.{ReadModels.ComplianceState} (bulletin_id, computer_id) where state = 2;
        create table if not exists {Schema}.{ReadModels.ComplianceBulletin} (
            bulletin_id text primary key, applicable int not null, installed int not null, missing int not null, superseded int not null);
        -- The reports' default order is "missing desc nulls last": an index in that order serves a page without sorting the table.
        drop index if exists {Schema}.ix_compliance_bulletin_missing;
        create index if not exists ix_compliance_bulletin_by_missing on {Schema}.{ReadModels.ComplianceBulletin} (missing desc nulls last, bulletin_id);
        create table if not exists {Schema}.{ReadModels.ComplianceUpdate} (
            update_key text primary key, bulletin_id text not null, update_id text not null, product text not null,
            applicable int not null, installed int not null, missing int not null, superseded int not null);
        -- The reports' default order is "missing desc nulls last": an index in that order serves a page without sorting the table.
        drop index if exists {Schema}.ix_compliance_update_missing;
        create index if not exists ix_compliance_update_by_missing on {Schema}.{ReadModels.ComplianceUpdate} (missing desc nulls last, update_key);
        create table if not exists {Schema}.{ReadModels.ComplianceComputer} (
            computer_id text primary key, name text not null, applicable int not null, installed int not null, missing int not null,
            superseded int not null, missing_critical int not null, missing_important int not null, analysed_at timestamptz not null);
        -- The reports' default order is "missing desc nulls last": an index in that order serves a page without sorting the table.
        drop index if exists {Schema}.ix_compliance_computer_missing;
        create index if not exists ix_compliance_computer_by_missing on {Schema}.{ReadModels.ComplianceComputer} (missing desc nulls last, name);
        -- A drill-down's page walks the computers in name order and probes each one's rows (not every row of the bulletin, sorted).
        create index if not exists ix_compliance_computer_by_name on {Schema}.{ReadModels.ComplianceComputer} (name, computer_id);
        alter table {Schema}.{ReadModels.ComplianceState} add column if not exists family text not null default '';
        alter table {Schema}.{ReadModels.ComplianceUpdate} add column if not exists family text not null default '';
        create index if not exists ix_compliance_update_bulletin on {Schema}.{ReadModels.ComplianceUpdate} (bulletin_id, family);
        create table if not exists {Schema}.{ReadModels.ComplianceVulnerability} (
            computer_id text not null, vulnerability_id text not null, cve text not null, product text not null, family text not null,
            installed_version text, fixed_build text, severity smallint not null, state smallint not null, reason text not null,
            primary key (computer_id, vulnerability_id));
        create index if not exists ix_compliance_vulnerability_state on {Schema}.{ReadModels.ComplianceVulnerability} (state, family, cve);
        {ComputerFamilyCounts.Ddl}
        create table if not exists {Schema}.{ReadModels.CatalogStamp} (id int primary key check (id = 1), at timestamptz not null);
        """;

    /// <summary>
    /// Creates the tables, and fills the product family of rows written before it existed (an empty family): the
    /// family is a function of the product name (<see cref="ProductFamilies.Of"/>), so each distinct product is
    /// classified once and its rows updated, without a full analysis.
    /// </summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using (var cmd = db.CreateCommand(Ddl)) await cmd.ExecuteNonQueryAsync(ct);
        // A store from before the catalog's stamp was kept: the last change of a bulletin stands for it, once.
        await using (var stamp = db.CreateCommand($"""
            insert into {Schema}.{ReadModels.CatalogStamp} (id, at)
            select 1, max(mt_last_modified) from {Schema}.{PatchProjections.BulletinTable}
            where not exists (select 1 from {Schema}.{ReadModels.CatalogStamp}) having count(*) > 0
            """)) await stamp.ExecuteNonQueryAsync(ct);
        await FillFamiliesAsync(db, ct);
        await ComputerFamilyCounts.FillAsync(db, ct);
    }

    private static async Task FillFamiliesAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        var products = new List<string>();
        await using (var cmd = db.CreateCommand($"select distinct product from {Schema}.{ReadModels.ComplianceUpdate} where family = ''"))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) products.Add(reader.GetString(0));
        if (products.Count == 0) return;
        await using var fill = db.CreateCommand($"""
            update {Schema}.{ReadModels.ComplianceUpdate} u set family = t.family from unnest(@products, @families) as t(product, family) where u.product = t.product and u.family = '';
            update {Schema}.{ReadModels.ComplianceState} s set family = t.family from unnest(@products, @families) as t(product, family) where s.product = t.product and s.family = '';
            """);
        fill.Parameters.AddWithValue("products", products.ToArray());
        fill.Parameters.AddWithValue("families", products.Select(p => ProductFamilies.Of(p).Id).ToArray());
        fill.CommandTimeout = 0;
        await fill.ExecuteNonQueryAsync(ct);
    }

    public static async Task TruncateAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            $"truncate {Schema}.{ReadModels.ComplianceState}, {Schema}.{ReadModels.ComplianceBulletin}, {Schema}.{ReadModels.ComplianceUpdate}, {Schema}.{ReadModels.ComplianceComputer}, {Schema}.{ReadModels.ComplianceVulnerability}, {Schema}.{ReadModels.ComplianceComputerFamily}, {Schema}.{ReadModels.CatalogStamp}", conn, tx);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
