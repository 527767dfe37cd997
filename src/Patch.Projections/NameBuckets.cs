using Npgsql;

namespace Patch.Projections;

/// <summary>
/// Where a page of rows in name order starts, without walking the names before it (ADR 0038). A table's rows are cut by
/// name into buckets of a few thousand (<c>{prefix}_bound</c>: each bucket's lowest name and its number of rows), and
/// each bucket counts its rows per shape (<c>{prefix}_bucket</c>; one shape, '', for a table without shapes). A report's
/// rows per member depend only on the member's shape, so the rows before each bucket are a sum over bucket × shape
/// counts, and a deep page walks from the start of its bucket only. Statement triggers on the table move the counts in
/// the writer's statement, whoever writes: they match the rows in every snapshot. A bucket grown past twice the size is
/// split at its middle name and recounted; the first bucket starts at '' (below every name). A statement that moves
/// some count takes the buckets' lock first (the compliance members': the counters' lock their writers already hold), so
/// buckets are never moved by two transactions at once. <c>Shape</c> is the SQL expression of a row's shape, <c>{0}</c>
/// standing for the row's alias (null: one shape, '').
/// </summary>
public sealed partial record NameBuckets(string Prefix, string Table, string Key, string Name, string? Shape, string Lock)
{
    /// <summary>The compliance members by name, per inventory shape (drill-downs, compliance by computer).</summary>
    public static readonly NameBuckets Members = new(ReadModels.ComplianceMember, ReadModels.ComplianceMember, "computer_id", "name", "{0}.shape",
        Compliance.VulnerabilityAnalysis.CountersLock.ToString(System.Globalization.CultureInfo.InvariantCulture)) { Walked = ["shape"], ChangesPerRowWalked = 2 };

    /// <summary>
    /// Every computer's list row by its lower-case name (the computers list), its shape the groups the list filters by:
    /// lower-case operating system and agent version (<see cref="ComputerGroup"/>), as the kept counts group them (ADR 0037).
    /// </summary>
    public static readonly NameBuckets Computers = new("computer_row", PatchProjections.ComputerRowTable, "id", "name_lower",
        "coalesce({0}.operating_system_lower, '') || E'\\x1f' || coalesce({0}.agent_version, '')", "hashtext('patch.computer_row_buckets')")
    { Walked = ["operating_system_lower", "agent_version"], ChangesPerRowWalked = 0.5 };

    /// <summary>A computers-list shape's operating system (<paramref name="part"/> 1, lower case) or agent version (2), as SQL.</summary>
    public static string ComputerGroup(string shape, int part) => $"split_part({shape}, E'\\x1f', {part})";

    /// <summary>
    /// How many changed versions a page asked about an instant corrects the buckets' counts by (both ends of each change,
    /// since the instant or up to the next checkpoint) for the cost of one row walked instead: past that many per row the
    /// page skips, it walks. Measured at a million computers inside a storm: a drill-down's row walked (with its shape's
    /// states) ≈ 7–9 µs, a computers-list row (its walk index) ≈ 1.4 µs; a version counted ≈ 1–2 µs (width_bucket).
    /// </summary>
    public double ChangesPerRowWalked { get; init; } = 0.25;

    /// <summary>The columns a walk of the history filters on besides the validity (the shape's): kept in its walk index.</summary>
    public IReadOnlyList<string> Walked { get; init; } = [];

    /// <summary>The default number of rows a bucket is cut to (split past twice that).</summary>
    public const int DefaultSize = 16384;

    private const string S = ReadModels.Schema;

    public string Bounds => Prefix + "_bound";
    public string Buckets => Prefix + "_bucket";

    private string ShapeOf(string alias) => Shape is null ? "''::text" : string.Format(System.Globalization.CultureInfo.InvariantCulture, Shape, alias);

    /// <summary>The bucket of the name of <paramref name="alias"/>'s row, as a lateral relation (column lo_name).</summary>
    private string BucketOf(string alias, string name) => BucketIn($"{S}.{Bounds}", alias, name);

