using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Bulletins;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Staging;

public sealed record StageRequest(IReadOnlyList<string>? BulletinIds);

public sealed record StagingStarted(string RunId, string Status, string StatusUrl, IReadOnlyList<string> BulletinIds);

public sealed record UpdateStagingStatus(string UpdateId, string Product, string Culture, string State, string? Sha256, long? Size, bool Verified,
    string? Source, string? Reason, int Attempts, long? BytesReceived, long? BytesTotal, string? Excluded);

public sealed record BulletinStagingStatus(string BulletinId, bool Staged, int Updates, int Downloaded, int Failed, IReadOnlyList<UpdateStagingStatus> UpdateStatus);

public sealed record StagingRunStatus(ServerTaskRun Run, IReadOnlyList<BulletinStagingStatus> Bulletins);

/// <summary>Staging (C4): stage bulletins in the background, follow the job, and serve packages by hash.</summary>
public static class StagingEndpoints
{
    public static void MapStaging(this IEndpointRouteBuilder app)
    {
        var bulletins = app.MapGroup("/api/bulletins").WithTags("Staging");

        bulletins.MapPost("{id}/stage", (string id, HttpContext http, IDocumentStore store, BulletinStager stager, CancellationToken ct) =>
                StartAsync([id], http, store, stager, ct))
            .ForOperator().WithName("StageBulletin")
            .WithSummary("Stage a bulletin: download every non-excluded update not yet downloaded into the package store, in the background. Answers 202 with the run to follow.")
            .Produces<StagingStarted>(StatusCodes.Status202Accepted).ProducesProblem(404);

        bulletins.MapPost("stage", (StageRequest body, HttpContext http, IDocumentStore store, BulletinStager stager, CancellationToken ct) =>
                body.BulletinIds is not { Count: > 0 } || body.BulletinIds.Any(string.IsNullOrWhiteSpace)
                    ? Task.FromResult(Problems.Invalid("Missing field", "'bulletinIds' must list at least one bulletin, none empty."))
                    : StartAsync(body.BulletinIds, http, store, stager, ct))
            .ForOperator().WithName("StageBulletins")
            .WithSummary("Stage several bulletins (e.g. the Remediation Center's selection) in one background job; unknown ids refuse the whole request.")
            .Produces<StagingStarted>(StatusCodes.Status202Accepted).ProducesProblem(400).ProducesProblem(404);

        app.MapGet("/api/staging/{runId}", async (string runId, IQuerySession session, StagingProgress progress, CancellationToken ct) =>
            {
                var run = await session.LoadAsync<ServerTaskRun>(runId, ct);
                if (run is null || run.Task != BulletinStager.TaskName) return Problems.NotFound($"No staging run '{runId}'.");
                var ids = run.Parameters.GetValueOrDefault("bulletins", "").Split(',', StringSplitOptions.RemoveEmptyEntries);
                var statuses = new List<BulletinStagingStatus>();
                foreach (var bulletin in await session.LoadManyAsync<Bulletin>(ct, ids)) statuses.Add(Status(bulletin, progress));
                return Results.Ok(new StagingRunStatus(run, statuses));
            })
            .WithTags("Staging").ForAuditor().WithName("GetStagingRun")
            .WithSummary("A staging job: its run (running / completed with counts) and, per update, downloaded / failed (with the reason) / downloading (bytes) / pending / excluded.")
            .Produces<StagingRunStatus>().ProducesProblem(404);

        app.MapGet("/api/bulletins/{id}/staging", async (string id, IQuerySession session, StagingProgress progress, CancellationToken ct) =>
            {
                var streamId = await GetBulletin.ResolveIdAsync(session, id, ct);
                var bulletin = streamId is null ? null : await session.LoadAsync<Bulletin>(streamId, ct);
                return bulletin is null ? Problems.NotFound($"No bulletin '{id}'.") : Results.Ok(Status(bulletin, progress));
            })
            .WithTags("Staging").ForAuditor().WithName("GetBulletinStaging")
            .WithSummary("Per update of one bulletin: where its package stands in the package store.")
            .Produces<BulletinStagingStatus>().ProducesProblem(404);

        app.MapGet("/agent/v1/packages/{sha256}", Package)
            .ForAgent().WithTags("Agent").WithName("GetPackage").EvaluatesPreconditions()
            .WithSummary("A staged package by its SHA-256 (lower-case hex), with Range support for resumed downloads; its entity tag is its SHA-256 (If-None-Match, If-Match, If-Range evaluated).")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream").Produces(StatusCodes.Status206PartialContent).ProducesProblem(400).ProducesProblem(401).ProducesProblem(404);

        app.MapMethods("/agent/v1/packages/{sha256}", ["HEAD"], Package)
            .ForAgent().WithTags("Agent").WithName("GetPackageHeaders").EvaluatesPreconditions()
            .WithSummary("The headers of a staged package (length, ETag, Accept-Ranges) without its bytes: whether it exists and how large it is.")
            .Produces(StatusCodes.Status200OK).ProducesProblem(400).ProducesProblem(401).ProducesProblem(404);
    }

