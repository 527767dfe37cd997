using System.Globalization;
using Microsoft.AspNetCore.Http;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Domain.Cycle;
using Patch.Projections;

namespace Patch.Application.Delivery;

public sealed record DeliveryTotals(DateTimeOffset From, DateTimeOffset To, long Executed, long Succeeded, long Failed, long NotCompleted);

public sealed record PolicyDelivery(string PolicyId, string? Policy, long Updates, long Executed, long Succeeded, long Failed, long NotCompleted);

public sealed record UpdateDelivery(string PolicyId, string UpdateId, string? Bulletin, long Executed, long Succeeded, long Failed, long NotCompleted);

public sealed record ComputerDelivery(string PolicyId, string UpdateId, string? Bulletin, string ComputerId, string? Computer, string Status, string Outcome,
    DateTimeOffset At, DateTimeOffset? LastApplied, string? Detail);

/// <summary>The delivery summary at one level: per policy, per update of a policy, or per computer of a policy's update.</summary>
public sealed record DeliverySummary(DateTimeOffset From, DateTimeOffset To, ReportPage<PolicyDelivery>? Policies, ReportPage<UpdateDelivery>? Updates,
    ReportPage<ComputerDelivery>? Computers);

/// <summary>One delivery of one computer: the latest status its agent reported for an update of a policy.</summary>
public sealed record ComputerDeliveryRow(string PolicyId, string? Policy, string UpdateId, string? Bulletin, string Status, DateTimeOffset At, DateTimeOffset? LastApplied,
    string? Detail);

public sealed record RebootStatusRow(string ComputerId, string? Computer, bool Pending, DateTimeOffset? PendingSince, DateTimeOffset? PlannedAt, int Deferrals,
    DateTimeOffset? DeferredUntil, DateTimeOffset? LastRestartAt);

/// <summary>
/// Remediation status (C11): the Software Update Delivery Summary and Reboot Status. A delivery is one (policy, update,
/// computer) and counts by the last status its agent reported inside the time range: succeeded (Installed, Installed by
/// user), failed (Failed to Install), not yet completed (Download required, Retry, Installation Scheduled, Installation
/// Failed - Rescheduled); executed is their sum. Not Applicable, Superseded and Pending are not deliveries. Up to now the
/// counts come from per-day counters of each delivery's latest status (ADR 0013); a range ending in the past reads the history.
/// </summary>
public static class DeliveryQueries
{
    private const string S = PatchStore.Schema;

    public static readonly Dictionary<string, string> RebootSort = new() { ["pendingSince"] = "pending_since", ["computer"] = "2", ["deferrals"] = "deferrals", ["lastRestartAt"] = "last_restart_at" };

    public static readonly string[] DeliverySortColumns = ["policy", "bulletin", "update", "computer", "status", "at", "executed", "succeeded", "failed", "notCompleted"];

    private static readonly string Succeeded = $"status in ('{UpdateStatus.Installed}', '{UpdateStatus.InstalledByUser}')";
    private static readonly string Failed = $"status = '{UpdateStatus.FailedToInstall}'";
    private static readonly string NotDelivery = $"('{UpdateStatus.NotApplicable}', '{UpdateStatus.Superseded}', '{UpdateStatus.Pending}')";

