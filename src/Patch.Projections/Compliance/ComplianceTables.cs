using Npgsql;

namespace Patch.Projections.Compliance;

/// <summary>
/// The fleet-scale read model of vulnerability analysis (ADR 0010, ADR 0035). Computers of one inventory share their
/// analysis, so the rows belong to the inventory's <em>shape</em> (the digest of its JSON): each computer is a member of
/// one shape (compliance_member), each shape has its rows, counters per family and product findings; the per-computer
/// relations reports read (compliance_state, compliance_computer, compliance_computer_family, compliance_vulnerability)
/// are views joining the two, so a new month rewrites a few thousand shapes' rows, not every computer's. Counters per
/// bulletin and update are Σ shape rows × members, kept with every change. Derived data:
/// <see cref="VulnerabilityAnalysis.RecomputeAsync"/> rebuilds it from the computers' inventories and the catalog.
/// Every version of every table row is kept (ADR 0019) for <c>asOf</c>; a view asked <c>asOf</c> joins the versions
/// of its tables valid then (<see cref="Select"/>).
/// </summary>
public static class ComplianceTables
{
    public const string Schema = ReadModels.Schema;

    /// <summary>The views of per-computer rows, each a join of the members with one of the shapes' tables.</summary>
    public static readonly string[] Views = [ReadModels.ComplianceState, ReadModels.ComplianceComputer, ReadModels.ComplianceComputerFamily, ReadModels.ComplianceVulnerability];

    /// <summary>
    /// The query behind a view, with each table named through <paramref name="table"/> (the table itself, or its versions
    /// valid at an instant): the same columns, in the same order, as the per-computer tables had.
    /// </summary>
    public static string Select(string view, Func<string, string> table) => view switch
    {
        ReadModels.ComplianceState => $"""
            select m.computer_id, s.update_key, s.bulletin_id, s.update_id, s.product, s.state, s.family
            from {table(ReadModels.ComplianceMember)} m join {table(ReadModels.ComplianceShapeState)} s on s.shape = m.shape
            """,
        ReadModels.ComplianceComputer => $"""
            select m.computer_id, m.name, c.applicable, c.installed, c.missing, c.superseded, c.missing_critical, c.missing_important,
                   greatest(m.analysed_at, c.analysed_at) analysed_at
            from {table(ReadModels.ComplianceMember)} m join {table(ReadModels.ComplianceShape)} c on c.shape = m.shape
            """,
        ReadModels.ComplianceComputerFamily => $"""
            select m.computer_id, f.family, m.name, f.applicable, f.installed, f.missing, f.superseded, f.missing_critical, f.missing_important,
                   greatest(m.analysed_at, f.analysed_at) analysed_at
            from {table(ReadModels.ComplianceMember)} m join {table(ReadModels.ComplianceShapeFamily)} f on f.shape = m.shape
            """,
        ReadModels.ComplianceVulnerability => $"""
            select m.computer_id, v.vulnerability_id, v.cve, v.product, v.family, v.installed_version, v.fixed_build, v.severity, v.state, v.reason
            from {table(ReadModels.ComplianceMember)} m join {table(ReadModels.ComplianceShapeVulnerability)} v on v.shape = m.shape
            """,
        _ => throw new ArgumentOutOfRangeException(nameof(view), view, "not a compliance view"),
    };

    private const string Counters =
        "applicable int not null, installed int not null, missing int not null, superseded int not null, missing_critical int not null, missing_important int not null";

    public static readonly string Ddl = $"""
        create schema if not exists {Schema};
        create table if not exists {Schema}.{ReadModels.ComplianceMember} (
            computer_id text primary key, name text not null, shape text not null, analysed_at timestamptz not null);
        -- A drill-down's page walks the computers in name order and probes each one's shape (not every row of the bulletin,
        -- sorted): the shape is in the index, so the walk reads no table page.
        create index if not exists ix_compliance_member_by_name_shape on {Schema}.{ReadModels.ComplianceMember} (name, computer_id) include (shape);
        create index if not exists ix_compliance_member_shape on {Schema}.{ReadModels.ComplianceMember} (shape, name);
        create table if not exists {Schema}.{ReadModels.ComplianceShape} (
            shape text primary key, members int not null, {Counters}, analysed_at timestamptz not null);
        create index if not exists ix_compliance_shape_by_missing on {Schema}.{ReadModels.ComplianceShape} (missing desc nulls last, shape);
        create table if not exists {Schema}.{ReadModels.ComplianceShapeState} (
            shape text not null, update_key text not null, bulletin_id text not null, update_id text not null,
            product text not null, family text not null, state smallint not null, primary key (shape, update_key));
        create index if not exists ix_compliance_shape_state_bulletin on {Schema}.{ReadModels.ComplianceShapeState} (bulletin_id, state);
        create index if not exists ix_compliance_shape_state_update on {Schema}.{ReadModels.ComplianceShapeState} (update_key, state);
        create table if not exists {Schema}.{ReadModels.ComplianceShapeFamily} (
            shape text not null, family text not null, {Counters}, analysed_at timestamptz not null, primary key (shape, family));
        create table if not exists {Schema}.{ReadModels.ComplianceShapeVulnerability} (
            shape text not null, vulnerability_id text not null, cve text not null, product text not null, family text not null,
            installed_version text, fixed_build text, severity smallint not null, state smallint not null, reason text not null,
            primary key (shape, vulnerability_id));
        create index if not exists ix_compliance_shape_vulnerability_state on {Schema}.{ReadModels.ComplianceShapeVulnerability} (state, family, cve);
        create table if not exists {Schema}.{ReadModels.ComplianceBulletin} (
            bulletin_id text primary key, applicable int not null, installed int not null, missing int not null, superseded int not null);
        -- The reports' default order is "missing desc nulls last": an index in that order serves a page without sorting the table.
        create index if not exists ix_compliance_bulletin_by_missing on {Schema}.{ReadModels.ComplianceBulletin} (missing desc nulls last, bulletin_id);
        create table if not exists {Schema}.{ReadModels.ComplianceUpdate} (
            update_key text primary key, bulletin_id text not null, update_id text not null, product text not null,
            applicable int not null, installed int not null, missing int not null, superseded int not null, family text not null default '');
        create index if not exists ix_compliance_update_by_missing on {Schema}.{ReadModels.ComplianceUpdate} (missing desc nulls last, update_key);
        create index if not exists ix_compliance_update_bulletin on {Schema}.{ReadModels.ComplianceUpdate} (bulletin_id, family);
        {string.Concat(Views.Select(v => $"create or replace view {Schema}.{v} as {Select(v, t => $"{Schema}.{t}")};\n"))}
        create table if not exists {Schema}.{ReadModels.CatalogStamp} (id int primary key check (id = 1), at timestamptz not null);
        """;

