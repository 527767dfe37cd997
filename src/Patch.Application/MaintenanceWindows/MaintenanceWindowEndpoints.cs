using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Application.Targets;
using Patch.Domain.Computers;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Settings;

namespace Patch.Application.MaintenanceWindows;

public sealed record MaintenanceWindowRequest(string? Name, MaintenanceWindowSchedule? Schedule, IReadOnlyList<string>? Targets);

public sealed record WindowCheck(string Computer, DateTimeOffset At, bool Inside, DateTimeOffset? OpenUntil, DateTimeOffset? NextStart, IReadOnlyList<string> Windows);

/// <summary>Maintenance windows: named, recurring, time-zone aware, with targets; the calendar answers for a computer.</summary>
public static class MaintenanceWindowEndpoints
{
    /// <summary>Every window's entity tag (its stream's version), in one query: what the console sends back with a change (data-if-match).</summary>
    public static async Task<Dictionary<string, string>> TagsAsync(Npgsql.NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"select id, version from {PatchStore.Schema}.mt_streams where id like 'window:%'");
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(ct)) tags[reader.GetString(0)] = ConditionalRequests.VersionTag(reader.GetInt64(1));
        return tags;
    }

    public static async Task<IReadOnlyList<MaintenanceWindow>> ListAsync(IQuerySession session, CancellationToken ct, Npgsql.NpgsqlDataSource? db = null, DateTimeOffset? asOf = null) =>
        asOf is { } at
            ? (await Historical.AllAsync<MaintenanceWindow>(session, db!, Projections.PatchProjections.MaintenanceWindowTable, at, ct, "d.data->>'name'")).Where(w => !w.Deleted).ToList()
            : await session.Query<MaintenanceWindow>().Where(w => !w.Deleted).OrderBy(w => w.Name).ToListAsync(ct);

    public static void MapMaintenanceWindows(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/maintenance-windows").WithTags("Maintenance windows");

        group.MapGet("", async (HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, CancellationToken ct) => Results.Ok(await ListAsync(session, ct, db, AsOf.Of(http))))
            .ForAuditor().WithAsOf().WithName("ListMaintenanceWindows").WithSummary("The maintenance windows (as they stood at asOf when asked).").Produces<IReadOnlyList<MaintenanceWindow>>();

        group.MapPost("", (MaintenanceWindowRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                SaveAsync(MaintenanceWindow.StreamId(Guid.NewGuid()), body, http, store, ct, created: true))
            .ForOperator().WithName("CreateMaintenanceWindow")
            .WithSummary("A window: schedule { timeZone (IANA), start (HH:mm), duration (hh:mm:ss), recurrence { kind: Daily | Weekly (days) | Monthly (dayOfMonth) | MonthlyNthWeekday (week 1-5, weekday, offsetDays) } } and targets.")
            .Produces<MaintenanceWindow>(StatusCodes.Status201Created).ProducesProblem(400);

        group.MapPut("{id}", (string id, MaintenanceWindowRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                SaveAsync(id, body, http, store, ct, created: false))
            .ForOperator().EvaluatesIfMatch().WithName("ChangeMaintenanceWindow").WithSummary("Replace a window's name, schedule and targets.").Produces<MaintenanceWindow>().ProducesProblem(400).ProducesProblem(404);

        group.MapDelete("{id}", async (string id, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<MaintenanceWindow>(id, ct);
                if (stream.Aggregate is null) return Problems.NotFound($"No maintenance window '{id}'.");
                // Deleted already: said as a change to it says it (a policy's, an agent configuration's delete answer the same).
                if (stream.Aggregate.Deleted)
                    return Problems.From(new Domain.Rejection(Domain.RejectionKind.NotFound, "Maintenance window deleted", $"Window '{id}' was deleted."));
                var vendors = await session.Query<VendorSettings>().Where(v => v.Values.DefaultMaintenanceWindowId == id).Select(v => v.Vendor).ToListAsync(ct);
                if (vendors.Count > 0)
                    return Problems.From(new Domain.Rejection(Domain.RejectionKind.Conflict, "Maintenance window in use",
                        $"Window '{id}' is the default maintenance window of the {string.Join(", ", vendors)} vendor settings."));
                if (ConditionalRequests.IfMatchFails(http.Request, stream.CurrentVersion ?? 0) is { } failed) return failed;
                stream.AppendOne(new MaintenanceWindowDeleted(id));
                await session.SaveChangesAsync(ct);
                return Results.NoContent();
            })
            .ForAdministrator().EvaluatesIfMatch().WithName("DeleteMaintenanceWindow").WithSummary("Delete a window (refused while it is a vendor's default window).").Produces(204).ProducesProblem(404).ProducesProblem(409);

        group.MapGet("check", async (string computer, DateTimeOffset? at, IQuerySession session, Npgsql.NpgsqlDataSource db, IConfiguration config, TimeProvider time, CancellationToken ct) =>
            {
                var instant = at ?? time.GetUtcNow();
                // The calendar looks days back and two years ahead of the instant, in the windows' time zones.
                if (instant.UtcDateTime.Year is < 1900 or >= 9000)
                    return Problems.Invalid("Invalid query", $"at: {instant:O} is outside the years a window is checked in (1900 to 8999).");
                var target = await session.LoadAsync<Computer>(Computer.StreamId(computer), ct);
                if (target is null) return Problems.NotFound($"No computer '{computer}'.");
                var membership = await Agents.ComputerMembership.ForAsync(session, db, config, target, ct);
                var windows = (await session.Query<MaintenanceWindow>().Where(w => !w.Deleted).ToListAsync(ct)).Where(w => w.Targets.Any(t => membership.IsIn(t, []))).ToList();
                var open = windows.Select(w => MaintenanceWindowCalendar.Containing(w.Schedule, instant)).Where(c => c is not null).Select(c => c!.Value.End).DefaultIfEmpty().Max();
                return Results.Ok(new WindowCheck(target.Name, instant, open != default, open == default ? null : open,
                    MaintenanceWindowCalendar.NextStartOfAny(windows.Select(w => w.Schedule), instant), windows.Select(w => w.Name).ToList()));
            })
            .ForAuditor().WithName("CheckMaintenanceWindows")
            .WithSummary("For one computer: is 'at' (default now) inside one of its windows, until when, and when does the next one start.")
            .Produces<WindowCheck>().ProducesProblem(404);
    }

    private static async Task<IResult> SaveAsync(string id, MaintenanceWindowRequest body, HttpContext http, IDocumentStore store, CancellationToken ct, bool created)
    {
        await using var session = store.OpenSession(Actor.From(http));
        var stream = await session.Events.FetchForWriting<MaintenanceWindow>(id, ct);
        if (!created && stream.Aggregate is null) return Problems.NotFound($"No maintenance window '{id}'.");
        var version = stream.CurrentVersion ?? 0;
        if (await TargetEndpoints.UnknownUpdateTargetAsync(session, body.Targets, ct) is { } unknownUpdate) return unknownUpdate;
        var known = (await TargetEndpoints.CustomTargetsAsync(session, ct)).Keys.ToHashSet();
        var outcome = MaintenanceWindow.Decide(stream.Aggregate, id, body.Name, body.Schedule, body.Targets, known);
        if (outcome.Rejection is { } r) return Problems.From(r);
        if (ConditionalRequests.IfMatchFails(http.Request, version) is { } failed) return failed;
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        ConditionalRequests.Tag(http, version, outcome.Events.Count);
        var window = await session.LoadAsync<MaintenanceWindow>(id, ct);
        return created ? Results.Created($"/api/maintenance-windows/{id}", window) : Results.Ok(window);
    }
}