    public static async Task<QueryAnswer<DeliverySummary>> SummaryAsync(NpgsqlDataSource db, TimeProvider time, IQueryCollection query, bool csv, string? policy, string? update,
        string? computer, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        if (Range(query, time, asOf) is not { } range) return QueryAnswer<DeliverySummary>.Invalid(RangeProblem(query));
        if (update is not null && policy is null) return QueryAnswer<DeliverySummary>.Invalid("update: give the policy too (policy=…&update=…)");
        var ps = ReadSql.AsOfParameters(asOf);
        ps.Add(new("from", range.From));
        ps.Add(new("to", range.To));
        var filters = "";
        if (policy is not null) { filters += " and policy_id = @policy"; ps.Add(new("policy", policy)); }
        if (update is not null) { filters += " and update_id = @update"; ps.Add(new("update", update)); }
        if (computer is not null) { filters += " and computer_id = @computer"; ps.Add(new("computer", Domain.Computers.Computer.StreamId(computer))); }
        // Up to now (or up to asOf), each delivery's latest status is in delivery_latest (and counted per day in
        // delivery_counts) — as they stood at asOf when asked; a range that ends in the past is answered from the history
        // of status rows (those recorded by asOf, when asked).
        var latest = ReadSql.At(ReadModels.DeliveryLatest, asOf);
        var deliveries = range.UpToNow
            ? $"select policy_id, update_id, computer_id, bulletin, status, occurred_at, last_applied, detail from {latest} l where occurred_at >= @from{filters}"
            : Latest($"occurred_at >= @from and occurred_at < @to{filters}", asOf);
        var counted = range.UpToNow && computer is null
            ? $"""
              select policy_id, update_id, status, sum(deliveries)::bigint n from {ReadSql.At(ReadModels.DeliveryCounts, asOf)} c where day > (@from at time zone 'UTC')::date{filters} group by 1, 2, 3
              union all
              select policy_id, update_id, status, count(*) from {latest} l
              where occurred_at >= @from and occurred_at < ((@from at time zone 'UTC')::date + 1)::timestamp at time zone 'UTC'{filters} group by 1, 2, 3
              """
            : $"select policy_id, update_id, status, count(*) n from ({deliveries}) x group by 1, 2, 3";
        var g = $"with g as (select * from ({counted}) c where n > 0 and status not in {NotDelivery})";
        var counts = $"sum(n), coalesce(sum(n) filter (where {Succeeded}), 0), coalesce(sum(n) filter (where {Failed}), 0), coalesce(sum(n) filter (where not ({Succeeded}) and not ({Failed})), 0)";

        if (policy is null)
        {
            var sorts = new Dictionary<string, string> { ["policy"] = "2", ["executed"] = "4", ["succeeded"] = "5", ["failed"] = "6", ["notCompleted"] = "7" };
            var (q, problem) = ReportQuery.Parse(query, csv, sorts, "policy");
            if (problem is not null) return QueryAnswer<DeliverySummary>.Invalid(problem);
            var sql = $"""
                {g}
                select g.policy_id, p.data->>'name', count(distinct g.update_id), {counts}
                from g left join {ReadSql.At(PatchProjections.PolicyTable, asOf)} p on p.id = g.policy_id
                group by g.policy_id, p.data->>'name' order by {q!.OrderBy(sorts, "1")} limit {q.PageSize} offset {q.Offset}
                """;
            return new DeliverySummary(range.From, range.To, await ReportSql.PageAsync(db, $"{g} select count(distinct policy_id) from g", sql, ps, r => new PolicyDelivery(r.GetString(0),
                r.IsDBNull(1) ? null : r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6)), q, ct), null, null);
        }
        if (update is null)
        {
            var sorts = new Dictionary<string, string> { ["bulletin"] = "3", ["update"] = "2", ["executed"] = "4", ["succeeded"] = "5", ["failed"] = "6", ["notCompleted"] = "7" };
            var (q, problem) = ReportQuery.Parse(query, csv, sorts, "bulletin");
            if (problem is not null) return QueryAnswer<DeliverySummary>.Invalid(problem);
            var sql = $"""
                {g}
                select g.policy_id, g.update_id, (select l.bulletin from {S}.{ReadModels.DeliveryStatus} l where l.policy_id = g.policy_id and l.update_id = g.update_id limit 1), {counts}
                from g group by g.policy_id, g.update_id order by {q!.OrderBy(sorts, "2")} limit {q.PageSize} offset {q.Offset}
                """;
            return new DeliverySummary(range.From, range.To, null, await ReportSql.PageAsync(db, $"{g} select count(*) from (select distinct policy_id, update_id from g) u", sql, ps,
                r => new UpdateDelivery(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6)), q, ct), null);
        }
        {
            var sorts = new Dictionary<string, string> { ["computer"] = "5", ["status"] = "6", ["at"] = "8" };
            var (q, problem) = ReportQuery.Parse(query, csv, sorts, "computer");
            if (problem is not null) return QueryAnswer<DeliverySummary>.Invalid(problem);
            var sql = $"""
                with d as ({deliveries})
                select d.policy_id, d.update_id, d.bulletin, d.computer_id, c.data->>'name', d.status,
                       case when {Succeeded} then 'succeeded' when {Failed} then 'failed' else 'notCompleted' end, d.occurred_at, d.last_applied, d.detail
                from d left join {ReadSql.At(PatchProjections.ComputerRowTable, asOf)} c on c.id = d.computer_id
                where d.status not in {NotDelivery}
                order by {q!.OrderBy(sorts, "4")} limit {q.PageSize} offset {q.Offset}
                """;
            return new DeliverySummary(range.From, range.To, null, null, await ReportSql.PageAsync(db, $"with d as ({deliveries}) select count(*) from d where status not in {NotDelivery}", sql, ps, r => new ComputerDelivery(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4), r.GetString(5), r.GetString(6), r.GetFieldValue<DateTimeOffset>(7),
                r.IsDBNull(8) ? null : r.GetFieldValue<DateTimeOffset>(8), r.IsDBNull(9) ? null : r.GetString(9)), q, ct));
        }
    }

    /// <summary>The most deliveries a computer's list holds (the delivery summary, filtered by computer, holds every one).</summary>
    public const int ComputerLimit = 500;

    /// <summary>A computer's deliveries: the latest status of each (policy, update), newest first.</summary>
    public static async Task<IReadOnlyList<ComputerDeliveryRow>> ForComputerAsync(NpgsqlDataSource db, string computerId, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var latest = ReadSql.At(ReadModels.DeliveryLatest, asOf);
        await using var cmd = db.CreateCommand($"""
            select l.policy_id, p.data->>'name', l.update_id, l.bulletin, l.status, l.occurred_at, l.last_applied, l.detail
            from {latest} l left join {ReadSql.At(PatchProjections.PolicyTable, asOf)} p on p.id = l.policy_id
            where l.computer_id = @computer order by l.occurred_at desc, l.update_id limit {ComputerLimit}
            """);
        cmd.Parameters.AddWithValue("computer", computerId);
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        var rows = new List<ComputerDeliveryRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
            rows.Add(new ComputerDeliveryRow(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetString(4),
                r.GetFieldValue<DateTimeOffset>(5), r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetString(7)));
        return rows;
    }

    public static async Task<QueryAnswer<ReportPage<RebootStatusRow>>> RebootStatusAsync(NpgsqlDataSource db, IQueryCollection query, bool csv, bool? pendingOnly, CancellationToken ct,
        string? computer = null, DateTimeOffset? asOf = null)
    {
        var sorts = RebootSort;
        var (q, problem) = ReportQuery.Parse(query, csv, sorts, "pendingSince");
        if (problem is not null) return QueryAnswer<ReportPage<RebootStatusRow>>.Invalid(problem);
        var sql = $"""
            select r.computer_id, c.data->>'name', r.pending, r.pending_since, r.planned_at, r.deferrals, r.deferred_until, r.last_restart_at
            from {ReadSql.At(ReadModels.RestartState, asOf)} r left join {ReadSql.At(PatchProjections.ComputerRowTable, asOf)} c on c.id = r.computer_id
            where (@all or r.pending) and (@computer::text is null or r.computer_id = @computer)
            order by {q!.OrderBy(sorts, "1")} limit {q.PageSize} offset {q.Offset}
            """;
        var ps = ReadSql.AsOfParameters(asOf);
        ps.Add(new("all", pendingOnly == false || computer is not null));
        ps.Add(new("computer", NpgsqlTypes.NpgsqlDbType.Text) { Value = computer is null ? DBNull.Value : Domain.Computers.Computer.StreamId(computer) });
        return await ReportSql.PageAsync(db, $"select count(*) from {ReadSql.At(ReadModels.RestartState, asOf)} r where (@all or r.pending) and (@computer::text is null or r.computer_id = @computer)", sql,
            ps, r => new RebootStatusRow(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetBoolean(2),
            r.IsDBNull(3) ? null : r.GetFieldValue<DateTimeOffset>(3), r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4), r.GetInt32(5),
            r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7)), q, ct);
    }

    /// <summary>The home page's delivery summary: every delivery of the range, all policies together.</summary>
    public static async Task<DeliveryTotals> TotalsAsync(NpgsqlDataSource db, DateTimeOffset from, DateTimeOffset to, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var g = $"""
            select status, sum(deliveries)::bigint n from {ReadSql.At(ReadModels.DeliveryCounts, asOf)} c where day > (@from at time zone 'UTC')::date group by 1
            union all
            select status, count(*) from {ReadSql.At(ReadModels.DeliveryLatest, asOf)} l where occurred_at >= @from and occurred_at < ((@from at time zone 'UTC')::date + 1)::timestamp at time zone 'UTC' group by 1
            """;
        await using var cmd = db.CreateCommand($"""
            with g as ({g})
            select coalesce(sum(n), 0)::bigint, coalesce(sum(n) filter (where {Succeeded}), 0)::bigint, coalesce(sum(n) filter (where {Failed}), 0)::bigint,
                   coalesce(sum(n) filter (where not ({Succeeded}) and not ({Failed})), 0)::bigint
            from g where status not in {NotDelivery}
            """);
        cmd.Parameters.AddWithValue("from", from);
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new DeliveryTotals(from, to, r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));
    }

    public static async Task<long> PendingRestartsAsync(NpgsqlDataSource db, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        await using var cmd = db.CreateCommand($"select count(*) from {ReadSql.At(ReadModels.RestartState, asOf)} r where pending");
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Each delivery's latest status among the status rows matching <paramref name="where"/> (a range ending in the past) —
    /// with <c>@asOf</c>, among the rows recorded by then; the same order as delivery_latest decides.
    /// </summary>
    private static string Latest(string where, DateTimeOffset? asOf) => $"""
        select distinct on (policy_id, update_id, computer_id) policy_id, update_id, computer_id, bulletin, status, occurred_at, last_applied, detail
        from {S}.{ReadModels.DeliveryStatus} where {where}{(asOf is null ? "" : " and recorded_at <= @asOf")} order by policy_id, update_id, computer_id, occurred_at desc, seq desc
        """;

    /// <summary>
    /// The report's range; <c>UpToNow</c> when no end was asked for (every status up to now, or up to <c>asOf</c>, counts —
    /// an agent whose clock runs ahead too). Without <c>from</c>, the 30 days before the end.
    /// </summary>
    private static (DateTimeOffset From, DateTimeOffset To, bool UpToNow)? Range(IQueryCollection q, TimeProvider time, DateTimeOffset? asOf)
    {
        static (bool Read, DateTimeOffset? At) Parse(string text) =>
            text.Length == 0 ? (true, null) : IsoInstant.TryParse(text, out var t) ? (true, t) : (false, null);
        var (toRead, asked) = Parse(q["to"].ToString());
        var (fromRead, fromAsked) = Parse(q["from"].ToString());
        if (!toRead || !fromRead) return null;
        var to = asked ?? asOf ?? time.GetUtcNow();
        var from = fromAsked ?? (to > DateTimeOffset.MinValue.AddDays(30) ? to.AddDays(-30) : DateTimeOffset.MinValue);
        if (from >= to) return null;
        return (from, to, asked is null);
    }

    private static string RangeProblem(IQueryCollection q) =>
        $"from/to: dates like 2026-11-01 or 2026-11-01T00:00:00Z, with from before to (got from '{q["from"]}', to '{q["to"]}')";
}
