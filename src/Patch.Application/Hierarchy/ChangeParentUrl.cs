using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

public sealed record ChangeParentUrlRequest(string? Url);

/// <summary>
/// The parent is reached at another URL — moved to https (a link over plain http made before https was required sends
/// nothing any more), a new host name. The child asks the parent there for its status with its own credential: only an
/// answer signed with that credential's key and naming the same parent moves the link.
/// </summary>
public static class ChangeParentUrl
{
    public static void MapChangeParentUrl(this IEndpointRouteBuilder app)
    {
        app.MapPut("/api/hierarchy/parent/url", async (ChangeParentUrlRequest body, HttpContext http, IDocumentStore store, ParentClient parent, HierarchyOptions options,
                TimeProvider time, CancellationToken ct) =>
            {
                if (body.Url is null || options.ParentUrlProblem(body.Url) is not null) return Problems.Invalid("Invalid parent", options.ParentUrlProblem(body.Url)!);
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<ParentLink>(ParentLink.StreamId, ct);
                if (stream.Aggregate is not { } link) return Problems.NotFound("This server has no parent.");
                if (link.ParentUrl == body.Url) return Results.Ok(HierarchyEndpoints.View(link));
                try
                {
                    var cultures = await ParentLinks.CulturesAsync(store, ct);
                    // Asked who answers there, not told where replication stands: a parent restored from an older backup would
                    // refuse the checkpoint (the next replication re-bases), and the move does not depend on it.
                    var answer = await parent.SendAsync<ChildStatusAnswer>(link with { ParentUrl = body.Url }, HttpMethod.Post, "status",
                        new ChildStatusRequest(cultures, null, null), ct);
                    ReplicationProtocol.CheckParent(answer.ParentId, link);
                }
                catch (Exception e) when (HierarchyEndpoints.ParentProblem(e, "The parent refused", "Not this server's parent there") is { } problem)
                {
                    return problem;
                }
                stream.AppendOne(new ParentUrlChanged(body.Url, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                return Results.Ok(HierarchyEndpoints.View((await session.LoadAsync<ParentLink>(ParentLink.StreamId, ct))!));
            })
            .WithTags("Hierarchy").ForAdministrator().WithName("ChangeParentUrl")
            .WithSummary("Reach the parent at another URL (https, a new host name): moved only when the parent answers there, signed for this child's credential and naming the same parent.")
            .Produces<ParentView>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(502);
    }
}
