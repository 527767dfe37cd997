using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

public sealed record LinkParentRequest(string? Url, string? Token);

public sealed record ParentView(string ParentUrl, string ParentId, string ParentName, string ChildId, DateTimeOffset Linked, long Checkpoint,
    DateTimeOffset? LastReplicated, string? CompleteRunInProgress, CatalogVerified? LastVerification);

/// <summary><c>PendingEvents</c>: catalog events after the child's checkpoint (its lag); <c>Status</c>: ok, alert (a language alert), revoked.</summary>
public sealed record ChildView(string Id, string Name, string? Url, IReadOnlyList<string> Cultures, DateTimeOffset Registered, string Status,
    IReadOnlyList<string> MissingCultures, long Checkpoint, long PendingEvents, DateTimeOffset? LastReport, string? LastRun);

/// <summary>The hierarchy as an administrator sees it: this server's parent (and linking to one), its children, their alerts.</summary>
public static class HierarchyEndpoints
{
    public static void MapHierarchy(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/hierarchy").WithTags("Hierarchy");

        group.MapPost("parent", async (LinkParentRequest body, HttpContext http, IDocumentStore store, ParentClient parent, HierarchyOptions options, TimeProvider time,
                ServerTasks.ServerTaskRunner runner, CancellationToken ct) =>
            {
                if (body.Url is null || options.ParentUrlProblem(body.Url) is { } badUrl)
                    return Problems.Invalid("Invalid parent", options.ParentUrlProblem(body.Url)!);
                if (Domain.Agents.Secrets.Split(body.Token) is null) return Problems.Invalid("Invalid parent", "token: the registration token the parent's administrator created");
                await using var session = store.OpenSession(Actor.From(http));
                var link = await session.Events.FetchForWriting<ParentLink>(ParentLink.StreamId, ct);
                if (link.Aggregate is { } known)
                    return Results.Problem(title: "Already a child", detail: $"This server is a child of '{known.ParentName}' ({known.ParentUrl}).", statusCode: StatusCodes.Status409Conflict);
                var settings = await Settings.CoreSettingsEndpoints.CurrentAsync(session, ct);
                var chosen = await ParentLinkAttempts.SecretAsync(store, parent, Actor.From(http), body.Token!, body.Url, time, ct);
                ChildRegistered registered;
                try
                {
                    registered = await parent.RegisterAsync(body.Url, new RegisterChildRequest(body.Token, options.Name, $"{http.Request.Scheme}://{http.Request.Host}",
                        settings.ManagedCultures, chosen, await ServerIdentities.GetAsync(store, time, ct), (await HierarchyRollup.SubtreeAsync(store, session, time, ct)).Skip(1).ToList()), ct);
                }
                catch (Exception e) when (ParentProblem(e, "The parent refused the registration", "The parent could not be reached") is { } problem)
                {
                    return problem;
                }
                var now = time.GetUtcNow();
                link.AppendOne(new ParentServerLinked(body.Url, registered.ParentId, registered.ParentName, registered.ChildId, parent.Protect(registered.Credential), now));
                // A child replicates by itself from now on: its replication tasks' default schedules are switched on, unless an administrator set them already.
                foreach (var name in new[] { CatalogReplicator.TaskName, PolicyReplicator.TaskName, HierarchyRollup.TaskName })
                    if (runner.Find(name)?.DefaultCron is { } cron && await session.LoadAsync<Domain.ServerTasks.ServerTaskSchedule>(Domain.ServerTasks.ServerTaskSchedule.StreamId(name), ct) is null)
                        session.Events.Append(Domain.ServerTasks.ServerTaskSchedule.StreamId(name),
                            new Domain.ServerTasks.ServerTaskScheduleSet(Domain.ServerTasks.ServerTaskSchedule.StreamId(name), name, cron, "UTC", true, now));
                await session.SaveChangesAsync(ct);
                return Results.Ok(View((await session.LoadAsync<ParentLink>(ParentLink.StreamId, ct))!));
            })
            .ForAdministrator().WithName("LinkParent")
            .WithSummary("Make this server a child: registers with the parent at url with the parent's registration token (its name is Patch:Hierarchy:Name, its cultures the managed cultures), keeps the credential it receives (encrypted at rest) and switches on the default schedules of catalog-replication, policy-replication and hierarchy-rollup (unless set already). The credential's secret is chosen here and kept per token, so the same request again after a lost answer gets the same registration.")
            .Produces<ParentView>().ProducesProblem(400).ProducesProblem(409).ProducesProblem(502);

        group.MapGet("parent", async (IQuerySession session, CancellationToken ct) =>
                await session.LoadAsync<ParentLink>(ParentLink.StreamId, ct) is { } link ? Results.Ok(View(link)) : Problems.NotFound("This server has no parent."))
            .ForAuditor().WithName("GetParent").WithSummary("This server's parent, its replication checkpoint, last replication and last data verification.")
            .Produces<ParentView>().ProducesProblem(404);

        group.MapGet("children", async (IQuerySession session, NpgsqlDataSource db, CancellationToken ct) => Results.Ok(await ChildrenAsync(session, db, ct)))
            .ForAuditor().WithName("ListChildren")
            .WithSummary("This server's children: cultures, status (ok, alert: a language alert names the cultures this server does not manage, revoked), checkpoint, catalog events still to replicate, last report and run.")
            .Produces<IReadOnlyList<ChildView>>();

        group.MapDelete("children/{id}", async (string id, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<ChildServer>(id, ct);
                if (stream.Aggregate is null) return Problems.NotFound($"No child server '{id}'.");
                if (!stream.Aggregate.Revoked) stream.AppendOne(new ChildServerRevoked(id, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                return Results.NoContent();
            })
            .ForAdministrator().WithName("RevokeChild").WithSummary("Revoke a child server's credential: it can no longer replicate.").Produces(204).ProducesProblem(404);
    }

    /// <summary>This server's children, by name, with their status and lag (the API and the console).</summary>
    public static async Task<IReadOnlyList<ChildView>> ChildrenAsync(IQuerySession session, NpgsqlDataSource db, CancellationToken ct)
    {
        var views = new List<ChildView>();
        foreach (var c in (await session.Query<ChildServer>().ToListAsync(ct)).OrderBy(c => c.Name, StringComparer.OrdinalIgnoreCase))
            views.Add(new ChildView(c.Id, c.Name, c.Url, c.Cultures, c.Registered, c.Revoked ? "revoked" : c.MissingCultures.Count > 0 ? "alert" : "ok",
                c.MissingCultures, c.Checkpoint, await CatalogLog.PendingAsync(db, c.Checkpoint, ct), c.LastReportAt, c.LastRun));
        return views;
    }

    /// <summary>This server's parent, or null when it has none.</summary>
    public static async Task<ParentView?> ParentAsync(IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<ParentLink>(ParentLink.StreamId, ct) is { } link ? View(link) : null;

    /// <summary>A 502 for a call to the parent that failed — its refusal's detail, or why it could not be reached or trusted — or null for another exception.</summary>
    internal static IResult? ParentProblem(Exception e, string refused, string unreached) => e switch
    {
        ParentRefusedException r => Results.Problem(title: refused, detail: r.Detail, statusCode: StatusCodes.Status502BadGateway),
        HttpRequestException or InvalidOperationException or TaskCanceledException or System.Text.Json.JsonException =>
            Results.Problem(title: unreached, detail: e.Message, statusCode: StatusCodes.Status502BadGateway),
        _ => null,
    };

    internal static ParentView View(ParentLink l) => new(l.ParentUrl, l.ParentId, l.ParentName, l.ChildId, l.Linked, l.Checkpoint, l.LastReplicated, l.Snapshot?.RunId,
        l.LastVerification);
}
