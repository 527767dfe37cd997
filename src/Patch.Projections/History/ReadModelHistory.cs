using Npgsql;

namespace Patch.Projections.History;

/// <summary>
/// One read-model table whose every version is kept (ADR 0019): its name, the columns that identify a row, and the
/// columns that change on every write without changing what a report shows (Marten's bookkeeping). <c>Listed</c>, for a
/// table of one key whose rows get many versions (counters moved by every live write): its history also keeps the list of
/// every key it ever held (<c>{table}_history_keys</c>, with these columns of the row beside the key); a read <c>asOf</c>
/// then finds each key's version by one index probe instead of walking every version (ADR 0036).
/// </summary>
public sealed record HistoryTable(string Name, IReadOnlyList<string> Keys, IReadOnlyList<string>? Ignored = null, IReadOnlyList<string>? Listed = null)
{
    /// <summary>
    /// A table of few rows whose every write is a version (the shapes' counters): its versions valid at an instant are
    /// found by a GiST index over their validity (<c>tstzrange(valid_from, valid_to) @> instant</c>) — the btree on
    /// <c>valid_to</c> reads every version ended since the instant (ADR 0040). Each write also leaves the version it
    /// closed dead, and the index's entries for it stay until a vacuum: the history is vacuumed every 20,000 dead
    /// versions instead of a fifth of the table (at a million computers, a storm left 33,784 entries to sort through for
    /// 4,888 shapes at an instant inside it, 88 → 23 ms after a vacuum of 0.6 s).
    /// </summary>
    public bool Ranged { get; init; }

    /// <summary>
    /// Columns the live table gained after versions were kept, each with the expression over a version's own columns that
    /// gives its value (a Marten duplicated field: from the document). When the history lacks such a column it is added
    /// and filled in every version already kept, so a read <c>asOf</c> sorts and filters those versions by it too; columns
    /// without an expression are added empty.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Derived { get; init; }

    /// <summary>A Marten document table: keyed by id; its version and modification time are bookkeeping.</summary>
    public static HistoryTable Document(string name) => new(name, ["id"], ["mt_last_modified", "mt_version", "mt_dotnet_type"]);

    public string HistoryName => Name + "_history";

    /// <summary>The list of keys ever held, when the table is <c>Listed</c>.</summary>
    public string KeysName => Name + "_history_keys";
}

/// <summary>
/// Validity intervals for read models (ADR 0019). Every table named here gets a twin <c>{table}_history</c> holding each
/// version of each row with <c>valid_from</c> and <c>valid_to</c> ('infinity' while current), written by statement triggers in
/// the same statement — so the history is exactly what the table held, whichever code wrote it. A report asked
/// <c>asOf</c> T reads <see cref="Relation"/> instead of the table: the same columns, the versions valid at T.
/// <para>
/// The instant a version starts is the instant of the events it reflects: Marten writes inline projections in the
/// events' own transaction, and every event is recorded at its transaction's <c>now()</c> (<see cref="EventTimeDdl"/>). A
/// writer that derives rows from earlier events (the vulnerability analysis, after the agent's request committed its
/// inventory) sets <see cref="StampSetting"/> to those events' time for its transaction (<see cref="Stamp"/>).
/// A version never starts before the one it replaces (a late writer with an older stamp is clamped).
/// </para>
/// </summary>
public static class ReadModelHistory
{
    public const string Schema = ReadModels.Schema;

    /// <summary>The transaction-local setting naming the instant the rows written now became true.</summary>
    public const string StampSetting = "patch.valid_from";

    private const string StampExpression = $"coalesce(nullif(current_setting('{StampSetting}', true), '')::timestamptz, now())";

