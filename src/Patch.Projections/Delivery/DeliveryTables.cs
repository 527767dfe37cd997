using Npgsql;
using Patch.Domain.Computers;

namespace Patch.Projections.Delivery;

/// <summary>
/// Read models of the install cycle (ADR 0013), written in the same transaction as the agents' events and rebuilt from
/// the event log by <see cref="RebuildAsync"/>: <c>delivery_status</c> (one row per status event that names a policy —
/// the history a time range in the past is answered from), kept by triggers in the same transaction:
/// <c>delivery_latest</c> (each delivery's latest status) and <c>delivery_counts</c> (latest statuses counted per
/// policy, update, day and status — the summary up to now reads these few rows); and <c>restart_state</c> (one row per
/// computer that ever needed a restart — the Reboot Status report). <c>delivery_status.recorded_at</c> is when the server
/// recorded the status (its event's time): a report asked <c>asOf</c> reads the rows recorded by then, and
/// <c>restart_state</c> keeps every version (ADR 0019).
/// </summary>
public static class DeliveryTables
{
    private const string S = ReadModels.Schema;

    // The counters' two moves, shared by the insert, update and delete triggers of delivery_latest. Both take the counter
    // rows' locks in key order: concurrent ingest transactions (two writers, two nodes) that share counters wait for
    // each other instead of deadlocking.
    private static readonly string RemoveOld = $"""
                    with o as (select policy_id, update_id, (occurred_at at time zone 'UTC')::date as day, status, count(*) n from old_rows group by 1, 2, 3, 4),
                         locked as (select c.policy_id, c.update_id, c.day, c.status from {S}.{ReadModels.DeliveryCounts} c
                                    join o on c.policy_id = o.policy_id and c.update_id = o.update_id and c.day = o.day and c.status = o.status
                                    order by 1, 2, 3, 4 for update of c)
                    update {S}.{ReadModels.DeliveryCounts} c set deliveries = c.deliveries - o.n
                    from o join locked l on l.policy_id = o.policy_id and l.update_id = o.update_id and l.day = o.day and l.status = o.status
                    where c.policy_id = o.policy_id and c.update_id = o.update_id and c.day = o.day and c.status = o.status;
        """;

    private static readonly string AddNew = $"""
                    insert into {S}.{ReadModels.DeliveryCounts} as c (policy_id, update_id, day, status, deliveries)
                    select policy_id, update_id, (occurred_at at time zone 'UTC')::date, status, count(*) from new_rows group by 1, 2, 3, 4 order by 1, 2, 3, 4
                    on conflict (policy_id, update_id, day, status) do update set deliveries = c.deliveries + excluded.deliveries;
        """;

