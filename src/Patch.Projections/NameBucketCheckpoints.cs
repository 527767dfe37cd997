namespace Patch.Projections;

/// <summary>
/// Checkpoints of the name buckets (ADR 0040): the buckets' counts per shape at a past instant, kept with the bounds they
/// were cut by, so a page asked about an instant long before now counts only the versions changed between that instant
/// and the next checkpoint instead of every version changed since. A checkpoint is exact when taken (today's counts and
/// the versions changed since its instant, under the buckets' lock) and stays exact: a statement that moves some count
/// with a stamp at or before a checkpoint's instant (a late writer) deletes that checkpoint, under the same lock.
/// </summary>
public sealed partial record NameBuckets
{
    /// <summary>A checkpoint's bounds: a row per bucket it was cut by (at, lo_name).</summary>
    public string Checkpoints => Prefix + "_checkpoint";

    /// <summary>
    /// A checkpoint's counts, a row per shape (at, shape, the buckets it has members in and how many): a page weighing a
    /// few hundred shapes reads their rows, not every bucket's 1,800 shapes (106,000 pairs unnested for 583 weighed, 26 of
    /// a drill-down's 38 ms at a million computers).
    /// </summary>
    public string CheckpointCounts => Prefix + "_checkpoint_count";

    /// <summary>The instant a statement's versions start (ReadModelHistory's stamp, before any clamping, which only delays it).</summary>
    private static readonly string Stamp =
        $"coalesce(nullif(current_setting('{History.ReadModelHistory.StampSetting}', true), '')::timestamptz, now())";

    /// <summary>Run by a statement that moves some count, under the buckets' lock: the checkpoints its versions may change.</summary>
    private string Invalidate => $"delete from {S}.{Checkpoints} where at >= {Stamp}; delete from {S}.{CheckpointCounts} where at >= {Stamp};";

    private string CheckpointDdl => $"""
        do $cp$ begin
          -- Checkpoints kept per bucket (an earlier layout) are dropped: the task takes them again.
          if exists (select 1 from information_schema.columns where table_schema = '{S}' and table_name = '{Checkpoints}' and column_name = 'shapes') then
            drop table {S}.{Checkpoints};
          end if;
        end $cp$;
        create table if not exists {S}.{Checkpoints} (at timestamptz not null, lo_name text not null, primary key (at, lo_name));
        create table if not exists {S}.{CheckpointCounts} (at timestamptz not null, shape text not null, lo_names text[] not null,
          members bigint[] not null, primary key (at, shape));

        -- Thinned: older than dense, the last of each day (UTC); between keep_all and dense, in time order, one is dropped
        -- when no more than apart versions began between the last one kept and the next. Each checkpoint is looked at once,
        -- when it has passed keep_all: the instant up to which that was done is kept (settled).
        create table if not exists {S}.{Checkpoints}_thinned (one boolean primary key default true check (one), settled timestamptz not null);
        create or replace function {S}.{Checkpoints}_thin(keep_all interval, dense interval, apart int) returns int language plpgsql as $$
        declare
          since timestamptz := greatest(coalesce((select settled from {S}.{Checkpoints}_thinned), '-infinity'), now() - dense);
          kept timestamptz;
          c record;
          gone timestamptz[];
        begin
          gone := array(select distinct k.at from {S}.{Checkpoints} k where k.at < now() - dense
                          and k.at <> (select max(x.at) from {S}.{Checkpoints} x where (x.at at time zone 'UTC')::date = (k.at at time zone 'UTC')::date));
          kept := (select max(at) from {S}.{Checkpoints} where at < since);
          for c in select t.at, lead(t.at) over (order by t.at) nxt from (select distinct at from {S}.{Checkpoints} where at >= since) t order by t.at
          loop
            exit when c.at >= now() - keep_all;
            if kept is null or c.nxt is null
               or (select count(*) from (select 1 from {S}.{Table}_history v where v.valid_from > kept and v.valid_from <= c.nxt limit apart + 1) n) > apart then
              kept := c.at;
            else
              gone := gone || c.at;
            end if;
          end loop;
          insert into {S}.{Checkpoints}_thinned (settled) values (greatest(since, now() - keep_all))
            on conflict (one) do update set settled = excluded.settled;
          delete from {S}.{Checkpoints} where at = any(gone);
          delete from {S}.{CheckpointCounts} where at = any(gone);
          return cardinality(gone);
        end $$;

        -- A checkpoint at instant c: today's bounds, and the buckets' counts then per shape.
        create or replace function {S}.{Checkpoints}_take(c timestamptz) returns boolean language plpgsql as $$
        begin
          perform pg_advisory_xact_lock({Lock});
          if exists (select 1 from {S}.{Checkpoints} where at = c) then return false; end if;
          delete from {S}.{CheckpointCounts} where at = c;
          insert into {S}.{Checkpoints} (at, lo_name) select c, lo_name from {S}.{Bounds};
          insert into {S}.{CheckpointCounts} (at, shape, lo_names, members)
          select c, k.shape, array_agg(k.lo_name order by k.lo_name), array_agg(k.m order by k.lo_name)
          from (select lo_name, shape, sum(r)::bigint m from {Weighed(Weights.Every, "c", withShape: true)} u
                group by 1, 2 having sum(r) <> 0) k
          group by k.shape;
          return true;
        end $$;
        """;