    /// <summary>
    /// The bucket of the name of <paramref name="alias"/>'s row among the buckets cut at <paramref name="bounds"/> (a
    /// relation with a column lo_name), as a lateral relation (column lo_name; none without bounds): the bounds in one
    /// sorted array, searched by <c>width_bucket</c> — an index probe per row cost 18–24 ms for 10,500 versions, the
    /// array 1–3 ms. The first bound is '', below every name.
    /// </summary>
    private static string BucketIn(string bounds, string alias, string name) => $"""
        cross join (select array_agg(x.lo_name order by x.lo_name) los from {bounds} x) bb
        cross join lateral (select bb.los[width_bucket({alias}.{name}, bb.los)] lo_name where bb.los is not null) b
        """;

    private string Move(string deltas) => $"""
        with d as materialized ({deltas}),
             t as (update {S}.{Bounds} x set members = x.members + s.k from (select lo_name, sum(k) k from d group by lo_name) s where x.lo_name = s.lo_name)
        insert into {S}.{Buckets} as c (lo_name, shape, members) select lo_name, shape, sum(k) from d group by lo_name, shape having sum(k) <> 0
          on conflict (lo_name, shape) do update set members = c.members + excluded.members
        """;

    /// <summary>
    /// The buckets' rows weighed by shape (columns lo_name, r: the rows a bucket's members of one shape have, by
    /// <paramref name="weights"/>; shapes it does not list weigh nothing; and the shape, <paramref name="withShape"/>):
    /// now, or — given an instant <paramref name="asOf"/> (a SQL expression) — as they stood then, from the checkpoint
    /// <paramref name="checkpoint"/> after it when given (<see cref="WeighedFrom"/>), else counted exactly without walking the table: today's
    /// counts, plus the versions of the table's history that were true at that instant and have ended since, minus the
    /// current versions begun since (each counted in the bucket of its name by today's bounds, which cut the names of any
    /// instant). The cost follows the rows changed since the instant, not the table's size. A bucket may come in several
    /// rows, to be summed by the reader. Each branch is joined to the weights itself: grouped by bucket and shape first,
    /// the buckets × every shape of the fleet (111,000 rows at a million computers) spilled to disk, and joined to the
    /// weights through the union the planner lost the shapes' statistics and sorted them for a merge join (ADR 0038).
    /// </summary>
    public string Weighed(Weights weights, string? asOf = null, string? checkpoint = null, bool withShape = false)
    {
        // Each branch keeps the shapes weighed: by a join to the relation, or (one each) by the array — hashed by PostgreSQL,
        // where a join to an unnest, which has no statistics, was planned as a hash of the buckets or a loop over the shapes.
        var n = weights.Relation is null ? "1" : "w.n";
        // (The buckets keep each shape in their own column; a version of the table has its shape expression.)
        string Branch(string bucket, string weight, string from, string shape, string where)
        {
            var select = $"{bucket}, {weight} r{(withShape ? $", {shape} shape" : "")}";
            return weights switch
            {
                // The shape kept from its column's statistics: estimating 3,500 shapes one by one against them cost ≈ 20 ms
                // of planning a statement at a million computers (2 ms so); no index on the shape serves these branches.
                { ShapesParameter: { } shapes } => $"select {select} from {from} where ({shape} || '') = any(@{shapes}) and {where}",
                { Matching: { } matching } => $"select {select} from {from} where {matching(shape)} and {where}",
                _ => $"select {select} from {from} join ({weights.Relation}) w on w.shape = {shape} where {where}",
            };
        }
        if (asOf is { } from && checkpoint is { } at) return WeighedFrom(from, at, Branch, n);
        var now = Branch("k.lo_name", $"k.members * {n}", $"{S}.{Buckets} k", "k.shape", "true");
        if (asOf is not { } x) return $"({now})";
        var history = $"{S}.{Table}_history v {BucketOf("v", Name)}";
        return $"""
            ({now}
             union all
             {Branch("b.lo_name", n, history, ShapeOf("v"), $"v.valid_to > {x} and v.valid_to < 'infinity' and v.valid_from <= {x}")}
             union all
             {Branch("b.lo_name", $"-{n}", history, ShapeOf("v"), $"v.valid_to = 'infinity' and v.valid_from > {x}")})
            """;
    }