    /// <summary>Every versioned read model: the compliance tables and the Marten documents reports list.</summary>
    public static readonly HistoryTable[] Tables =
    [
        new(ReadModels.ComplianceMember, ["computer_id"]),
        new(ReadModels.ComplianceShape, ["shape"]) { Ranged = true },
        new(ReadModels.ComplianceShapeState, ["shape", "update_key"]),
        new(ReadModels.ComplianceShapeFamily, ["shape", "family"]),
        new(ReadModels.ComplianceShapeVulnerability, ["shape", "vulnerability_id"]),
        // A version per live write that moved them (ADR 0035): read asOf by key (ADR 0036).
        new(ReadModels.ComplianceBulletin, ["bulletin_id"], Listed: []),
        new(ReadModels.ComplianceUpdate, ["update_key"], Listed: ["bulletin_id"]),
        new(ReadModels.RestartState, ["computer_id"]),
        new(ReadModels.DeliveryLatest, ["policy_id", "update_id", "computer_id"]),
        new(ReadModels.DeliveryCounts, ["policy_id", "update_id", "day", "status"]),
        HistoryTable.Document(PatchProjections.BulletinRowTable),
        HistoryTable.Document(PatchProjections.KnownExploitedTable),
        HistoryTable.Document(PatchProjections.ComputerRowTable) with
        {
            Derived = new Dictionary<string, string> { ["enrolled_at"] = Computers.ComputerCounts.EnrolledAt },
        },
        HistoryTable.Document(PatchProjections.ServerTaskRunTable),
        HistoryTable.Document(PatchProjections.PolicyTable),
        HistoryTable.Document(PatchProjections.TargetTable),
        HistoryTable.Document(PatchProjections.CustomSeverityLevelsTable),
        HistoryTable.Document(PatchProjections.MaintenanceWindowTable),
        HistoryTable.Document(PatchProjections.AgentConfigurationTable),
    ];

    /// <summary>
    /// The rows of <paramref name="table"/> as they stood at the instant in parameter <paramref name="parameter"/>, as a
    /// parenthesised relation with the table's own columns (give it an alias); the table itself when there is no instant.
    /// A compliance view (ADR 0035) joins the versions of its tables valid at that instant. A listed table is read key by
    /// key, the version that holds at the instant (a zero-length version ending when the one valid then ends is passed
    /// over, as <see cref="One"/> does); <paramref name="keys"/>, a condition on its list (alias <c>b</c>), narrows which
    /// keys are probed — the caller still states the same condition on the rows, so the answer does not depend on it.
    /// </summary>
    public static string Relation(string table, bool asOf, string parameter = "asOf", string? keys = null) => !asOf ? $"{Schema}.{table}"
        : Compliance.ComplianceTables.Views.Contains(table) ? $"({Compliance.ComplianceTables.Select(table, t => Relation(t, true, parameter) + " ")})"
        : Tables.FirstOrDefault(t => t.Name == table) is { Listed: not null } listed ? $"""
            (select h.* from {Schema}.{listed.KeysName} b cross join lateral
               (select * from {Schema}.{listed.HistoryName} x where x.{listed.Keys[0]} = b.{listed.Keys[0]} and x.valid_to > @{parameter} and x.valid_from <= @{parameter}
                order by x.valid_to limit 1) h{(keys is null ? "" : $" where {keys}")})
            """
        : Tables.FirstOrDefault(t => t.Name == table) is { Ranged: true }
            ? $"(select * from {Schema}.{table}_history where tstzrange(valid_from, valid_to) @> @{parameter}::timestamptz and valid_from <= @{parameter} and valid_to > @{parameter})"
        : $"(select * from {Schema}.{table}_history where valid_from <= @{parameter} and valid_to > @{parameter})";

    /// <summary>
    /// The one row of <paramref name="table"/> whose whole key <paramref name="key"/> names (a condition on alias <c>x</c>,
    /// typically on a lateral join's outer row), as it stood at the instant in <paramref name="parameter"/>: a probe of the
    /// key's versions in validity order (its <c>(key, valid_to)</c> index), for a page that joins a few rows to their
    /// versions — a join to <see cref="Relation"/> is planned from a guess of how many versions are valid at the instant.
    /// </summary>
    public static string One(string table, bool asOf, string key, string parameter = "asOf") => !asOf ? $"(select * from {Schema}.{table} x where {key})"
        : Tables.Any(t => t.Name == table)
            ? $"(select * from {Schema}.{table}_history x where {key} and x.valid_from <= @{parameter} and x.valid_to > @{parameter} order by x.valid_to limit 1)"
            : throw new ArgumentException($"{table} keeps no history of its own.", nameof(table));

