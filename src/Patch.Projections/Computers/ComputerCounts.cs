using Npgsql;

namespace Patch.Projections.Computers;

/// <summary>
/// How many computers the store knows and how many have an agent, per operating system and agent version, kept as the
/// computer rows are written (ADR 0037): the home page's configuration summary, and the total of the computers list
/// filtered by operating system or agent version, read a few rows instead of counting a million documents. Statement
/// triggers on the computer rows move the counts by the rows each statement inserted, deleted or changed (a truncate
/// empties them), in the writer's transaction — so they are what the rows are in every snapshot, whichever code wrote
/// the rows (the projection live, its rebuild, a restored store). The counts are spread over a few slots chosen by the
/// writing session, so concurrent enrolments do not queue on one row; a statement that changes no count writes nothing.
/// </summary>
public static class ComputerCounts
{
    public const string Table = "computer_counts";
    private const string S = ReadModels.Schema;
    private const string Rows = PatchProjections.ComputerRowTable;
    private const int Slots = 8;

    /// <summary>The trigram index of the lower-case names, for the list's name search.</summary>
    public const string NameSearchIndex = "ix_computer_row_name_trgm";

    /// <summary>The partial index that finds the computers with an agent by their last inventory.</summary>
    public const string StaleIndex = "ix_computer_row_agent_last_inventory";

    /// <summary>
    /// The enrolment instant of a row (or version) from its document, as Npgsql writes the duplicated field: the 100 ns
    /// ticks cut to microseconds, not rounded.
    /// </summary>
    public const string EnrolledAt = $@"{S}.mt_immutable_timestamptz(regexp_replace(data ->> 'enrolledAt', '(\.[0-9]{{6}})[0-9]+', '\1'))";

    /// <summary>
    /// Run before Marten's own migration: a store from before the enrolment column gets it here, filled by the table's
    /// rewrite (added as a column generated from the document, then made a plain one). Marten would fill it with one update
    /// of every row: the triggers that keep the counts, the name buckets and the history would each compare the million
    /// rows before and after (at 1,000,000 computers that update had not ended after 9 minutes), and every row would leave
    /// its old version behind (the table 1.7 → 2.7 GB). Derived from the document, the column changes none of them; the
    /// history fills its own versions the same way (<c>ReadModelHistory</c>, Derived).
    /// </summary>
    public static async Task FillBeforeMartenAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        if (!await ReadModels.LacksColumnAsync(db, $"{S}.{Rows}", "enrolled_at", ct)) return;
        await using var conn = await db.OpenConnectionAsync(ct);
        await using (var fill = new NpgsqlCommand(ReadModels.DerivedColumnDdl($"{S}.{Rows}", "enrolled_at", "timestamptz", EnrolledAt), conn) { CommandTimeout = 0 })
            await fill.ExecuteNonQueryAsync(ct);
        // A rewritten table has no page marked all-visible: until a vacuum marks them, an index-only scan visits the table
        // for every entry it passes (deep pages of the list took 0.2–1.6 s instead of 30–70 ms at 1,000,000).
        await using var vacuum = new NpgsqlCommand($"vacuum (analyze) {S}.{Rows}", conn) { CommandTimeout = 0 };
        await vacuum.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The list's sort columns other than the name, indexed with the id after them: a page by cursor in the list's order
    /// (sort value, then id) starts where the last one stopped, also inside a run of equal values (one agent version).
    /// </summary>
    public static readonly (string Name, string Column)[] SortIndexes =
        [("ix_computer_row_os_lower_id", "operating_system_lower"), ("ix_computer_row_agent_version_id", "agent_version"), ("ix_computer_row_inventory_id", "last_inventory_at"),
         ("ix_computer_row_enrolled_id", "enrolled_at")];

    /// <summary>The count of computers and of those with an agent, as a one-row SQL relation (columns computers, agents).</summary>
    public const string Select = $"(select coalesce(sum(computers), 0)::int computers, coalesce(sum(agents), 0)::int agents from {S}.{Table})";

