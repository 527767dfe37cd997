using Patch.Projections;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Patch.Application.Bulletins;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Application.Targets;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.Policies;
using Patch.Domain.Settings;

namespace Patch.Application.Policies;

public sealed record CreatePolicyRequest(
    IReadOnlyList<string>? BulletinIds,
    string? BulletinId,
    string? UpdateId,
    string? Name,
    string? Description,
    bool? Enabled,
    PackageOptions? Options,
    IReadOnlyList<string>? Targets,
    IReadOnlyList<PolicyUpdateChoice>? Updates);

public sealed record PolicyPage(IReadOnlyList<SoftwareUpdatePolicy> Items, int Total);

/// <summary>Software Update policies (C5): the wizard, edits, enable/disable, delete or retire, targets' members.</summary>
public static class PolicyEndpoints
{
    /// <summary>The policies (default: active ones), filtered by bulletin, enabled and status, by name.</summary>
    public static async Task<Compliance.QueryAnswer<PolicyPage>> ListAsync(IQuerySession session, string? bulletin, bool? enabled, string? status, CancellationToken ct,
        Npgsql.NpgsqlDataSource? db = null, DateTimeOffset? asOf = null)
    {
        // By name only: Enum.TryParse also reads "0" as Active.
        var statusFilter = status is null ? PolicyStatus.Active
            : Enum.GetNames<PolicyStatus>().FirstOrDefault(n => n.Equals(status, StringComparison.OrdinalIgnoreCase)) is { } name ? Enum.Parse<PolicyStatus>(name) : (PolicyStatus?)null;
        if (statusFilter is null) return Compliance.QueryAnswer<PolicyPage>.Invalid($"status: '{status}' is not one of Active, Deleted, Retired");
        var all = asOf is { } at ? await Historical.AllAsync<SoftwareUpdatePolicy>(session, db!, Projections.PatchProjections.PolicyTable, at, ct)
            : await session.Query<SoftwareUpdatePolicy>().ToListAsync(ct);
        var streamId = bulletin is null ? null : await GetBulletin.ResolveIdAsync(session, bulletin, ct) ?? bulletin;
        var items = all.Where(p => p.Status == statusFilter && (enabled is null || p.Enabled == enabled) && (streamId is null || p.Bulletins.Contains(streamId)))
            .OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ThenBy(p => p.Id, StringComparer.Ordinal).ToList();
        return new PolicyPage(items, items.Count);
    }

    /// <summary>The computers a policy's targets reach now (its enabled updates give "requiring the updates" its meaning), less resource exclusions.</summary>
    public static async Task<TargetMembers> MembersAsync(IQuerySession session, Npgsql.NpgsqlDataSource db, IConfiguration config, SoftwareUpdatePolicy policy, int? limit,
        CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var custom = await TargetEndpoints.CustomTargetsAsync(session, ct, db, asOf);
        var vendorSlug = policy.Bulletins.FirstOrDefault()?.Split(':')[0];
        var (total, names) = await TargetEndpoints.MembersAsync(session, db, config, policy.Targets, policy.Updates.Where(u => u.Enabled).Select(u => u.UpdateId).ToList(),
            custom, ct, vendorSlug, limit, asOf);
        return new TargetMembers(policy.Id, (int)total, names);
    }

