using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Computers;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Policies;
using Patch.Domain.Settings;
using Patch.Domain;
using Patch.Domain.Targets;

namespace Patch.Application.Targets;

public sealed record TargetRequest(string? Name, IReadOnlyList<TargetRule>? Include, IReadOnlyList<TargetRule>? Exclude);

/// <summary>A target; <c>Computers</c>: how many it reaches, when asked (<c>counts=true</c>) and it does not depend on a policy.</summary>
public sealed record TargetView(string Id, string Name, bool BuiltIn, IReadOnlyList<TargetRule> Include, IReadOnlyList<TargetRule> Exclude,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] long? Computers = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? ReplicatedFrom = null);

public sealed record TargetMembers(string TargetId, int Count, IReadOnlyList<string> Computers);

/// <summary>Targets (filters): built-in dynamic ones and custom rules with exclusions; membership is always computed.</summary>
public static class TargetEndpoints
{
    /// <summary>The built-in targets, then the custom ones by name; with <paramref name="counts"/> (the fleet's computer rows), how many computers each reaches.</summary>
    public static async Task<IReadOnlyList<TargetView>> ListAsync(IQuerySession session, CancellationToken ct, Npgsql.NpgsqlDataSource? db = null, DateTimeOffset? asOf = null,
        (Npgsql.NpgsqlDataSource Db, string CurrentAgentVersion)? counts = null)
    {
        var custom = asOf is { } at
            ? (await Historical.AllAsync<Target>(session, db!, Projections.PatchProjections.TargetTable, at, ct, "d.data->>'name'")).Where(t => !t.Deleted).ToList()
            : await session.Query<Target>().Where(t => !t.Deleted).OrderBy(t => t.Name).ToListAsync(ct);
        var views = Patch.Domain.Targets.Targets.BuiltIn.Select(b => new TargetView(b.Key, b.Value, true, [], []))
            .Concat(custom.Select(t => new TargetView(t.Id, t.Name, false, t.Include, t.Exclude, ReplicatedFrom: t.ReplicatedFrom))).ToList();
        if (counts is not { } c) return views;
        var reached = await TargetSql.CountsAsync(c.Db, views.Select(v => v.Id).ToList(), custom.ToDictionary(t => t.Id), c.CurrentAgentVersion, ct, asOf);
        return views.Select(v => reached.TryGetValue(v.Id, out var n) ? v with { Computers = n } : v).ToList();
    }