    /// <summary>
    /// The number of computers whose lower-case operating system and agent version meet <paramref name="where"/> (a condition
    /// on the columns <c>os</c> and <c>agent_version</c>, '' where the row has none), as a scalar query.
    /// </summary>
    public static string CountWhere(string where) => $"select coalesce(sum(computers), 0)::bigint from {S}.{Table} where {where}";

    /// <summary>A row's key columns in the counts: its lower-case operating system and agent version ('' for none).</summary>
    private const string Key = "coalesce(operating_system_lower, ''), coalesce(agent_version, '')";

    /// <summary>Moves the counts by the rows of <paramref name="deltas"/> (columns: os, agent version, computers, agents), per group.</summary>
    private static string Move(string deltas) => $"""
        insert into {S}.{Table} as c (slot, os, agent_version, computers, agents)
            select pg_backend_pid() % {Slots}, os, agent_version, sum(computers), sum(agents) from ({deltas}) d (os, agent_version, computers, agents)
            group by os, agent_version having sum(computers) <> 0 or sum(agents) <> 0
            on conflict (os, agent_version, slot) do update set computers = c.computers + excluded.computers, agents = c.agents + excluded.agents
        """;

    private static readonly string Ddl = $"""
        do $counts$ begin
          -- Counted once from the rows when new, or when kept by an earlier version without the groups.
          if to_regclass('{S}.{Table}') is not null and not exists (select 1 from information_schema.columns
              where table_schema = '{S}' and table_name = '{Table}' and column_name = 'agent_version') then
            drop table {S}.{Table};
          end if;
          if to_regclass('{S}.{Table}') is null then
            create table {S}.{Table} (slot smallint not null, os text not null, agent_version text not null, computers bigint not null,
              agents bigint not null, primary key (os, agent_version, slot));
            insert into {S}.{Table} select 0, {Key}, count(*), count(*) filter (where agent_installed) from {S}.{Rows} group by 2, 3;
          end if;
        end $counts$;
        create or replace function {S}.{Table}_move() returns trigger language plpgsql as $$
        begin
          if TG_OP = 'TRUNCATE' then
            delete from {S}.{Table};
            return null;
          end if;
          -- The rows a statement wrote count in, the ones it replaced or removed count out, by group: an update that moved
          -- no computer between groups and changed no agent sums to nothing and writes nothing.
          if TG_OP = 'INSERT' then
            {Move($"select {Key}, 1, coalesce(agent_installed, false)::int from new_rows")};
          elsif TG_OP = 'DELETE' then
            {Move($"select {Key}, -1, -coalesce(agent_installed, false)::int from old_rows")};
          else
            {Move($"select {Key}, 1, coalesce(agent_installed, false)::int from new_rows union all select {Key}, -1, -coalesce(agent_installed, false)::int from old_rows")};
          end if;
          return null;
        end $$;
        {StatementTriggers.Ddl(Table, $"{S}.{Rows}", $"{S}.{Table}_move")}
        -- Computers with an agent that have not reported since an instant: read from the computers that have not, by this index alone.
        create index if not exists {StaleIndex} on {S}.{Rows} (last_inventory_at) where agent_installed;
        -- The list sorted by operating system orders its lower case (ADR 0043): the index of the case as written goes.
        drop index if exists {S}.ix_computer_row_os_id;
        {string.Join("\n", SortIndexes.Select(i => $"create index if not exists {i.Name} on {S}.{Rows} ({i.Column}, id);"))}
        -- The name search (q: like '%…%') by a trigram index where pg_trgm can be had, else a scan. Written at once (no
        -- pending list): every inventory rewrites its computer's row, so a pending list would fill and be merged by
        -- whichever report of a storm found it full.
        {ReadModels.TrigramIndexes("the computers name search", (NameSearchIndex, $"{S}.{Rows}", "name_lower", ReadModels.Trigrams.Gin))}
        """;

    /// <summary>Creates the counts (counted once from the rows when new) and their triggers; idempotent, at start.</summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(Ddl);
        cmd.CommandTimeout = 0;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