    /// <summary>
    /// Marks the rows the command writes as true from <paramref name="at"/> (the events they were derived from): the
    /// setting is made by the command's first statement, in the same round trip as the writes.
    /// </summary>
    public static NpgsqlCommand Stamp(NpgsqlCommand cmd, DateTimeOffset at)
    {
        cmd.CommandText = $"select set_config('{StampSetting}', @valid_from, true);\n" + cmd.CommandText;
        cmd.Parameters.AddWithValue("valid_from", at.UtcDateTime.ToString("O"));
        return cmd;
    }

    /// <summary>The same on its own, before a statement that takes positional parameters (which cannot share a command).</summary>
    public static async Task StampAsync(NpgsqlConnection conn, NpgsqlTransaction tx, DateTimeOffset at, CancellationToken ct)
    {
        await using var cmd = Stamp(new NpgsqlCommand("", conn, tx), at);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Every event is recorded at its transaction's instant, PostgreSQL's <c>now()</c> (Marten would stamp each stream
    /// with the application's clock as it prepares it): the events of one transaction share one instant, the same one
    /// the history's versions start at, so <c>asOf</c> sees a transaction whole or not at all.
    /// </summary>
    public static readonly string EventTimeDdl = $"""
        create or replace function {Schema}.mt_events_recorded_at() returns trigger language plpgsql as $$
        begin
          -- An imported store keeps the instants its events were recorded at (docs/store-archive.md).
          if current_setting('patch.importing', true) is distinct from 'on' then
            NEW.timestamp := now();
          end if;
          return NEW;
        end $$;
        -- Rows already stamped with their transaction's instant (the agents' events, appended set-based: ADR 0034) skip the call.
        drop trigger if exists mt_events_recorded_at on {Schema}.mt_events;
        create trigger mt_events_recorded_at before insert on {Schema}.mt_events for each row when (NEW.timestamp is distinct from now())
          execute function {Schema}.mt_events_recorded_at();
        -- A stream's last-modified instant is its last events' (Marten may stamp it with the application's clock, taken
        -- before the transaction began): an analysis stamped with it is true from the same instant the rebuild sees.
        drop trigger if exists mt_streams_recorded_at on {Schema}.mt_streams;
        create trigger mt_streams_recorded_at before insert or update of timestamp on {Schema}.mt_streams for each row when (NEW.timestamp is distinct from now())
          execute function {Schema}.mt_events_recorded_at();
        """;

    /// <summary>Creates or brings up to date every history table and its triggers (idempotent; at start, after the tables exist).</summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using (var events = db.CreateCommand(EventTimeDdl)) await events.ExecuteNonQueryAsync(ct);
        foreach (var table in Tables) await EnsureAsync(db, table, ct);
    }

    public static async Task EnsureAsync(NpgsqlDataSource db, HistoryTable table, CancellationToken ct)
    {
        var columns = new List<(string Name, string Type)>();
        await using (var cmd = db.CreateCommand("""
            select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a
            where a.attrelid = to_regclass(@table) and a.attnum > 0 and not a.attisdropped order by a.attnum
            """))
        {
            cmd.Parameters.AddWithValue("table", $"{Schema}.{table.Name}");
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) columns.Add((reader.GetString(0), reader.GetString(1)));
        }
        if (columns.Count == 0) throw new InvalidOperationException($"Read model table {Schema}.{table.Name} does not exist.");
        // Without a command timeout: a column filled in every version, an index mirrored on millions of them (an upgrade).
        async Task RunAsync(string sql)
        {
            await using var cmd = db.CreateCommand(sql);
            cmd.CommandTimeout = 0;
            await cmd.ExecuteNonQueryAsync(ct);
        }
        // Columns derived from the document that the history lacks: filled in every version by the DDL (a rewrite), then
        // vacuumed (a rewritten table has no page marked all-visible for index-only scans) and analysed.
        // A new history gets them as plain columns with the others (it has no version to fill).
        var fill = new List<string>();
        foreach (var derived in (table.Derived?.Keys ?? []).Where(d => columns.Any(c => c.Name == d)))
            if (await ReadModels.LacksColumnAsync(db, $"{Schema}.{table.HistoryName}", derived, ct)) fill.Add(derived);
        await RunAsync(Ddl(table, columns, fill));
        await RunAsync(await MirroredIndexesAsync(db, table, ct));
        if (fill.Count > 0) await RunAsync($"vacuum (analyze) {Schema}.{table.HistoryName}");
    }