    public static void MapTargets(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/targets").WithTags("Targets");

        group.MapGet("", async (bool? counts, HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, IConfiguration config, CancellationToken ct) =>
                Results.Ok(await ListAsync(session, ct, db, AsOf.Of(http), counts == true ? (db, Compliance.FleetQueries.CurrentAgentVersion(config)) : null)))
            .ForAuditor().WithAsOf().WithName("ListTargets")
            .WithSummary("Built-in dynamic targets and custom targets, now or as they stood at asOf. counts=true: each with 'computers', how many computers it reaches (then, with asOf; one pass over the fleet), except \"requiring the policy's updates\", which depends on a policy.")
            .Produces<IReadOnlyList<TargetView>>();

        group.MapPost("", (TargetRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                SaveAsync($"target:{Guid.NewGuid():N}", body, http, store, ct, created: true))
            .ForOperator().WithName("CreateTarget").WithSummary("A custom target: computers matching any include rule (OS text, product, name pattern with * and ?, explicit names) and no exclude rule.")
            .Produces<TargetView>(StatusCodes.Status201Created).ProducesProblem(400);

        group.MapPut("{id}", (string id, TargetRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                id.StartsWith("target:", StringComparison.Ordinal) ? SaveAsync(id, body, http, store, ct, created: false) : Task.FromResult(Problems.NotFound($"No custom target '{id}'.")))
            .ForOperator().EvaluatesIfMatch().WithName("ChangeTarget").WithSummary("Replace a custom target's name and rules. Its ETag (answered by create and replace) is its version: sent in If-Match, a replace or delete is refused (412) if the target changed since.").Produces<TargetView>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);

        group.MapDelete("{id}", async (string id, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<Target>(id, ct);
                if (stream.Aggregate is not { Deleted: false }) return Problems.NotFound($"No custom target '{id}'.");
                if (Target.ReadOnly(stream.Aggregate) is { } replicated) return Problems.From(replicated);
                var users = await session.Query<SoftwareUpdatePolicy>().Where(p => p.Status == PolicyStatus.Active && p.Targets.Contains(id)).ToListAsync(ct);
                var windows = await session.Query<MaintenanceWindow>().Where(w => !w.Deleted && w.Targets.Contains(id)).ToListAsync(ct);
                var vendors = await session.Query<VendorSettings>().Where(v => v.Values.DefaultTargetId == id).Select(v => v.Vendor).ToListAsync(ct);
                var configurations = await session.Query<Domain.AgentConfigurations.AgentConfiguration>().Where(c => !c.Deleted && c.Targets.Contains(id)).ToListAsync(ct);
                // Each by kind, name and id: names need not be unique, the id says which one to change.
                var usedBy = users.Select(p => $"policy '{p.Name}' ({p.Id})").Concat(windows.Select(w => $"maintenance window '{w.Name}' ({w.Id})"))
                    .Concat(vendors.Select(v => $"{v} vendor settings (default target)"))
                    .Concat(configurations.Select(c => $"agent configuration '{c.Name}' ({c.Id})")).ToList();
                if (usedBy.Count > 0)
                    return Problems.From(new Domain.Rejection(Domain.RejectionKind.Conflict, "Target in use", $"Target '{id}' is used by: {string.Join(", ", usedBy)}."));
                if (ConditionalRequests.IfMatchFails(http.Request, stream.CurrentVersion ?? 0) is { } failed) return failed;
                stream.AppendOne(new TargetDeleted(id));
                await session.SaveChangesAsync(ct);
                return Results.NoContent();
            })
            .ForAdministrator().EvaluatesIfMatch().WithName("DeleteTarget").WithSummary("Delete a custom target (refused, 409, while an active policy, a maintenance window, an agent configuration or a vendor's default target uses it, or when it is replicated from the parent).")
            .Produces(204).ProducesProblem(404).ProducesProblem(409);

        group.MapPost("preview", async (TargetRequest body, IQuerySession session, Npgsql.NpgsqlDataSource db, IConfiguration config, CancellationToken ct) =>
            {
                const string id = "target:preview";
                var outcome = Target.DecideDefine(null, id, body.Name ?? "preview", body.Include, body.Exclude);
                if (outcome.Rejection is { } r) return Problems.From(r);
                var custom = await CustomTargetsAsync(session, ct);
                custom[id] = Target.Create((TargetDefined)outcome.Events[0]);
                var (total, names) = await MembersAsync(session, db, config, [id], [], custom, ct, limit: 100);
                return Results.Ok(new TargetMembers(id, (int)total, names));
            })
            .ForOperator().WithName("PreviewTargetMembers")
            .WithSummary("The computers a custom target with these rules would have now (the first 100 by name, and how many in all), without saving it.")
            .Produces<TargetMembers>().ProducesProblem(400);

        group.MapGet("{id}/members", async (string id, HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, IConfiguration config, CancellationToken ct) =>
            {
                var asOf = AsOf.Of(http);
                var custom = await CustomTargetsAsync(session, ct, db, asOf);
                if (!Patch.Domain.Targets.Targets.IsBuiltIn(id) && !custom.ContainsKey(id)) return Problems.NotFound($"No target '{id}'.");
                var (total, names) = await MembersAsync(session, db, config, [id], [], custom, ct, asOf: asOf);
                return Results.Ok(new TargetMembers(id, (int)total, names));
            })
            .ForAuditor().WithAsOf().WithName("GetTargetMembers").WithSummary("The computers in a target now, or as it stood at asOf (computed from the computers' facts and the analysis of then).")
            .Produces<TargetMembers>().ProducesProblem(404);
    }

    /// <summary>
    /// One change to a stream whose decision checks target ids (policies, agent configurations): fetch it for writing,
    /// check the request's If-Match against its version, decide with the known custom targets, append, save, and answer
    /// with the document <paramref name="read"/> gives and the stream's new version as entity tag.
    /// </summary>
    public static async Task<IResult> ChangeAsync<T>(IDocumentStore store, HttpContext http, string id, Func<T?, ISet<string>, Outcome> decide,
        Func<IQuerySession, Task<object?>> read, CancellationToken ct) where T : class
    {
        await using var session = store.OpenSession(Actor.From(http));
        var stream = await session.Events.FetchForWriting<T>(id, ct);
        var version = stream.CurrentVersion ?? 0;
        var known = (await CustomTargetsAsync(session, ct)).Keys.ToHashSet();
        var outcome = decide(stream.Aggregate, known);
        // Preconditions hold only for a request that would otherwise succeed (RFC 9110 §13.2.1): 404, 400, 409 first.
        if (outcome.Rejection is { } r) return Problems.From(r);
        if (ConditionalRequests.IfMatchFails(http.Request, version) is { } failed) return failed;
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        ConditionalRequests.Tag(http, version, outcome.Events.Count);
        return Results.Ok(await read(session));
    }

    /// <summary>
    /// A 400 when one of <paramref name="targets"/> is "computers requiring update X" for an update no imported catalog has
    /// (it would reach nobody, in silence: the fifth sweep stored builtin:requiring-update:NOPE); else null.
    /// </summary>
    public static async Task<IResult?> UnknownUpdateTargetAsync(IQuerySession session, IEnumerable<string?>? targets, CancellationToken ct)
    {
        foreach (var target in (targets ?? []).OfType<string>().Where(t => t.StartsWith(Domain.Targets.Targets.RequiringUpdatePrefix, StringComparison.Ordinal)).Distinct())
        {
            var updateId = target[Domain.Targets.Targets.RequiringUpdatePrefix.Length..];
            if (!await session.Query<Domain.Catalog.Bulletin>().AnyAsync(b => b.Updates.Any(u => u.UpdateId == updateId), ct))
                return Problems.Invalid("Invalid targets", $"targets: '{Domain.Users.UserDecisions.Printable(target)}' names an update no imported catalog has");
        }
        return null;
    }

    public static async Task<Dictionary<string, Target>> CustomTargetsAsync(IQuerySession session, CancellationToken ct, Npgsql.NpgsqlDataSource? db = null,
        DateTimeOffset? asOf = null) =>
        (asOf is { } at ? await Historical.AllAsync<Target>(session, db!, Projections.PatchProjections.TargetTable, at, ct) : await session.Query<Target>().ToListAsync(ct))
        .Where(t => !t.Deleted).ToDictionary(t => t.Id);

    /// <summary>Members of the targets, less the resource exclusions of the vendor whose updates are distributed (if any).</summary>
    /// <summary>The computers a set of targets reaches now, less the vendor's resource exclusions: their number and (up to <paramref name="limit"/>) their names.</summary>
    public static async Task<(long Total, IReadOnlyList<string> Names)> MembersAsync(IQuerySession session, Npgsql.NpgsqlDataSource db, IConfiguration config,
        IReadOnlyList<string> targetIds, IReadOnlyCollection<string> policyUpdateIds, Dictionary<string, Target> custom, CancellationToken ct, string? vendorSlug = null,
        int? limit = null, DateTimeOffset? asOf = null)
    {
        var vendor = vendorSlug is null ? null : await Historical.LoadAsync<VendorSettings>(session, VendorSettings.StreamId(vendorSlug), asOf, ct);
        var exclusions = vendorSlug is null ? [] : (vendor?.Values ?? VendorSettingsValues.Defaults).ResourceExclusions;
        return await TargetSql.MembersAsync(db, targetIds, custom, policyUpdateIds, Compliance.FleetQueries.CurrentAgentVersion(config), exclusions, limit, ct, asOf);
    }

    /// <summary>A custom target created or replaced (If-Match checked against its version), answered with its new version as entity tag.</summary>
    private static async Task<IResult> SaveAsync(string id, TargetRequest body, HttpContext http, IDocumentStore store, CancellationToken ct, bool created)
    {
        await using var session = store.OpenSession(Actor.From(http));
        var stream = await session.Events.FetchForWriting<Target>(id, ct);
        if (!created && stream.Aggregate is null) return Problems.NotFound($"No custom target '{id}'.");
        var version = stream.CurrentVersion ?? 0;
        var outcome = Target.DecideDefine(stream.Aggregate, id, body.Name, body.Include, body.Exclude);
        if (outcome.Rejection is { } r) return Problems.From(r);
        if (ConditionalRequests.IfMatchFails(http.Request, version) is { } failed) return failed;
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        ConditionalRequests.Tag(http, version, outcome.Events.Count);
        var t = (await session.LoadAsync<Target>(id, ct))!;
        var view = new TargetView(t.Id, t.Name, false, t.Include, t.Exclude, ReplicatedFrom: t.ReplicatedFrom);
        return created ? Results.Created($"/api/targets/{id}", view) : Results.Ok(view);
    }
}
