using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Bulletins;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.Settings;
using Patch.Projections.Catalog;

namespace Patch.Application.Settings;

public sealed record CustomSeverityLevelView(string Id, string Name, int Position, int AssignedBulletins);

public sealed record NameRequest(string? Name);

public sealed record ReorderRequest(IReadOnlyList<string>? LevelIds);

public sealed record AssignRequest(string? LevelId);

public sealed record BulkAssignRequest(IReadOnlyList<string>? BulletinIds, string? LevelId);

/// <summary>Custom severity levels (C3): create, rename, delete, reorder, and assign them to bulletins.</summary>
public static class CustomSeverityEndpoints
{
    public static void MapCustomSeverities(this IEndpointRouteBuilder app)
    {
        var levels = app.MapGroup("/api/custom-severities").WithTags("Custom severity levels");

        levels.MapGet("", async (HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, CancellationToken ct) => Results.Ok(await ViewAsync(session, ct, db, AsOf.Of(http))))
            .ForAuditor().WithAsOf().WithName("ListCustomSeverityLevels").WithSummary("The custom severity levels in display order, with how many bulletins carry each (as they stood at asOf when asked).")
            .Produces<IReadOnlyList<CustomSeverityLevelView>>();

        levels.MapPost("", (NameRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                ChangeLevelsAsync(store, http, current => CustomSeverityLevels.DecideCreate(current, Guid.NewGuid().ToString("N")[..12], body.Name), ct, StatusCodes.Status201Created))
            .ForAdministrator().WithName("CreateCustomSeverityLevel").WithSummary("Create a level (name required, unique, at most 64 characters); it is appended at the end.")
            .Produces<IReadOnlyList<CustomSeverityLevelView>>(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(409);

        levels.MapPut("{levelId}", (string levelId, NameRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                ChangeLevelsAsync(store, http, current => CustomSeverityLevels.DecideRename(current, levelId, body.Name), ct))
            .ForAdministrator().WithName("RenameCustomSeverityLevel").WithSummary("Rename a level.")
            .Produces<IReadOnlyList<CustomSeverityLevelView>>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);

        levels.MapDelete("{levelId}", async (string levelId, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                // Counted under the levels stream's lock, which assignments take too: no assignment can slip in between.
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForExclusiveWriting<CustomSeverityLevels>(StreamIds.CustomSeverityLevels, ct);
                var assigned = await session.Query<BulletinRow>().CountAsync(r => r.CustomSeverityId == levelId, ct);
                var outcome = CustomSeverityLevels.DecideDelete(stream.Aggregate, levelId, assigned);
                if (outcome.Rejection is { } rejection) return Problems.From(rejection);
                stream.AppendMany(outcome.Events);
                await session.SaveChangesAsync(ct);
                return Results.Ok(await ViewAsync(session, ct));
            })
            .ForAdministrator().WithName("DeleteCustomSeverityLevel").WithSummary("Delete a level. Refused (409) while any bulletin carries it: unassign it first.")
            .Produces<IReadOnlyList<CustomSeverityLevelView>>().ProducesProblem(404).ProducesProblem(409);

        levels.MapPut("order", (ReorderRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                ChangeLevelsAsync(store, http, current => CustomSeverityLevels.DecideReorder(current, body.LevelIds), ct))
            .ForAdministrator().WithName("ReorderCustomSeverityLevels").WithSummary("Set the display order: every existing level id exactly once.")
            .Produces<IReadOnlyList<CustomSeverityLevelView>>().ProducesProblem(400);

        var bulletins = app.MapGroup("/api/bulletins").WithTags("Patch Remediation Center");

        bulletins.MapPut("{id}/custom-severity", (string id, AssignRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                AssignAsync(store, http, [id], body.LevelId, ct))
            .ForOperator().WithName("AssignCustomSeverity").WithSummary("Assign a custom severity level to a bulletin (vendor severity is never editable); levelId null clears it.")
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(400).ProducesProblem(404);

        bulletins.MapDelete("{id}/custom-severity", (string id, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                AssignAsync(store, http, [id], null, ct))
            .ForOperator().WithName("ClearCustomSeverity").WithSummary("Remove the custom severity of a bulletin.")
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(404);

        bulletins.MapPost("custom-severity", (BulkAssignRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                body.BulletinIds is not { Count: > 0 } || body.BulletinIds.Any(string.IsNullOrWhiteSpace)
                    ? Task.FromResult(Problems.Invalid("Missing field", "'bulletinIds' must list at least one bulletin, none empty."))
                    : AssignAsync(store, http, body.BulletinIds, body.LevelId, ct))
            .ForOperator().WithName("AssignCustomSeverityInBulk").WithSummary("Assign (or with levelId null, clear) a custom severity on many bulletins: all or nothing.")
            .Produces(StatusCodes.Status204NoContent).ProducesProblem(400).ProducesProblem(404);
    }

    public static async Task<IReadOnlyList<CustomSeverityLevelView>> ViewAsync(IQuerySession session, CancellationToken ct, Npgsql.NpgsqlDataSource? db = null,
        DateTimeOffset? asOf = null)
    {
        var levels = await Historical.LoadAsync<CustomSeverityLevels>(session, StreamIds.CustomSeverityLevels, asOf, ct) ?? CustomSeverityLevels.Empty;
        var rows = asOf is { } at ? (await Historical.AllAsync<BulletinRow>(session, db!, Projections.PatchProjections.BulletinRowTable, at, ct)).Where(r => r.CustomSeverityId != null).ToList()
            : await session.Query<BulletinRow>().Where(r => r.CustomSeverityId != null).ToListAsync(ct);
        var counts = rows.GroupBy(r => r.CustomSeverityId!).ToDictionary(g => g.Key, g => g.Count());
        return levels.Levels.Select((l, i) => new CustomSeverityLevelView(l.Id, l.Name, i + 1, counts.GetValueOrDefault(l.Id))).ToList();
    }

    private static async Task<IResult> ChangeLevelsAsync(IDocumentStore store, HttpContext http, Func<CustomSeverityLevels?, Outcome> decide, CancellationToken ct, int successStatus = 200)
    {
        await using var session = store.OpenSession(Actor.From(http));
        var stream = await session.Events.FetchForWriting<CustomSeverityLevels>(StreamIds.CustomSeverityLevels, ct);
        var outcome = decide(stream.Aggregate);
        if (outcome.Rejection is { } rejection) return Problems.From(rejection);
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        var view = await ViewAsync(session, ct);
        return successStatus == StatusCodes.Status201Created ? Results.Created("/api/custom-severities", view) : Results.Ok(view);
    }

    private static async Task<IResult> AssignAsync(IDocumentStore store, HttpContext http, IReadOnlyList<string> ids, string? levelId, CancellationToken ct)
    {
        await using var session = store.OpenSession(Actor.From(http));
        var levels = (await session.Events.FetchForExclusiveWriting<CustomSeverityLevels>(StreamIds.CustomSeverityLevels, ct)).Aggregate ?? CustomSeverityLevels.Empty;
        foreach (var id in ids.Distinct())
        {
            var streamId = await GetBulletin.ResolveIdAsync(session, id, ct) ?? id;
            var stream = await session.Events.FetchForWriting<Bulletin>(streamId, ct);
            var outcome = levelId is null
                ? CustomSeverityAssignment.Clear(stream.Aggregate, id)
                : CustomSeverityAssignment.Assign(stream.Aggregate, id, levelId, levels);
            if (outcome.Rejection is { } rejection) return Problems.From(rejection);
            stream.AppendMany(outcome.Events);
        }
        await session.SaveChangesAsync(ct);
        return Results.NoContent();
    }
}