    /// <summary>
    /// Whether fewer than <paramref name="cap"/> versions of the table changed since the instant
    /// <paramref name="asOf"/> (a SQL expression; versions then true that ended since, current versions begun since; each side
    /// counted up to the cap): when more did, counting the buckets then (<see cref="Weighed"/>) costs more than walking the
    /// rows. The cap is a SQL expression: <c>@cap</c>, or <see cref="QuarterOfRows"/>.
    /// </summary>
    private string FewChangedSince(string asOf, string cap) => $"""
        (select (select count(*) from (select 1 from {S}.{Table}_history v
                   where v.valid_to > {asOf} and v.valid_to < 'infinity' and v.valid_from <= {asOf} limit {cap}) e)
              + (select count(*) from (select 1 from {S}.{Table}_history v where v.valid_to = 'infinity' and v.valid_from > {asOf} limit {cap}) b) < {cap})
        """;

    /// <summary>A quarter of the table's rows now (the buckets' sum), at least one: a cap for <see cref="FewChangedSince"/>.</summary>
    public string QuarterOfRows => $"(select greatest(coalesce(sum(members), 0) / 4, 1) from {S}.{Bounds})";

    /// <summary>The shape expression as text, kept beside the buckets: buckets counted by another are cut again.</summary>
    private string Definition => ShapeOf("r").Replace("'", "''");

    /// <summary>
    /// The rows of the shapes <paramref name="weights"/> weighs at the instant <paramref name="asOf"/> (from the
    /// checkpoint <paramref name="checkpoint"/> when given): the buckets' counts then (<see cref="Weighed"/>), summed.
    /// </summary>
    public string RowsAt(Weights weights, string asOf, string? checkpoint = null) =>
        $"select coalesce(sum(k.r), 0)::bigint from {Weighed(weights, asOf, checkpoint)} k";

    /// <summary>Rows of an update whose name or shape changed.</summary>
    private string Changed => $"from new_rows n join old_rows o on o.{Key} = n.{Key} where (n.{Name}, {ShapeOf("n")}) is distinct from (o.{Name}, {ShapeOf("o")})";