    public static readonly string Ddl = $"""
        create schema if not exists {S};
        create table if not exists {S}.{ReadModels.DeliveryStatus} (
            computer_id text not null, event_id uuid not null, policy_id text not null, bulletin text, update_id text not null,
            status text not null, occurred_at timestamptz not null, last_applied timestamptz, detail text, seq bigint generated always as identity,
            primary key (computer_id, event_id));
        create index if not exists ix_delivery_status_policy on {S}.{ReadModels.DeliveryStatus} (policy_id, update_id, computer_id, occurred_at desc);
        create index if not exists ix_delivery_status_time on {S}.{ReadModels.DeliveryStatus} (occurred_at);
        create table if not exists {S}.{ReadModels.DeliveryLatest} (
            policy_id text not null, update_id text not null, computer_id text not null, bulletin text, status text not null, occurred_at timestamptz not null,
            last_applied timestamptz, detail text, seq bigint not null, primary key (policy_id, update_id, computer_id));
        create index if not exists ix_delivery_latest_time on {S}.{ReadModels.DeliveryLatest} (occurred_at);
        create index if not exists ix_delivery_latest_computer on {S}.{ReadModels.DeliveryLatest} (computer_id);
        create table if not exists {S}.{ReadModels.DeliveryCounts} (
            policy_id text not null, update_id text not null, day date not null, status text not null, deliveries int not null,
            primary key (policy_id, update_id, day, status));
        create or replace function {S}.delivery_status_to_latest() returns trigger language plpgsql as $$
        begin
            insert into {S}.{ReadModels.DeliveryLatest} as l (policy_id, update_id, computer_id, bulletin, status, occurred_at, last_applied, detail, seq)
            select distinct on (policy_id, update_id, computer_id) policy_id, update_id, computer_id, bulletin, status, occurred_at, last_applied, detail, seq
            from new_rows order by policy_id, update_id, computer_id, occurred_at desc, seq desc
            on conflict (policy_id, update_id, computer_id) do update set bulletin = excluded.bulletin, status = excluded.status, occurred_at = excluded.occurred_at,
                last_applied = excluded.last_applied, detail = excluded.detail, seq = excluded.seq
            where (l.occurred_at, l.seq) < (excluded.occurred_at, excluded.seq);
            return null;
        end $$;
        create or replace trigger tr_delivery_status_to_latest after insert on {S}.{ReadModels.DeliveryStatus}
            referencing new table as new_rows for each statement execute function {S}.delivery_status_to_latest();
        create or replace function {S}.delivery_counts_add() returns trigger language plpgsql as $$
        begin
            {AddNew}
            return null;
        end $$;
        create or replace function {S}.delivery_counts_remove() returns trigger language plpgsql as $$
        begin
            {RemoveOld}
            return null;
        end $$;
        create or replace function {S}.delivery_counts_move() returns trigger language plpgsql as $$
        begin
            {RemoveOld}
            {AddNew}
            return null;
        end $$;
        create or replace trigger tr_delivery_latest_insert after insert on {S}.{ReadModels.DeliveryLatest}
            referencing new table as new_rows for each statement execute function {S}.delivery_counts_add();
        create or replace trigger tr_delivery_latest_update after update on {S}.{ReadModels.DeliveryLatest}
            referencing old table as old_rows new table as new_rows for each statement execute function {S}.delivery_counts_move();
        create or replace trigger tr_delivery_latest_delete after delete on {S}.{ReadModels.DeliveryLatest}
            referencing old table as old_rows for each statement execute function {S}.delivery_counts_remove();
        alter table {S}.{ReadModels.DeliveryStatus} add column if not exists recorded_at timestamptz not null default now();
        create table if not exists {S}.{ReadModels.RestartState} (
            computer_id text primary key, pending boolean not null, pending_since timestamptz, planned_at timestamptz, deferrals int not null,
            deferred_until timestamptz, last_restart_at timestamptz, updated_at timestamptz not null);
        """;