    public static void MapPolicies(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/policies").WithTags("Software Update policies");

        group.MapPost("", CreateAsync)
            .ForOperator().WithName("CreatePolicy")
            .WithSummary("Create a Software Update policy from staged bulletins ('bulletinIds': every non-excluded update of each) or one downloaded update ('bulletinId' + 'updateId'). " +
                         "Name defaults from the bulletins, description from the vendor, command lines from the catalog (or the package kind), options and target from the vendor settings. " +
                         "A bulletin not fully staged is refused (409) with the missing downloads listed.")
            .Produces<SoftwareUpdatePolicy>(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);

        group.MapGet("", async (string? bulletin, bool? enabled, string? status, HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, CancellationToken ct) =>
                (await ListAsync(session, bulletin, enabled, status, ct, db, AsOf.Of(http))).ToResult(Results.Ok))
            .ForAuditor().WithAsOf().WithName("ListPolicies").WithSummary("Policies (default: active ones), now or as they stood at asOf; filter by bulletin, enabled, status.").Produces<PolicyPage>().ProducesProblem(400);

        // Now, the policy's version is its entity tag: an edit sent with it in If-Match overwrites no one else's.
        group.MapGet("{id}", (string id, HttpContext http, IQuerySession session, CancellationToken ct) =>
                ConditionalRequests.ReadAsync(http, session, id, () => Historical.LoadAsync<SoftwareUpdatePolicy>(session, id, AsOf.Of(http), ct),
                    p => Results.Ok(p), () => Problems.NotFound($"No Software Update policy '{id}'.")))
            .ForAuditor().WithAsOf().EvaluatesPreconditions().WithName("GetPolicy").WithSummary("One policy ('policy:…'), now or as it stood at asOf; its history is GET /api/history/{id}. " +
                "Now, its ETag is its version: send it in If-Match with an edit, enable, disable or delete, which is refused (412) if the policy changed since.").Produces<SoftwareUpdatePolicy>().ProducesProblem(404);

        group.MapPut("{id}", async (string id, EditPolicy body, HttpContext http, IDocumentStore store, IQuerySession query, CancellationToken ct) =>
                await TargetEndpoints.UnknownUpdateTargetAsync(query, body.Targets, ct)
                ?? await ChangeAsync(id, http, store, ct, (p, known) => PolicyDecisions.Edit(p, id, body, known)))
            .ForOperator().EvaluatesIfMatch().WithName("EditPolicy").WithSummary("Edit name, description, package options, targets, or per update 'enabled' and 'commandLine'. Each edit is an event naming what changed.")
            .Produces<SoftwareUpdatePolicy>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);

        group.MapPost("{id}/enable", (string id, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                ChangeAsync(id, http, store, ct, (p, _) => PolicyDecisions.SetEnabled(p, id, true)))
            .ForOperator().EvaluatesIfMatch().WithName("EnablePolicy").WithSummary("Enable: agents get it at their next poll.").Produces<SoftwareUpdatePolicy>().ProducesProblem(404).ProducesProblem(409);

        group.MapPost("{id}/disable", (string id, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                ChangeAsync(id, http, store, ct, (p, _) => PolicyDecisions.SetEnabled(p, id, false)))
            .ForOperator().EvaluatesIfMatch().WithName("DisablePolicy").WithSummary("Disable: agents stop installing it at their next poll.").Produces<SoftwareUpdatePolicy>().ProducesProblem(404).ProducesProblem(409);

        group.MapDelete("{id}", async (string id, HttpContext http, IDocumentStore store, Npgsql.NpgsqlDataSource db, CancellationToken ct) =>
            {
                // Delivered = an agent reported a status for one of its updates (the delivery summary's rows).
                await using var cmd = db.CreateCommand($"select exists (select 1 from {Common.PatchStore.Schema}.{ReadModels.DeliveryStatus} where policy_id = $1)");
                cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = id });
                var delivered = (bool)(await cmd.ExecuteScalarAsync(ct))!;
                return await ChangeAsync(id, http, store, ct, (p, _) => PolicyDecisions.Delete(p, id, delivered));
            })
            .ForAdministrator().EvaluatesIfMatch().WithName("DeletePolicy").WithSummary("Delete a policy; one that was ever delivered is retired instead (kept with its history, distributing nothing).")
            .Produces<SoftwareUpdatePolicy>().ProducesProblem(404).ProducesProblem(409);

