using Npgsql;

namespace Patch.Projections;

/// <summary>
/// Where the read models live: the PostgreSQL schema and the names of the tables Patch keeps itself (the Marten
/// document tables are named in <see cref="PatchProjections"/>). Reports and writers name a table through these.
/// </summary>
public static class ReadModels
{
    /// <summary>The PostgreSQL schema holding Patch's events and read models.</summary>
    public const string Schema = "patch";

    // Views (ADR 0035): each computer's rows are its inventory shape's rows.
    public const string ComplianceState = "compliance_state";
    public const string ComplianceBulletin = "compliance_bulletin";
    public const string ComplianceUpdate = "compliance_update";
    public const string ComplianceComputer = "compliance_computer";
    public const string ComplianceComputerFamily = "compliance_computer_family";
    public const string ComplianceVulnerability = "compliance_vulnerability";

    // The tables behind them: computers → shapes, and each shape's rows and counters.
    public const string ComplianceMember = "compliance_member";
    public const string ComplianceShape = "compliance_shape";
    public const string ComplianceShapeState = "compliance_shape_state";
    public const string ComplianceShapeFamily = "compliance_shape_family";
    public const string ComplianceShapeVulnerability = "compliance_shape_vulnerability";
    public const string DeliveryStatus = "delivery_status";
    public const string DeliveryLatest = "delivery_latest";
    public const string DeliveryCounts = "delivery_counts";
    public const string RestartState = "restart_state";

    /// <summary>One row: when the catalog's facts last changed (the transaction of the import that changed them).</summary>
    public const string CatalogStamp = "catalog_stamp";

    /// <summary>
    /// The statement an import runs in its own transaction when it appended catalog facts: the analyses derived from the
    /// new catalog are true from then (<c>now()</c> is the events' own timestamp).
    /// </summary>
    public const string MarkCatalogChanged =
        $"insert into {Schema}.{CatalogStamp} (id, at) values (1, now()) on conflict (id) do update set at = excluded.at";

    /// <summary>
    /// A column added to <paramref name="table"/> with its value in every row from <paramref name="expression"/> over the
    /// row's other columns: added generated (the table is rewritten with it — no trigger fires, no old version of a row is
    /// left behind), then made a plain column its writers set. The expression must be immutable.
    /// </summary>
    public static string DerivedColumnDdl(string table, string column, string type, string expression) => $"""
        alter table {table} add column {column} {type} generated always as ({expression}) stored;
        alter table {table} alter column {column} drop expression;
        """;

    /// <summary>Whether <paramref name="table"/> exists without <paramref name="column"/> (a column to add and fill).</summary>
    public static async Task<bool> LacksColumnAsync(NpgsqlDataSource db, string table, string column, CancellationToken ct)
    {
        await using var probe = db.CreateCommand("""
            select to_regclass($1) is not null and not exists (select from pg_attribute where attrelid = to_regclass($1) and attname = $2 and not attisdropped)
            """);
        probe.Parameters.Add(new() { Value = table });
        probe.Parameters.Add(new() { Value = column });
        return (bool)(await probe.ExecuteScalarAsync(ct))!;
    }

    /// <summary>How a trigram index is kept (<see cref="TrigramIndexes"/>).</summary>
    public enum Trigrams
    {
        /// <summary>GIN, each row's entries written with it.</summary>
        Gin,
        /// <summary>GIN whose new entries wait in a pending list, merged in bulk (<c>gin_clean_pending_list</c>).</summary>
        GinPending,
        /// <summary>
        /// GiST: one entry per row, however many trigrams its text has (a long description: hundreds), found by a walk
        /// of signatures; a third of GIN's cost to write such a text, as fast to search a few thousand rows (ADR 0045).
        /// </summary>
        Gist,
    }

    /// <summary>
    /// The signature a trigram GiST index keeps above its leaves (which hold each row's trigrams): 2,048 bits, so that
    /// the pages above a thousand descriptions still tell most of them apart (the default, 96 bits, would be all ones).
    /// </summary>
    public const int GistSignatureBytes = 256;

    /// <summary>
    /// Trigram indexes for a search by <c>like '%…%'</c> (each: its name, the table, the column, how it is kept), where
    /// PostgreSQL's pg_trgm extension can be had (a contrib module, trusted: a database owner may create it); without
    /// it, a notice that <paramref name="search"/> scans. Idempotent.
    /// </summary>
    public static string TrigramIndexes(string search, params (string Name, string Table, string Column, Trigrams Kind)[] indexes) => $"""
        do $trgm$
        declare
          ext_schema text;
        begin
          begin
            create extension if not exists pg_trgm;
          exception when others then
            raise notice 'pg_trgm is not available (%): {search} scans', sqlerrm;
          end;
          select extnamespace::regnamespace::text into ext_schema from pg_extension where extname = 'pg_trgm';
          if ext_schema is not null then
            {string.Join("\n    ", indexes.Select(TrigramIndex))}
          end if;
        end $trgm$;
        """;

    private static string TrigramIndex((string Name, string Table, string Column, Trigrams Kind) i) => i.Kind == Trigrams.Gist
        ? $"execute format('create index if not exists {i.Name} on {i.Table} using gist ({i.Column} %s.gist_trgm_ops(siglen = {GistSignatureBytes}))', ext_schema);"
        : $"execute format('create index if not exists {i.Name} on {i.Table} using gin ({i.Column} %s.gin_trgm_ops)', ext_schema);\n    " +
          $"alter index {Schema}.{i.Name} set (fastupdate = {(i.Kind == Trigrams.GinPending ? "on" : "off")});";
}
