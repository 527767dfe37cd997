using Npgsql;

namespace Patch.Projections.Computers;

/// <summary>
/// How many computers the store knows and how many have an agent, kept as the computer rows are written (ADR 0037): the
/// home page's configuration summary reads a few rows instead of counting a million documents. Statement triggers on the
/// computer rows move the counts by the rows each statement inserted, deleted or changed (a truncate empties them), in
/// the writer's transaction — so they are what the rows are in every snapshot, whichever code wrote the rows (the
/// projection live, its rebuild, a restored store). The counts are spread over a few slots chosen by the writing
/// session, so concurrent enrolments do not queue on one row; a statement that changes no count writes nothing.
/// </summary>
public static class ComputerCounts
{
    public const string Table = "computer_counts";
    private const string S = ReadModels.Schema;
    private const string Rows = PatchProjections.ComputerRowTable;
    private const int Slots = 8;

    /// <summary>The partial index that finds the computers with an agent by their last inventory.</summary>
    public const string StaleIndex = "ix_computer_row_agent_last_inventory";

    /// <summary>The count of computers and of those with an agent, as a one-row SQL relation (columns computers, agents).</summary>
    public const string Select = $"(select coalesce(sum(computers), 0)::int computers, coalesce(sum(agents), 0)::int agents from {S}.{Table})";

    private static readonly string Ddl = $"""
        do $counts$ begin
          if to_regclass('{S}.{Table}') is null then
            create table {S}.{Table} (slot smallint primary key, computers bigint not null, agents bigint not null);
            insert into {S}.{Table} select 0, count(*), count(*) filter (where agent_installed) from {S}.{Rows};
          end if;
        end $counts$;
        create or replace function {S}.{Table}_move() returns trigger language plpgsql as $$
        declare
          d_computers bigint := 0;
          d_agents bigint := 0;
        begin
          if TG_OP = 'TRUNCATE' then
            delete from {S}.{Table};
            return null;
          end if;
          if TG_OP in ('INSERT', 'UPDATE') then
            select d_computers + count(*), d_agents + count(*) filter (where agent_installed) into d_computers, d_agents from new_rows;
          end if;
          if TG_OP in ('DELETE', 'UPDATE') then
            select d_computers - count(*), d_agents - count(*) filter (where agent_installed) into d_computers, d_agents from old_rows;
          end if;
          if d_computers <> 0 or d_agents <> 0 then
            insert into {S}.{Table} as c (slot, computers, agents) values (pg_backend_pid() % {Slots}, d_computers, d_agents)
              on conflict (slot) do update set computers = c.computers + excluded.computers, agents = c.agents + excluded.agents;
          end if;
          return null;
        end $$;
        {StatementTriggers.Ddl(Table, $"{S}.{Rows}", $"{S}.{Table}_move")}
        -- Computers with an agent that have not reported since an instant: read from the computers that have not, by this index alone.
        create index if not exists {StaleIndex} on {S}.{Rows} (last_inventory_at) where agent_installed;
        """;

    /// <summary>Creates the counts (counted once from the rows when new) and their triggers; idempotent, at start.</summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(Ddl);
        cmd.CommandTimeout = 0;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