    private static IResult Package(string sha256, HttpRequest request, PackageStore store)
    {
        if (!PackageStore.IsSha256(sha256))
            return Problems.Invalid("Invalid package", $"'{Domain.Users.UserDecisions.Printable(sha256)}' is no package's name: a SHA-256 in 64 lower-case hex digits.");
        if (!store.Has(sha256)) return Problems.NotFound($"No package '{sha256}' in the package store.");
        ConditionalRequests.RangeAsRfcSays(request, sha256);
        return Results.File(store.PathOf(sha256), "application/octet-stream", sha256, entityTag: ConditionalRequests.PackageTag(sha256), enableRangeProcessing: true);
    }

    private static async Task<IResult> StartAsync(IReadOnlyList<string> ids, HttpContext http, IDocumentStore store, BulletinStager stager, CancellationToken ct)
    {
        var resolved = new List<string>();
        await using (var query = store.QuerySession())
        {
            foreach (var id in ids.Distinct())
            {
                var streamId = await GetBulletin.ResolveIdAsync(query, id, ct);
                if (streamId is null || await query.LoadAsync<Bulletin>(streamId, ct) is null) return Problems.NotFound($"No bulletin '{id}'; nothing was staged.");
                if (!resolved.Contains(streamId)) resolved.Add(streamId);
            }
        }
        var actor = Actor.From(http);
        var runId = await stager.StartAsync(resolved, actor, ct);
        return Results.Accepted($"/api/staging/{runId}", new StagingStarted(runId, ServerTaskStatus.Running, $"/api/staging/{runId}", resolved));
    }

    public static BulletinStagingStatus Status(Bulletin bulletin, StagingProgress progress)
    {
        var updates = bulletin.Updates.Select(u =>
        {
            var d = bulletin.DownloadOf(u.UpdateId);
            var live = progress.Of($"{bulletin.Id}/{u.UpdateId}");
            var state = u.Excluded is not null ? "excluded" : d?.Status switch
            {
                DownloadStatus.Downloaded => "downloaded",
                DownloadStatus.Failed when live is null => "failed",
                _ => live is null ? "pending" : "downloading",
            };
            return new UpdateStagingStatus(u.UpdateId, u.Product, u.Culture, state, d?.Sha256, d?.Size, d?.Verified ?? false, d?.Source, d?.Reason,
                d?.Attempts ?? 0, live?.Received, live?.Total, u.Excluded);
        }).ToList();
        var active = updates.Where(u => u.Excluded is null).ToList();
        return new BulletinStagingStatus(bulletin.Id, StagingRules.IsStaged(bulletin), active.Count, active.Count(u => u.State == "downloaded"),
            active.Count(u => u.State == "failed"), updates);
    }
}