    public static async Task EnsureAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        // Two servers starting on one database must not replace the functions and triggers at the same moment.
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand($"select pg_advisory_xact_lock(hashtext('patch.delivery_tables'));\n{Ddl}", conn, tx))
            await cmd.ExecuteNonQueryAsync(ct);
        // A database from before the latest/counts tables existed: fill them once from the history (the triggers count).
        await using var backfill = new NpgsqlCommand($"""
            insert into {S}.{ReadModels.DeliveryLatest} (policy_id, update_id, computer_id, bulletin, status, occurred_at, last_applied, detail, seq)
            select distinct on (policy_id, update_id, computer_id) policy_id, update_id, computer_id, bulletin, status, occurred_at, last_applied, detail, seq
            from {S}.{ReadModels.DeliveryStatus} where not exists (select 1 from {S}.{ReadModels.DeliveryLatest})
            order by policy_id, update_id, computer_id, occurred_at desc, seq desc
            """, conn, tx);
        await backfill.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>One statement for all the status rows of an ingest transaction (parallel arrays), so the triggers run once per batch.</summary>
    public static readonly string InsertStatuses = $"""
        insert into {S}.{ReadModels.DeliveryStatus} (computer_id, event_id, policy_id, bulletin, update_id, status, occurred_at, last_applied, detail)
        select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[]::timestamptz[], $9::text[])
        on conflict do nothing
        """;

    /// <summary>
    /// The restart state after one restart event (parameters $1 computer, $2 occurred at, $3 at). Pending keeps the time it first
    /// became pending; each deferral counts until the computer restarts; an event older than the row's last one changes nothing.
    /// </summary>
    public static string UpsertRestart(string kind)
    {
        var (pending, deferred, restarted) = kind switch
        {
            AgentRestartReported.Pending => ("true", "false", "false"),
            AgentRestartReported.Deferred => ("true", "true", "false"),
            AgentRestartReported.Restarted => ("false", "false", "true"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a restart event kind"),
        };
        return $"""
            insert into {S}.{ReadModels.RestartState} as r (computer_id, pending, pending_since, planned_at, deferrals, deferred_until, last_restart_at, updated_at)
            select k.c, {pending}, case when {pending} then k.t end, case when {pending} then k.at end, case when {deferred} then 1 else 0 end,
                   case when {deferred} then k.at end, case when {restarted} then k.t end, k.t
            from (select $1::text c, $2::timestamptz t, $3::timestamptz at) k
            on conflict (computer_id) do update set
                pending = {pending},
                pending_since = case when not {pending} then null when r.pending then r.pending_since else excluded.updated_at end,
                planned_at = case when {restarted} then null when {deferred} then (case when r.planned_at is null then null else excluded.deferred_until end) else excluded.planned_at end,
                deferrals = case when {restarted} then 0 when {deferred} then (case when r.pending then r.deferrals else 0 end) + 1 when r.pending then r.deferrals else 0 end,
                deferred_until = case when {deferred} then excluded.deferred_until when {restarted} then null when r.pending then r.deferred_until end,
                last_restart_at = coalesce(excluded.last_restart_at, r.last_restart_at),
                updated_at = excluded.updated_at
            where r.updated_at <= excluded.updated_at
            """;
    }

    /// <summary>Rebuilds both tables from the event log in one transaction; readers see the old rows until it commits.</summary>
    public static async Task RebuildAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // The agents' ingest waits while the tables are rebuilt (its inserts conflict with this lock); readers do not.
        await using (var cmd = new NpgsqlCommand($"""
            lock table {S}.{ReadModels.DeliveryStatus}, {S}.{ReadModels.DeliveryLatest}, {S}.{ReadModels.DeliveryCounts}, {S}.{ReadModels.RestartState} in share row exclusive mode;
            delete from {S}.{ReadModels.DeliveryLatest};
            delete from {S}.{ReadModels.DeliveryCounts};
            delete from {S}.{ReadModels.DeliveryStatus};
            delete from {S}.{ReadModels.RestartState};
            truncate {S}.{ReadModels.DeliveryLatest}_history, {S}.{ReadModels.DeliveryCounts}_history, {S}.{ReadModels.RestartState}_history;
            """, conn, tx))
            await cmd.ExecuteNonQueryAsync(ct);
        await ReplayStatusesAsync(db, conn, tx, ct);

        // Each restart event is applied in the order and as of the instant it was recorded, as the ingest did, so the rebuilt
        // history is the one kept live (an event older than the row's last one changes nothing either way).
        var restarts = new List<(string Computer, DateTimeOffset At, DateTimeOffset? When, string Kind, DateTimeOffset Recorded)>();
        await using (var cmd = new NpgsqlCommand($"""
            select data->>'computerId', data->>'occurredAt', data->>'at', data->>'kind', timestamp
            from {S}.mt_events where type = 'agent_restart_reported' order by seq_id
            """, conn, tx))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                restarts.Add((reader.GetString(0), Instant(reader.GetString(1)), reader.IsDBNull(2) ? null : Instant(reader.GetString(2)), reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4)));
        foreach (var r in restarts)
        {
            await Projections.History.ReadModelHistory.StampAsync(conn, tx, r.Recorded, ct);
            await using var cmd = new NpgsqlCommand(UpsertRestart(r.Kind), conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = r.Computer });
            cmd.Parameters.Add(new NpgsqlParameter { Value = r.At });
            cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)r.When ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// The status events again, one insert per ingest transaction (the events it recorded share its timestamp), each as
    /// of that instant: the triggers rebuild delivery_latest and delivery_counts with the versions they had live.
    /// </summary>
    private static async Task ReplayStatusesAsync(NpgsqlDataSource db, NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        var batch = new List<object?[]>();
        DateTimeOffset? at = null;
        await using var read = await db.OpenConnectionAsync(ct);
        async Task FlushAsync()
        {
            if (batch.Count == 0) return;
            await using var insert = new NpgsqlCommand($"""
                insert into {S}.{ReadModels.DeliveryStatus} (computer_id, event_id, policy_id, bulletin, update_id, status, occurred_at, last_applied, detail, recorded_at)
                select c, e, p, b, u, s, o, l, d, @at from unnest(@c, @e, @p, @b, @u, @s, @o, @l, @d) as t(c, e, p, b, u, s, o, l, d) on conflict do nothing
                """, conn, tx);
            Projections.History.ReadModelHistory.Stamp(insert, at!.Value);
            insert.Parameters.AddWithValue("at", at!.Value);
            string[] names = ["c", "e", "p", "b", "u", "s", "o", "l", "d"];
            NpgsqlTypes.NpgsqlDbType[] types = [NpgsqlTypes.NpgsqlDbType.Text, NpgsqlTypes.NpgsqlDbType.Uuid, NpgsqlTypes.NpgsqlDbType.Text, NpgsqlTypes.NpgsqlDbType.Text,
                NpgsqlTypes.NpgsqlDbType.Text, NpgsqlTypes.NpgsqlDbType.Text, NpgsqlTypes.NpgsqlDbType.TimestampTz, NpgsqlTypes.NpgsqlDbType.TimestampTz, NpgsqlTypes.NpgsqlDbType.Text];
            for (var i = 0; i < names.Length; i++)
                insert.Parameters.Add(new NpgsqlParameter(names[i], NpgsqlTypes.NpgsqlDbType.Array | types[i]) { Value = batch.Select(r => r[i] ?? DBNull.Value).ToArray() });
            await insert.ExecuteNonQueryAsync(ct);
            batch.Clear();
        }
        // Read on a second connection: the replay writes while it reads (the rows are committed events, the lock holds the tables).
        await using (var cmd = new NpgsqlCommand($"""
            select data->>'computerId', (data->>'eventId')::uuid, data->>'policyId', data->>'bulletin', data->>'updateId', data->>'status',
                   data->>'occurredAt', (data->>'lastApplied')::timestamptz, data->>'detail', timestamp
            from {S}.mt_events where type = 'agent_status_reported' and data->>'policyId' is not null and data->>'updateId' is not null
            order by seq_id
            """, read))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var recorded = reader.GetFieldValue<DateTimeOffset>(9);
                if (at != recorded || batch.Count >= 10_000) await FlushAsync();
                at = recorded;
                batch.Add([reader.GetString(0), reader.GetGuid(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4),
                    reader.GetString(5), Instant(reader.GetString(6)), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
                    reader.IsDBNull(8) ? null : reader.GetString(8)]);
            }
        }
        await FlushAsync();
    }

    /// <summary>
    /// An event's instant as the ingest wrote it: read from the event's JSON into .NET (100 ns ticks) and handed to Npgsql,
    /// which cuts it to PostgreSQL's microseconds. PostgreSQL's own cast of the text rounds instead, so a rebuild moved
    /// instants by a microsecond, live and in their history. (The last-applied instant goes through PostgreSQL's cast on both.)
    /// </summary>
    private static DateTimeOffset Instant(string json) =>
        DateTimeOffset.Parse(json, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind);

    public static async Task TruncateAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"truncate {S}.{ReadModels.DeliveryStatus}, {S}.{ReadModels.DeliveryLatest}, {S}.{ReadModels.DeliveryCounts}, {S}.{ReadModels.RestartState}", conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