    public string Ddl(int size) => $"""
        {CheckpointDdl}
        create table if not exists {S}.{Bounds} (lo_name text primary key, members bigint not null);
        create table if not exists {S}.{Buckets} (lo_name text not null, shape text not null, members bigint not null, primary key (lo_name, shape));
        create index if not exists ix_{Buckets}_empty on {S}.{Buckets} (lo_name) where members = 0;
        create index if not exists ix_{Buckets}_shape on {S}.{Buckets} (shape);

        -- Every bucket again from the rows: cut every {size} names.
        create or replace function {S}.{Buckets}_rebuild() returns void language plpgsql as $$
        begin
          delete from {S}.{Checkpoints};
          delete from {S}.{CheckpointCounts};
          delete from {S}.{Buckets};
          delete from {S}.{Bounds};
          insert into {S}.{Bounds} (lo_name, members)
            select '', 0 union select n, 0 from (select n, row_number() over (order by n) r from (select distinct {Name} n from {S}.{Table}) d) x where r % {size} = 0;
          insert into {S}.{Buckets} (lo_name, shape, members) select b.lo_name, {ShapeOf("m")}, count(*) from {S}.{Table} m {BucketOf("m", Name)} group by 1, 2;
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
            select {Name} into mid from {S}.{Table} where {Name} > r.lo_name and (hi is null or {Name} < hi) order by {Name} offset r.members / 2 limit 1;
            -- Rows of one name cannot be cut apart: such a bucket stays whole.
            exit when mid is null;
            insert into {S}.{Bounds} (lo_name, members) values (mid, 0);
            delete from {S}.{Buckets} where lo_name = r.lo_name;
            insert into {S}.{Buckets} (lo_name, shape, members)
              select case when {Name} < mid then r.lo_name else mid end, {ShapeOf(Table)}, count(*) from {S}.{Table}
              where {Name} >= r.lo_name and (hi is null or {Name} < hi) group by 1, 2;
            update {S}.{Bounds} x set members = coalesce((select sum(members) from {S}.{Buckets} k where k.lo_name = x.lo_name), 0)
              where x.lo_name in (r.lo_name, mid);
          end loop;
        end $$;

        create or replace function {S}.{Buckets}_move() returns trigger language plpgsql as $$
        begin
          -- A statement that moves no count (an inventory that keeps its name and shape) takes no lock and writes nothing.
          if TG_OP = 'INSERT' then
            if not exists (select 1 from new_rows) then return null; end if;
          elsif TG_OP = 'DELETE' then
            if not exists (select 1 from old_rows) then return null; end if;
          elsif TG_OP = 'UPDATE' then
            if not exists (select 1 {Changed}) then return null; end if;
          end if;
          perform pg_advisory_xact_lock({Lock});
          {Invalidate}
          if TG_OP = 'TRUNCATE' then
            delete from {S}.{Buckets};
            delete from {S}.{Bounds};
            insert into {S}.{Bounds} (lo_name, members) values ('', 0);
            return null;
          elsif TG_OP = 'INSERT' then
            {Move($"select b.lo_name, {ShapeOf("n")} shape, 1::bigint k from new_rows n {BucketOf("n", Name)}")};
          elsif TG_OP = 'DELETE' then
            {Move($"select b.lo_name, {ShapeOf("o")} shape, -1::bigint k from old_rows o {BucketOf("o", Name)}")};
          else
            {Move($"""
                select b.lo_name, c.shape, c.k from (
                  select n.{Name} name, {ShapeOf("n")} shape, 1::bigint k {Changed}
                  union all
                  select o.{Name}, {ShapeOf("o")}, -1::bigint {Changed}) c
                {BucketOf("c", "name")}
                """)};
          end if;
          delete from {S}.{Buckets} where members = 0;
          perform {S}.{Buckets}_split();
          return null;
        end $$;

        {StatementTriggers.Ddl(Buckets, $"{S}.{Table}", $"{S}.{Buckets}_move")}

        -- New, never filled, or cut by another shape than this one (the computers' had none before the groups): cut
        -- once from the rows, under the buckets' lock.
        create table if not exists {S}.name_bucket_shape (prefix text primary key, shape text not null);
        do $fill$ begin
          if not exists (select 1 from {S}.{Bounds})
             or not exists (select 1 from {S}.name_bucket_shape where prefix = '{Prefix}' and shape = '{Definition}') then
            perform pg_advisory_xact_lock({Lock});
            perform {S}.{Buckets}_rebuild();
            insert into {S}.name_bucket_shape (prefix, shape) values ('{Prefix}', '{Definition}') on conflict (prefix) do update set shape = excluded.shape;
          end if;
        end $fill$;
        """;

    private const string SizeTable = "name_bucket_size";

    /// <summary>
    /// The size buckets are cut to: <paramref name="configured"/> when given (and kept in the store), else the one the
    /// store keeps (a server, tool or migration started without the setting keeps the size last set), else
    /// <see cref="DefaultSize"/>.
    /// </summary>
    public static async Task<int> SizeAsync(NpgsqlDataSource db, int? configured, CancellationToken ct)
    {
        if (configured < 1)
            throw new ArgumentOutOfRangeException(nameof(configured), configured, "Patch:Reports:NameBucket: a name bucket holds at least 1 row");
        await using var cmd = db.CreateCommand($"""
            create table if not exists {S}.{SizeTable} (id int primary key check (id = 1), size int not null check (size > 0));
            insert into {S}.{SizeTable} (id, size) select 1, @size where @size is not null on conflict (id) do update set size = excluded.size;
            select size from {S}.{SizeTable};
            """);
        cmd.Parameters.Add(new NpgsqlParameter<int?>("size", configured) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
        return await cmd.ExecuteScalarAsync(ct) is int kept ? kept : DefaultSize;
    }

    /// <summary>Creates the buckets (cut from the rows when new) and their triggers; idempotent, at start, after the table.</summary>
    public async Task EnsureAsync(NpgsqlDataSource db, int size, CancellationToken ct)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "a bucket holds at least one row");
        await using var cmd = db.CreateCommand(Ddl(size));
        cmd.CommandTimeout = 0;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
