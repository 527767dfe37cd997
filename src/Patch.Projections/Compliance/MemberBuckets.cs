using Npgsql;

namespace Patch.Projections.Compliance;

/// <summary>
/// Where a page of computers in name order starts, without walking the names before it (ADR 0038). The members are cut
/// by name into buckets of a few thousand (<c>compliance_member_bound</c>: each bucket's lowest name and its number of
/// members), and each bucket counts its members per shape (<c>compliance_member_bucket</c>). A report's rows per member
/// depend only on the member's shape, so the rows before each bucket are a sum over a few hundred bucket × shape counts,
/// and a deep page walks from the start of its bucket only. Statement triggers on the members move the counts in the
/// writer's statement, whoever writes (the live analysis, the fleet analysis, the rebuild): they match the members in
/// every snapshot. A bucket grown past twice the size is split at its middle name and recounted; the first bucket starts
/// at '' (below every name). Writers of members hold the counters' lock (<see cref="VulnerabilityAnalysis.CountersLock"/>);
/// the triggers take it too, so buckets are never moved by two transactions at once.
/// </summary>
public static class MemberBuckets
{
    public const string Bounds = "compliance_member_bound";
    public const string Buckets = "compliance_member_bucket";
    private const string S = ReadModels.Schema;
    private const string Members = ReadModels.ComplianceMember;

    /// <summary>The default number of members a bucket is cut to (split past twice that).</summary>
    public const int DefaultSize = 16384;

    /// <summary>The bucket of the name in column <paramref name="name"/> of <paramref name="alias"/>, as a lateral relation (column lo_name).</summary>
    private static string BucketOf(string alias, string name = "name") =>
        $"cross join lateral (select x.lo_name from {S}.{Bounds} x where x.lo_name <= {alias}.{name} order by x.lo_name desc limit 1) b";

    private static string Move(string deltas) => $"""
        with d as materialized ({deltas}),
             t as (update {S}.{Bounds} x set members = x.members + s.k from (select lo_name, sum(k) k from d group by lo_name) s where x.lo_name = s.lo_name)
        insert into {S}.{Buckets} as c (lo_name, shape, members) select lo_name, shape, sum(k) from d group by lo_name, shape having sum(k) <> 0
          on conflict (lo_name, shape) do update set members = c.members + excluded.members
        """;

    public static string Ddl(int size) => $"""
        create table if not exists {S}.{Bounds} (lo_name text primary key, members bigint not null);
        create table if not exists {S}.{Buckets} (lo_name text not null, shape text not null, members bigint not null, primary key (lo_name, shape));
        create index if not exists ix_{Buckets}_empty on {S}.{Buckets} (lo_name) where members = 0;
        create index if not exists ix_{Buckets}_shape on {S}.{Buckets} (shape);

        -- Every bucket again from the members: cut every {size} names.
        create or replace function {S}.{Buckets}_rebuild() returns void language plpgsql as $$
        begin
          delete from {S}.{Buckets};
          delete from {S}.{Bounds};
          insert into {S}.{Bounds} (lo_name, members)
            select '', 0 union select name, 0 from (select name, row_number() over (order by name) r from (select distinct name from {S}.{Members}) n) x where r % {size} = 0;
          insert into {S}.{Buckets} (lo_name, shape, members) select b.lo_name, m.shape, count(*) from {S}.{Members} m {BucketOf("m")} group by 1, 2;
          update {S}.{Bounds} x set members = coalesce((select sum(members) from {S}.{Buckets} k where k.lo_name = x.lo_name), 0);
        end $$;

        -- Buckets past twice the size are cut at their middle name (one at a time, until none is), both halves counted again.
        create or replace function {S}.{Buckets}_split() returns void language plpgsql as $$
        declare
          r record;
          hi text;
          mid text;
        begin
          loop
            select lo_name, members into r from {S}.{Bounds} where members > {2 * size} order by lo_name limit 1;
            exit when not found;
            select min(lo_name) into hi from {S}.{Bounds} where lo_name > r.lo_name;
            select name into mid from {S}.{Members} where name > r.lo_name and (hi is null or name < hi) order by name offset r.members / 2 limit 1;
            -- Members of one name cannot be cut apart: such a bucket stays whole.
            exit when mid is null;
            insert into {S}.{Bounds} (lo_name, members) values (mid, 0);
            delete from {S}.{Buckets} where lo_name = r.lo_name;
            insert into {S}.{Buckets} (lo_name, shape, members)
              select case when name < mid then r.lo_name else mid end, shape, count(*) from {S}.{Members}
              where name >= r.lo_name and (hi is null or name < hi) group by 1, 2;
            update {S}.{Bounds} x set members = coalesce((select sum(members) from {S}.{Buckets} k where k.lo_name = x.lo_name), 0)
              where x.lo_name in (r.lo_name, mid);
          end loop;
        end $$;

        create or replace function {S}.{Buckets}_move() returns trigger language plpgsql as $$
        begin
          perform pg_advisory_xact_lock({VulnerabilityAnalysis.CountersLock});
          if TG_OP = 'TRUNCATE' then
            delete from {S}.{Buckets};
            delete from {S}.{Bounds};
            insert into {S}.{Bounds} (lo_name, members) values ('', 0);
            return null;
          elsif TG_OP = 'INSERT' then
            {Move($"select b.lo_name, n.shape, 1::bigint k from new_rows n {BucketOf("n")}")};
          elsif TG_OP = 'DELETE' then
            {Move($"select b.lo_name, o.shape, -1::bigint k from old_rows o {BucketOf("o")}")};
          else
            {Move($"""
                select b.lo_name, c.shape, c.k from (
                  select n.name, n.shape, 1::bigint k from new_rows n join old_rows o on o.computer_id = n.computer_id where (n.name, n.shape) is distinct from (o.name, o.shape)
                  union all
                  select o.name, o.shape, -1::bigint from new_rows n join old_rows o on o.computer_id = n.computer_id where (n.name, n.shape) is distinct from (o.name, o.shape)) c
                {BucketOf("c")}
                """)};
          end if;
          delete from {S}.{Buckets} where members = 0;
          perform {S}.{Buckets}_split();
          return null;
        end $$;

        drop trigger if exists {Buckets}_insert on {S}.{Members};
        create trigger {Buckets}_insert after insert on {S}.{Members} referencing new table as new_rows for each statement execute function {S}.{Buckets}_move();
        drop trigger if exists {Buckets}_update on {S}.{Members};
        create trigger {Buckets}_update after update on {S}.{Members} referencing old table as old_rows new table as new_rows
          for each statement execute function {S}.{Buckets}_move();
        drop trigger if exists {Buckets}_delete on {S}.{Members};
        create trigger {Buckets}_delete after delete on {S}.{Members} referencing old table as old_rows for each statement execute function {S}.{Buckets}_move();
        drop trigger if exists {Buckets}_truncate on {S}.{Members};
        create trigger {Buckets}_truncate after truncate on {S}.{Members} for each statement execute function {S}.{Buckets}_move();

        -- New (or never filled): counted once from the members.
        do $fill$ begin
          if not exists (select 1 from {S}.{Bounds}) then perform {S}.{Buckets}_rebuild(); end if;
        end $fill$;
        """;

    /// <summary>Creates the buckets (cut from the members when new) and their triggers; idempotent, at start, after the members' table.</summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, int size, CancellationToken ct)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "a bucket holds at least one member");
        await using var cmd = db.CreateCommand(Ddl(size));
        cmd.CommandTimeout = 0;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
