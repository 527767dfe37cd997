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

public sealed record TargetView(string Id, string Name, bool BuiltIn, IReadOnlyList<TargetRule> Include, IReadOnlyList<TargetRule> Exclude);

public sealed record TargetMembers(string TargetId, int Count, IReadOnlyList<string> Computers);

/// <summary>Targets (filters): built-in dynamic ones and custom rules with exclusions; membership is always computed.</summary>
public static class TargetEndpoints
{
    public static void MapTargets(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/targets").WithTags("Targets");

        group.MapGet("", async (IQuerySession session, CancellationToken ct) =>
            {
                var custom = await session.Query<Target>().Where(t => !t.Deleted).OrderBy(t => t.Name).ToListAsync(ct);
                return Results.Ok(Patch.Domain.Targets.Targets.BuiltIn.Select(b => new TargetView(b.Key, b.Value, true, [], []))
                    .Concat(custom.Select(t => new TargetView(t.Id, t.Name, false, t.Include, t.Exclude))).ToList());
            })
            .ForAuditor().WithName("ListTargets").WithSummary("Built-in dynamic targets and custom targets.").Produces<IReadOnlyList<TargetView>>();

        group.MapPost("", (TargetRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                SaveAsync($"target:{Guid.NewGuid():N}", body, http, store, ct, created: true))
            .ForOperator().WithName("CreateTarget").WithSummary("A custom target: computers matching any include rule (OS text, product, name pattern with * and ?, explicit names) and no exclude rule.")
            .Produces<TargetView>(StatusCodes.Status201Created).ProducesProblem(400);

        group.MapPut("{id}", (string id, TargetRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                id.StartsWith("target:", StringComparison.Ordinal) ? SaveAsync(id, body, http, store, ct, created: false) : Task.FromResult(Problems.NotFound($"No custom target '{id}'.")))
            .ForOperator().WithName("ChangeTarget").WithSummary("Replace a custom target's name and rules.").Produces<TargetView>().ProducesProblem(400).ProducesProblem(404);

        group.MapDelete("{id}", async (string id, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<Target>(id, ct);
                if (stream.Aggregate is not { Deleted: false }) return Problems.NotFound($"No custom target '{id}'.");
                var users = await session.Query<SoftwareUpdatePolicy>().Where(p => p.Status == PolicyStatus.Active && p.Targets.Contains(id)).Select(p => p.Name).ToListAsync(ct);
                var windows = await session.Query<MaintenanceWindow>().Where(w => !w.Deleted && w.Targets.Contains(id)).Select(w => w.Name).ToListAsync(ct);
                var vendors = await session.Query<VendorSettings>().Where(v => v.Values.DefaultTargetId == id).Select(v => v.Vendor).ToListAsync(ct);
                var configurations = await session.Query<Domain.AgentConfigurations.AgentConfiguration>().Where(c => !c.Deleted && c.Targets.Contains(id)).Select(c => c.Name).ToListAsync(ct);
                var usedBy = users.Concat(windows).Concat(vendors.Select(v => $"{v} vendor settings (default target)"))
                    .Concat(configurations.Select(c => $"agent configuration '{c}'")).ToList();
                if (usedBy.Count > 0)
                    return Problems.From(new Domain.Rejection(Domain.RejectionKind.Conflict, "Target in use", $"Target '{id}' is used by: {string.Join(", ", usedBy)}."));
                stream.AppendOne(new TargetDeleted(id));
                await session.SaveChangesAsync(ct);
                return Results.NoContent();
            })
            .ForAdministrator().WithName("DeleteTarget").WithSummary("Delete a custom target (refused while a policy or maintenance window uses it).")
            .Produces(204).ProducesProblem(404).ProducesProblem(409);

        group.MapGet("{id}/members", async (string id, IQuerySession session, IConfiguration config, CancellationToken ct) =>
            {
                var custom = await CustomTargetsAsync(session, ct);
                if (!Patch.Domain.Targets.Targets.IsBuiltIn(id) && !custom.ContainsKey(id)) return Problems.NotFound($"No target '{id}'.");
                var members = await MembersAsync(session, config, [id], [], custom, ct);
                return Results.Ok(new TargetMembers(id, members.Count, members));
            })
            .ForAuditor().WithName("GetTargetMembers").WithSummary("The computers in a target now (computed from the computers' facts).")
            .Produces<TargetMembers>().ProducesProblem(404);
    }

    /// <summary>
    /// One change to a stream whose decision checks target ids (policies, agent configurations): fetch it for writing,
    /// decide with the known custom targets, append, save, and answer with the document <paramref name="read"/> gives.
    /// </summary>
    public static async Task<IResult> ChangeAsync<T>(IDocumentStore store, HttpContext http, string id, Func<T?, ISet<string>, Outcome> decide,
        Func<IQuerySession, Task<object?>> read, CancellationToken ct) where T : class
    {
        await using var session = store.OpenSession(Actor.From(http));
        var stream = await session.Events.FetchForWriting<T>(id, ct);
        var known = (await CustomTargetsAsync(session, ct)).Keys.ToHashSet();
        var outcome = decide(stream.Aggregate, known);
        if (outcome.Rejection is { } r) return Problems.From(r);
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        return Results.Ok(await read(session));
    }

    public static async Task<Dictionary<string, Target>> CustomTargetsAsync(IQuerySession session, CancellationToken ct) =>
        (await session.Query<Target>().Where(t => !t.Deleted).ToListAsync(ct)).ToDictionary(t => t.Id);

    /// <summary>Members of the targets, less the resource exclusions of the vendor whose updates are distributed (if any).</summary>
    public static async Task<IReadOnlyList<string>> MembersAsync(IQuerySession session, IConfiguration config, IReadOnlyList<string> targetIds,
        IReadOnlyCollection<string> policyUpdateIds, Dictionary<string, Target> custom, CancellationToken ct, string? vendorSlug = null)
    {
        var computers = await session.Query<Computer>().ToListAsync(ct);
        if (targetIds.Any(t => t == Patch.Domain.Targets.Targets.RequiringUpdates || t.StartsWith(Patch.Domain.Targets.Targets.RequiringUpdatePrefix, StringComparison.Ordinal)))
        {
            // "Requiring" targets read the vulnerability analysis: the updates each computer is missing.
            var wanted = targetIds.Where(t => t.StartsWith(Patch.Domain.Targets.Targets.RequiringUpdatePrefix, StringComparison.Ordinal))
                .Select(t => t[Patch.Domain.Targets.Targets.RequiringUpdatePrefix.Length..]).Concat(policyUpdateIds).Distinct().ToArray();
            var missing = await MissingUpdatesAsync(session, wanted, ct);
            computers = computers.Select(c => c with { RequiredUpdateIds = missing.GetValueOrDefault(c.Id) ?? [] }).ToList();
        }
        var vendor = vendorSlug is null ? null : await session.LoadAsync<VendorSettings>(VendorSettings.StreamId(vendorSlug), ct);
        var exclusions = vendorSlug is null ? [] : (vendor?.Values ?? VendorSettingsValues.Defaults).ResourceExclusions;
        var agentVersion = config["Patch:Agent:CurrentVersion"] ?? typeof(TargetEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        return Patch.Domain.Targets.Targets.Members(targetIds, custom, computers, policyUpdateIds, agentVersion, exclusions).Select(c => c.Name).ToList();
    }

    private static async Task<Dictionary<string, IReadOnlyList<string>>> MissingUpdatesAsync(IQuerySession session, string[] updateIds, CancellationToken ct)
    {
        var rows = await session.AdvancedSql.QueryAsync<string>(
            $"select computer_id || chr(9) || update_id from {Compliance.ComplianceTables.Schema}.compliance_state where state = {Compliance.VulnerabilityAnalysis.Missing} and update_id = any(?)", ct, new object[] { updateIds });
        return rows.Select(r => r.Split('\t', 2)).GroupBy(r => r[0]).ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(r => r[1]).ToList());
    }

    private static async Task<IResult> SaveAsync(string id, TargetRequest body, HttpContext http, IDocumentStore store, CancellationToken ct, bool created)
    {
        await using var session = store.OpenSession(Actor.From(http));
        var stream = await session.Events.FetchForWriting<Target>(id, ct);
        if (!created && stream.Aggregate is null) return Problems.NotFound($"No custom target '{id}'.");
        var outcome = Target.DecideDefine(stream.Aggregate, id, body.Name, body.Include, body.Exclude);
        if (outcome.Rejection is { } r) return Problems.From(r);
        stream.AppendMany(outcome.Events);
        await session.SaveChangesAsync(ct);
        var t = (await session.LoadAsync<Target>(id, ct))!;
        var view = new TargetView(t.Id, t.Name, false, t.Include, t.Exclude);
        return created ? Results.Created($"/api/targets/{id}", view) : Results.Ok(view);
    }
}
