using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Application.Security;

namespace Patch.Application.Agents;

/// <summary>One day's seat usage: computers with an agent at the day's end, and the agents enrolled and removed that day.</summary>
public sealed record SeatUsageDay(DateOnly Day, long Computers, long Enrolled, long Removed);

/// <summary>
/// Seat usage (the seed's License Status web part), over time: from the agents' enrolment, revocation and reset events,
/// the computers that had an agent at each day's end (UTC).
/// </summary>
public static class SeatUsage
{
    public static void MapSeatUsage(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/reports/seat-usage", async (string? from, string? to, HttpContext http, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
                ReportQuery.Answer(await DaysAsync(db, time, from, to, ct), http))
            .WithTags("Reports").ForAuditor().WithQuery(QueryParameters.Format).WithName("SeatUsage")
            .WithSummary("Seat usage per day (from, to: dates, default the last 30 days, at most 366): computers with an agent at the day's end (UTC), agents enrolled and removed (revoked or reset) that day. CSV with format=csv.")
            .Produces<IReadOnlyList<SeatUsageDay>>(200, "application/json", "text/csv").ProducesProblem(400);

    public static async Task<QueryAnswer<IReadOnlyList<SeatUsageDay>>> DaysAsync(NpgsqlDataSource db, TimeProvider time, string? from, string? to, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (range, problem) = ComplianceTrends.ParseRange(from, to, now, 30);
        if (problem is not null) return QueryAnswer<IReadOnlyList<SeatUsageDay>>.Invalid(problem);
        await using var cmd = db.CreateCommand($"""
            with agent as (
                select stream_id, timestamp as at, type, lead(timestamp) over (partition by stream_id order by seq_id) as next_at
                from {PatchStore.Schema}.mt_events where type in ('agent_enrolled', 'agent_revoked', 'agent_reset')
            ), seats as (
                select at as since, coalesce(next_at, 'infinity'::timestamptz) as until from agent where type = 'agent_enrolled'
            ), days as (
                select d::date as day, least(d + interval '1 day', @now) as day_end, d as day_start
                from generate_series(@from::timestamptz, @to::timestamptz, interval '1 day') d
            )
            select day,
                   (select count(*) from seats where since < day_end and until >= day_end),
                   (select count(*) from agent where type = 'agent_enrolled' and at >= day_start and at < day_end),
                   (select count(*) from agent where type <> 'agent_enrolled' and at >= day_start and at < day_end)
            from days order by day
            """);
        cmd.Parameters.AddWithValue("from", new DateTimeOffset(range!.From.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));
        cmd.Parameters.AddWithValue("to", new DateTimeOffset(range.To.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));
        cmd.Parameters.AddWithValue("now", now);
        var days = new List<SeatUsageDay>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            days.Add(new SeatUsageDay(DateOnly.FromDateTime(reader.GetDateTime(0)), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
        return days;
    }
}