        group.MapGet("{id}/members", async (string id, HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, IConfiguration config, CancellationToken ct) =>
                await Historical.LoadAsync<SoftwareUpdatePolicy>(session, id, AsOf.Of(http), ct) is { } policy
                    ? Results.Ok(await MembersAsync(session, db, config, policy, null, ct, AsOf.Of(http)))
                    : Problems.NotFound($"No Software Update policy '{id}'."))
            .ForAuditor().WithAsOf().WithName("GetPolicyMembers").WithSummary("The computers the policy's targets reach now (or reached at asOf), less resource exclusions.").Produces<TargetMembers>().ProducesProblem(404);
    }

    private static async Task<IResult> CreateAsync(CreatePolicyRequest body, HttpContext http, IDocumentStore store, CancellationToken ct)
    {
        // One way of naming what the policy distributes, and nothing given that would be replaced by a default in silence.
        if (body.BulletinIds is not null && (body.BulletinId is not null || body.UpdateId is not null))
            return Problems.Invalid("Invalid policy", "Give 'bulletinIds' (whole bulletins), or 'bulletinId' with 'updateId' (one update), not both.");
        if (body.BulletinId is not null && body.UpdateId is null)
            return Problems.Invalid("Missing field", "'updateId' is required with 'bulletinId' (for whole bulletins, give 'bulletinIds').");
        if (body.BulletinIds?.GroupBy(b => b, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } twice)
            return Problems.Invalid("Invalid field", $"bulletinIds: '{Domain.Users.UserDecisions.Printable(twice.Key ?? "null")}' is given {twice.Count()} times.");
        if (body.Name is { } name && string.IsNullOrWhiteSpace(name)) return Problems.Invalid("Invalid field", "name: empty (leave it out for the default name).");
        if (body.Targets is { Count: 0 }) return Problems.Invalid("Invalid field", "targets: at least one (leave it out for the vendor's default target).");
        await using var session = store.OpenSession(Actor.From(http));
        var ids = body.UpdateId is not null ? (body.BulletinId is null ? [] : [body.BulletinId]) : body.BulletinIds ?? [];
        if (body.UpdateId is not null && body.BulletinId is null) return Problems.Invalid("Missing field", "'bulletinId' is required with 'updateId'.");
        if (ids.Any(string.IsNullOrWhiteSpace)) return Problems.Invalid("Invalid field", "'bulletinIds' must not hold empty entries.");
        var streamIds = new List<string>();
        foreach (var id in ids.Distinct())
        {
            var streamId = await GetBulletin.ResolveIdAsync(session, id, ct);
            if (streamId is null) return Problems.NotFound($"No bulletin '{id}'.");
            if (!streamIds.Contains(streamId)) streamIds.Add(streamId);
        }
        // The bulletins' download state is read under their stream locks (taken in stream order, as the package cleanup
        // does): a package cannot leave the store between this check and the policy's commit.
        var locked = new Dictionary<string, Bulletin>();
        foreach (var streamId in streamIds.Order(StringComparer.Ordinal))
            if ((await session.Events.FetchForExclusiveWriting<Bulletin>(streamId, ct)).Aggregate is { } b) locked[streamId] = b;
        var bulletins = streamIds.Where(locked.ContainsKey).Select(s => locked[s]).ToList();
        if (bulletins.Count != streamIds.Count) return Problems.NotFound($"No bulletin '{streamIds.First(s => !locked.ContainsKey(s))}'.");
        var vendors = bulletins.Select(b => b.Facts.Vendor).Distinct().ToList();
        if (vendors.Count > 1) return Problems.Invalid("Mixed vendors", $"A policy distributes one vendor's updates; these bulletins are from {string.Join(", ", vendors)}.");
        var vendor = vendors.Count == 0 ? null : await session.LoadAsync<VendorSettings>(VendorSettings.StreamId(vendors[0]), ct);
        if (await TargetEndpoints.UnknownUpdateTargetAsync(session, body.Targets, ct) is { } unknownUpdate) return unknownUpdate;
        var known = (await TargetEndpoints.CustomTargetsAsync(session, ct)).Keys.ToHashSet();
        var policyId = SoftwareUpdatePolicy.StreamId(Guid.NewGuid());
        var command = new CreatePolicy(ids, body.UpdateId, body.Name, body.Description, body.Enabled ?? true, body.Options, body.Targets, body.Updates);
        var outcome = PolicyDecisions.Create(policyId, command, bulletins, vendor?.Values ?? VendorSettingsValues.Defaults, known);
        if (outcome.Rejection is { } r) return Problems.From(r);
        session.Events.StartStream<SoftwareUpdatePolicy>(policyId, outcome.Events.ToArray());
        await session.SaveChangesAsync(ct);
        ConditionalRequests.Tag(http, 0, outcome.Events.Count);
        return Results.Created($"/api/policies/{policyId}", await session.LoadAsync<SoftwareUpdatePolicy>(policyId, ct));
    }

    private static Task<IResult> ChangeAsync(string id, HttpContext http, IDocumentStore store, CancellationToken ct, Func<SoftwareUpdatePolicy?, ISet<string>, Outcome> decide) =>
        TargetEndpoints.ChangeAsync(store, http, id, decide, async session => await session.LoadAsync<SoftwareUpdatePolicy>(id, ct), ct);
}