    /// <summary>
    /// Every version of every computer's rows (time to remediate reads a computer's rows through time): the versions of
    /// its memberships and of its shapes' rows, each pair over the time both held. Created after the histories.
    /// </summary>
    public static readonly string HistoryViewDdl = $"""
        create or replace view {Schema}.{ReadModels.ComplianceState}_history as
        select greatest(m.valid_from, s.valid_from) valid_from, least(m.valid_to, s.valid_to) valid_to,
               m.computer_id, s.update_key, s.bulletin_id, s.update_id, s.product, s.state, s.family
        from {Schema}.{ReadModels.ComplianceMember}_history m join {Schema}.{ReadModels.ComplianceShapeState}_history s
          on s.shape = m.shape and s.valid_from < m.valid_to and m.valid_from < s.valid_to;
        """;

    /// <summary>
    /// Creates the tables and views. A store from before shapes (per-computer tables, ADR 0010) has its compliance tables
    /// and their histories dropped: the caller rebuilds them from the events (<see cref="ComplianceRebuild"/>), history
    /// included. Returns whether that is needed.
    /// </summary>
    public static async Task<bool> EnsureAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        bool perComputer;
        await using (var old = db.CreateCommand($"select coalesce((select relkind = 'r' from pg_class where oid = to_regclass('{Schema}.{ReadModels.ComplianceState}')), false)"))
            perComputer = (bool)(await old.ExecuteScalarAsync(ct))!;
        if (perComputer)
        {
            var dropped = new[] { ReadModels.ComplianceState, ReadModels.ComplianceComputer, ReadModels.ComplianceComputerFamily, ReadModels.ComplianceVulnerability,
                ReadModels.ComplianceBulletin, ReadModels.ComplianceUpdate };
            // Views and tables alike (a store part-way through this migration may have some of each).
            var names = string.Join(", ", dropped.Concat(dropped.Select(t => t + "_history")).Select(n => $"'{n}'"));
            await using var drop = db.CreateCommand($$"""
                do $$ declare r record; begin
                  for r in select c.oid::regclass::text as name, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
                           where n.nspname = '{{Schema}}' and c.relname = any(array[{{names}}]) and c.relkind in ('r', 'v') loop
                    execute (case r.relkind when 'v' then 'drop view if exists ' else 'drop table if exists ' end) || r.name || ' cascade';
                  end loop;
                  if to_regclass('{{Schema}}.{{History.ReadModelHistory.KeptSinceTable}}') is not null then
                    delete from {{Schema}}.{{History.ReadModelHistory.KeptSinceTable}} where table_name = any(array[{{names}}]);
                  end if;
                end $$;
                {{string.Concat(dropped.Select(t => $"drop function if exists {Schema}.{t}_keep_history();"))}}
                delete from {{Schema}}.{{ReadModels.CatalogStamp}};
                """);
            drop.CommandTimeout = 0;
            await drop.ExecuteNonQueryAsync(ct);
        }
        await using (var cmd = db.CreateCommand(Ddl)) await cmd.ExecuteNonQueryAsync(ct);
        // A store from before the catalog's stamp was kept: the last change of a bulletin stands for it, once.
        await using (var stamp = db.CreateCommand($"""
            insert into {Schema}.{ReadModels.CatalogStamp} (id, at)
            select 1, max(mt_last_modified) from {Schema}.{PatchProjections.BulletinTable}
            where not exists (select 1 from {Schema}.{ReadModels.CatalogStamp}) having count(*) > 0
            """)) await stamp.ExecuteNonQueryAsync(ct);
        return perComputer;
    }

    /// <summary>The tables holding the compliance read model (each versioned).</summary>
    public static readonly string[] Tables = [ReadModels.ComplianceMember, ReadModels.ComplianceShape, ReadModels.ComplianceShapeState, ReadModels.ComplianceShapeFamily,
        ReadModels.ComplianceShapeVulnerability, ReadModels.ComplianceBulletin, ReadModels.ComplianceUpdate];

    public static async Task TruncateAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            $"truncate {string.Join(", ", Tables.Select(t => $"{Schema}.{t}"))}, {Schema}.{ReadModels.CatalogStamp}", conn, tx);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
