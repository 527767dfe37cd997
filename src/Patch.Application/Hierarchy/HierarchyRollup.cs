using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>A child's roll-up: its own figures, its subtree's, and the server ids of that subtree (its own first).</summary>
public sealed record RollupRequest(HierarchyFigures? Own, HierarchyFigures? Subtree, IReadOnlyList<string>? Servers = null);

public sealed record RollupReceived(string ChildId, DateTimeOffset At);

/// <summary>One child's line of the roll-up: its own figures and its subtree's, as of its last report.</summary>
public sealed record ChildRollupView(string Id, string Name, string Status, DateTimeOffset? ReportedAt, HierarchyFigures? Own, HierarchyFigures? Subtree);

/// <summary>"How patched is the organisation": this server's own figures, each child's, and the whole hierarchy's (own + every child's subtree).</summary>
public sealed record RollupView(HierarchyFigures Own, IReadOnlyList<ChildRollupView> Children, HierarchyFigures Hierarchy);

/// <summary>
/// The roll-up (issue 17 §5, beyond the seed): children send their compliance and delivery figures up after each
/// replication run (and with the hierarchy-rollup task); each server's subtree is its own figures plus its children's
/// subtrees, so the top parent's hierarchy line covers every server below it. The figures are the home page's, computed
/// by the same queries.
/// </summary>
public static class HierarchyRollup
{
    public const string TaskName = "hierarchy-rollup";

    public static async Task<HierarchyFigures> OwnAsync(NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        var home = await Compliance.FleetQueries.HomeAsync(db, time, ct);
        return new HierarchyFigures(1, home.Configuration.Computers, home.Configuration.ComputersWithAgent, home.Configuration.NotReportingInventory,
            home.Vulnerabilities.Select(v => new SeverityFigures(v.Severity, v.MissingInstalls, v.Computers)).OrderBy(v => v.Severity, StringComparer.Ordinal).ToList(),
            home.Delivery.Executed, home.Delivery.Succeeded, home.Delivery.Failed, home.Delivery.NotCompleted, home.PendingRestarts);
    }

    private static async Task<IReadOnlyList<ChildServer>> ChildrenAsync(IQuerySession session, CancellationToken ct) =>
        (await session.Query<ChildServer>().ToListAsync(ct)).Where(c => !c.Revoked).OrderBy(c => c.Name, StringComparer.OrdinalIgnoreCase).ToList();

    public static async Task<RollupView> ViewAsync(IQuerySession session, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        var own = await OwnAsync(db, time, ct);
        var children = await ChildrenAsync(session, ct);
        return new RollupView(own,
            children.Select(c => new ChildRollupView(c.Id, c.Name, c.MissingCultures.Count > 0 ? "alert" : "ok", c.Rollup?.At, c.Rollup?.Own, c.Rollup?.Subtree)).ToList(),
            HierarchyFigures.Sum(children.Where(c => c.Rollup is not null).Select(c => c.Rollup!.Subtree).Prepend(own)));
    }

    /// <summary>The child's side: its own figures and its subtree's, sent to its parent.</summary>
    public static async Task SendAsync(IDocumentStore store, NpgsqlDataSource db, ParentClient parent, TimeProvider time, ParentLink link, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var view = await ViewAsync(session, db, time, ct);
        var servers = await SubtreeAsync(store, session, time, ct);
        await parent.SendAsync<RollupReceived>(link, HttpMethod.Post, "rollup", new RollupRequest(view.Own, view.Hierarchy, servers), ct);
    }

    /// <summary>This server's subtree by server id: itself and what its children last reported.</summary>
    public static async Task<IReadOnlyList<string>> SubtreeAsync(IDocumentStore store, IQuerySession session, TimeProvider time, CancellationToken ct) =>
        SubtreeServers.Of(await ServerIdentities.GetAsync(store, time, ct), await session.Query<ChildServer>().ToListAsync(ct));

    public static void MapHierarchyRollup(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/hierarchy/rollup", async (IQuerySession session, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
                Results.Ok(await ViewAsync(session, db, time, ct)))
            .WithTags("Hierarchy").ForAuditor().WithName("HierarchyRollup")
            .WithSummary("The roll-up: this server's own compliance and delivery figures, each child's (own and with its descendants, as of its last report) and the whole hierarchy's.")
            .Produces<RollupView>();

        app.MapPost($"{ReplicationProtocol.Prefix}/rollup", async (RollupRequest body, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                if (body.Own is null || body.Subtree is null) return Problems.Invalid("Invalid roll-up", "own and subtree: required");
                var problem = (body.Own.Problem() is { } ownProblem ? $"own: {ownProblem}" : null)
                    ?? (body.Subtree.Problem() is { } subtreeProblem ? $"subtree: {subtreeProblem}" : null) ?? body.Subtree.SubtreeProblem(body.Own);
                if (problem is not null) return Problems.Invalid("Invalid roll-up", problem);
                if (body.Servers is { } servers)
                {
                    if ((SubtreeServers.Problem(servers, "servers") ?? (servers.Count > body.Subtree.Servers ? "servers: more server ids than subtree.servers counts" : null)) is { } bad)
                        return Problems.Invalid("Invalid roll-up", bad);
                    // A cycle (A → B → C → A) made before any roll-up crossed it: this server is in its own child's subtree,
                    // and summing it would count its own figures again on every run.
                    if (servers.Contains(await ServerIdentities.GetAsync(store, time, ct), StringComparer.Ordinal))
                        return Problems.Invalid("Invalid roll-up", "this server is in the child's subtree: the hierarchy has a cycle (a server is its own descendant); unlink one of its servers");
                }
                var caller = ChildCredentialHandler.Caller(http);
                var now = time.GetUtcNow();
                await using var session = store.OpenSession(new Actor("child-server", caller.Name, http.TraceIdentifier, caller.Id));
                session.Events.Append(caller.Id, new ChildRollupReported(caller.Id, body.Own, body.Subtree, now, body.Servers));
                await session.SaveChangesAsync(ct);
                return ReplicationProtocol.Signed(http, new RollupReceived(caller.Id, now), caller.CredentialSha256);
            })
            .WithTags("Hierarchy").ForChildServer().WithName("ReportChildRollup")
            .WithSummary("A child sends its compliance and delivery figures up: its own and its subtree's (with its own children's).")
            .Produces<RollupReceived>().ProducesProblem(400);
    }
}