    /// <summary>
    /// The live table's indexes (not unique) on its history too: a report asked <c>asOf</c> sorts and filters on the same
    /// columns, so it gets the same access paths, with the validity test on each row it walks. The mirror of an index the
    /// live table no longer has goes (it would be written by every version kept and read by nothing).
    /// </summary>
    private static async Task<string> MirroredIndexesAsync(NpgsqlDataSource db, HistoryTable table, CancellationToken ct)
    {
        var statements = new List<string> { "select 1" };
        var mirrors = new HashSet<string>(StringComparer.Ordinal);
        var stale = new List<string>();
        await using var cmd = db.CreateCommand("""
            select tablename, indexname, indexdef from pg_indexes
            where schemaname = @schema and (tablename = @table or (tablename = @history and indexname like 'h\_%'))
            order by tablename = @history
            """);
        cmd.Parameters.AddWithValue("schema", Schema);
        cmd.Parameters.AddWithValue("table", table.Name);
        cmd.Parameters.AddWithValue("history", table.HistoryName);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var (name, definition) = (reader.GetString(1), reader.GetString(2));
            if (reader.GetString(0) == table.HistoryName)
            {
                if (!mirrors.Contains(name)) stale.Add(name);
                continue;
            }
            var on = $" ON {Schema}.{table.Name} ";
            if (!definition.Contains(on, StringComparison.Ordinal)) continue;
            var mirrored = name.Length <= 61 ? "h_" + name
                : "h_" + name[..50] + "_" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)))[..10].ToLowerInvariant();
            mirrors.Add(mirrored);
            var body = definition[(definition.IndexOf(on, StringComparison.Ordinal) + on.Length)..];
            statements.Add($"create index if not exists {mirrored} on {Schema}.{table.HistoryName} {body}");
        }
        statements.AddRange(stale.Select(name => $"drop index if exists {Schema}.{name}"));
        return string.Join(";\n", statements);
    }

    /// <summary>
    /// Per versioned table, the instant its history begins: a store that had rows before history was kept (an upgrade, an
    /// import) starts it then, with the rows it held; a new store, at its first start.
    /// </summary>
    public const string KeptSinceTable = "read_model_history";

    /// <summary>Empties every history (tests reset the store between cases).</summary>
    public static async Task TruncateAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(string.Join(";", Tables.Select(TruncateSql)), conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Empties a table's history (and its list of keys).</summary>
    public static string TruncateSql(HistoryTable t) => $"truncate {Schema}.{t.HistoryName}" + (t.Listed is null ? "" : $"; truncate {Schema}.{t.KeysName}");

    /// <summary>Empties the history of the table named <paramref name="table"/>.</summary>
    public static string TruncateSql(string table) => TruncateSql(Tables.Single(t => t.Name == table));

    private static string Ddl(HistoryTable t, List<(string Name, string Type)> columns, IReadOnlyCollection<string> fill)
    {
        var h = $"{Schema}.{t.HistoryName}";
        var names = columns.Select(c => c.Name).ToList();
        var list = string.Join(", ", names);
        var compared = names.Where(n => !(t.Ignored ?? []).Contains(n)).ToList();
        string Keys(string a, string b) => string.Join(" and ", t.Keys.Select(k => $"{a}.{k} = {b}.{k}"));
        string Row(string alias) => string.Join(", ", compared.Select(c => $"{alias}.{c}"));
        var function = $"{Schema}.{t.Name}_keep_history";
        // The columns to fill from others last: the others are there to fill them from.
        var addColumns = string.Concat(columns.Where(c => !fill.Contains(c.Name)).Select(c => $"alter table {h} add column if not exists {c.Name} {c.Type};\n"))
            + string.Concat(fill.Select(f => ReadModels.DerivedColumnDdl(h, f, columns.Single(c => c.Name == f).Type, t.Derived![f])));
        // A listed table's keys, with the columns kept beside them: every combination ever written, added as rows are
        // written and, when the list is new, taken from the history already kept.
        var listed = t.Listed is null ? [] : t.Keys.Concat(t.Listed).ToList();
        var keysTable = $"{Schema}.{t.KeysName}";
        var listColumns = string.Join(", ", listed);
        var keysDdl = t.Listed is null ? "" : $"""
            do $keys$ begin
              if to_regclass('{keysTable}') is null then
                create table {keysTable} ({string.Join(", ", listed.Select(c => $"{c} {columns.Single(x => x.Name == c).Type} not null"))}, primary key ({listColumns}));
                insert into {keysTable} ({listColumns}) select distinct {listColumns} from {h};
              end if;
            end $keys$;
            """;
        var listInserted = t.Listed is null ? "" : $"insert into {keysTable} ({listColumns}) select distinct {listColumns} from new_rows on conflict do nothing;";
        var listUpdated = t.Listed is not { Count: > 0 } ? "" : $"""
            insert into {keysTable} ({listColumns}) select distinct {string.Join(", ", listed.Select(c => "n." + c))} from new_rows n join old_rows o on {Keys("n", "o")}
              where ({string.Join(", ", t.Listed.Select(c => "n." + c))}) is distinct from ({string.Join(", ", t.Listed.Select(c => "o." + c))}) on conflict do nothing;
            """;
        // Statement triggers with transition tables: one set-based write per statement, however many rows it touched.
        // An update that changes no compared column writes no version; a version never starts before the one it closes.
        return $"""
            create table if not exists {Schema}.{KeptSinceTable} (table_name text primary key, kept_since timestamptz not null);
            create table if not exists {h} (valid_from timestamptz not null, valid_to timestamptz not null default 'infinity');
            {addColumns}
            create index if not exists ix_{t.HistoryName}_valid on {h} (valid_to, valid_from);
            {(t.Ranged ? $"""
                create index if not exists ix_{t.HistoryName}_during on {h} using gist (tstzrange(valid_from, valid_to));
                alter table {h} set (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000);
                """ : "")}
            create index if not exists ix_{t.HistoryName}_key on {h} ({string.Join(", ", t.Keys)}, valid_to);
            {keysDdl}
            create or replace function {function}() returns trigger language plpgsql as $$
            declare
              at timestamptz := {StampExpression};
            begin
              if TG_OP = 'TRUNCATE' then
                update {h} set valid_to = greatest(at, valid_from) where valid_to = 'infinity';
              elsif TG_OP = 'INSERT' then
                insert into {h} ({list}, valid_from) select {list}, at from new_rows;
                {listInserted}
              elsif TG_OP = 'DELETE' then
                update {h} h set valid_to = greatest(at, h.valid_from) from old_rows o where {Keys("h", "o")} and h.valid_to = 'infinity';
              else
                with changed as (
                       select n.* from new_rows n join old_rows o on {Keys("n", "o")} where ({Row("n")}) is distinct from ({Row("o")})),
                     closed as (
                       update {h} h set valid_to = greatest(at, h.valid_from) from changed c where {Keys("h", "c")} and h.valid_to = 'infinity'
                       returning {string.Join(", ", t.Keys.Select(k => "h." + k))}, h.valid_to)
                insert into {h} ({list}, valid_from)
                  select {string.Join(", ", names.Select(n => "c." + n))}, coalesce(x.valid_to, at) from changed c left join closed x on {Keys("x", "c")};
                {listUpdated}
              end if;
              return null;
            end $$;
            drop trigger if exists {t.Name}_history on {Schema}.{t.Name};
            {StatementTriggers.Ddl($"{t.Name}_history", $"{Schema}.{t.Name}", function)}
            insert into {Schema}.{KeptSinceTable} (table_name, kept_since) values ('{t.Name}', {StampExpression}) on conflict do nothing;
            insert into {h} ({list}, valid_from)
              select {list}, {StampExpression} from {Schema}.{t.Name} where not exists (select 1 from {h});
            """;
    }
}