    /// <summary>
    /// The versions of the table's history begun within a span of time (a checkpoint's corrections), not only since an
    /// instant: an index of their own, once the history exists. And a page's walk through a bucket asked about an instant:
    /// the history in name order with each version's validity and shape beside it, so the rows the page skips are read
    /// from the index alone (a bucket of the computers' list rows is 16,000 versions over 1,600 heap pages, 13 MB).
    /// </summary>
    public async Task EnsureHistoryIndexAsync(Npgsql.NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            create index if not exists ix_{Table}_history_valid_from on {S}.{Table}_history (valid_from);
            create index if not exists ix_{Table}_history_walk on {S}.{Table}_history ({Name}, {Key}) include (valid_from, valid_to{string.Concat(Walked.Select(c => ", " + c))})
            """);
        cmd.CommandTimeout = 0;
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The nearest checkpoint at or after the instant <paramref name="asOf"/> (null when none) and whether fewer than
    /// <paramref name="cap"/> versions changed between the instant and it — or, without one, since the instant
    /// (<see cref="FewChangedSince"/>): the versions ended within the span and those begun within it.
    /// </summary>
    public string CheckpointAndFewChanged(string asOf, string cap) => $"""
        with c as (select min(at) at from {S}.{Checkpoints} where at >= {asOf})
        select c.at, case when c.at is null then {FewChangedSince(asOf, cap)} else
          (select (select count(*) from (select 1 from {S}.{Table}_history v where v.valid_to > {asOf} and v.valid_to <= c.at limit {cap}) e)
                + (select count(*) from (select 1 from {S}.{Table}_history v where v.valid_from > {asOf} and v.valid_from <= c.at limit {cap}) b) < {cap}) end
        from c
        """;

    /// <summary>
    /// <see cref="Weighed"/> at an instant from the checkpoint after it (by the checkpoint's bounds): its counts, plus the
    /// versions true at the instant that ended by the checkpoint, minus those begun since the instant still true at it.
    /// </summary>
    private string WeighedFrom(string at, string checkpoint, Func<string, string, string, string, string, string> branch, string n)
    {
        var bucketOf = BucketIn($"(select lo_name from {S}.{Checkpoints} where at = {checkpoint})", "v", Name);
        var history = $"{S}.{Table}_history v {bucketOf}";
        return $"""
            ({branch("u.lo_name", $"u.m * {n}", $"{S}.{CheckpointCounts} k cross join lateral unnest(k.lo_names, k.members) u(lo_name, m)", "k.shape", $"k.at = {checkpoint}")}
             union all
             {branch("b.lo_name", n, history, ShapeOf("v"), $"v.valid_to > {at} and v.valid_to <= {checkpoint} and v.valid_from <= {at}")}
             union all
             {branch("b.lo_name", $"-{n}", history, ShapeOf("v"), $"v.valid_from > {at} and v.valid_from <= {checkpoint} and v.valid_to > {checkpoint}")})
            """;
    }

    /// <summary>
    /// The checkpoints thinned (the function <c>{prefix}_checkpoint_thin</c>); answers how many went. All are kept for
    /// <paramref name="keepAll"/>; then, until <paramref name="dense"/>, one goes only where at most <paramref name="apart"/>
    /// versions began between the last one kept and the next — so two kept ones are at most that many versions apart
    /// unless none was between them; older, the last of each day (UTC).
    /// </summary>
    public string Thin(string keepAll, string dense, string apart) => $"select {S}.{Checkpoints}_thin({keepAll}, {dense}, {apart})";
}
