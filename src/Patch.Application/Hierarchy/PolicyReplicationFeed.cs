using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Application.Staging;
using Patch.Domain.Hierarchy;
using Patch.Domain.Policies;
using Patch.Domain.Settings;
using Patch.Domain.Targets;

namespace Patch.Application.Hierarchy;

public sealed record ChoosePolicies(IReadOnlyList<string>? PolicyIds);

/// <summary>A policy as the parent sends it: its whole definition, its stream's version, and the definitions of the custom targets it uses.</summary>
public sealed record ReplicatedPolicy(string Id, long Version, string Name, string? Description, bool Enabled, PolicyStatus Status, IReadOnlyList<string> Bulletins,
    IReadOnlyList<PolicyUpdate> Updates, PackageOptions Options, IReadOnlyList<string> Targets, ProgramDefaults Program, IReadOnlyList<Target> CustomTargets);

public sealed record PolicyFeed(int Version, string ParentId, IReadOnlyList<ReplicatedPolicy> Policies);

/// <summary>
/// Software Update policy replication, the parent's side: an administrator chooses which policies replicate to a child;
/// the child reads them (signed, with their custom targets' definitions) and downloads their packages from this
/// server's package store — only packages of its chosen policies, with its own credential.
/// </summary>
public static class PolicyReplicationFeed
{
    /// <summary>The policies chosen for a child as they are now, with their versions and custom targets (the feed and bundles).</summary>
    public static async Task<IReadOnlyList<ReplicatedPolicy>> PoliciesAsync(IQuerySession session, ChildServer child, CancellationToken ct)
    {
        var policies = await session.LoadManyAsync<SoftwareUpdatePolicy>(ct, child.Policies.ToArray());
        var custom = policies.SelectMany(p => p.Targets).Where(t => !t.StartsWith("builtin:", StringComparison.Ordinal)).Distinct().ToArray();
        var targets = custom.Length == 0 ? [] : (await session.LoadManyAsync<Target>(ct, custom)).ToDictionary(t => t.Id);
        var list = new List<ReplicatedPolicy>();
        foreach (var p in policies.OrderBy(p => p.Id, StringComparer.Ordinal))
        {
            var version = (await session.Events.FetchStreamStateAsync(p.Id, ct))?.Version ?? 0;
            list.Add(new ReplicatedPolicy(p.Id, version, p.Name, p.Description, p.Enabled, p.Status, p.Bulletins, p.Updates, p.Options, p.Targets, p.Program,
                p.Targets.Where(targets.ContainsKey).Select(t => targets[t]).ToList()));
        }
        return list;
    }

    public static void MapPolicyReplicationFeed(this IEndpointRouteBuilder app)
    {
        app.MapPut("/api/hierarchy/children/{id}/policies", async (string id, ChoosePolicies body, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                if (body.PolicyIds is null || body.PolicyIds.Count > 1000 || body.PolicyIds.Any(string.IsNullOrWhiteSpace))
                    return Problems.Invalid("Invalid choice", "policyIds: the policies to replicate (up to 1000, none null or empty; [] for none)");
                await using var session = store.OpenSession(Actor.From(http));
                var child = await session.Events.FetchForWriting<ChildServer>(id, ct);
                if (child.Aggregate is null) return Problems.NotFound($"No child server '{id}'.");
                if (child.Aggregate.Revoked)
                    return Results.Problem(title: "Child revoked", statusCode: StatusCodes.Status409Conflict,
                        detail: $"Child server '{id}' was revoked: it replicates nothing, so no policy is chosen for it (register it again with a new token).");
                var ids = body.PolicyIds.Distinct().ToList();
                var policies = (await session.LoadManyAsync<SoftwareUpdatePolicy>(ct, ids.ToArray())).ToDictionary(p => p.Id);
                var problems = ids.Where(p => !policies.TryGetValue(p, out var policy) || policy.Status == PolicyStatus.Deleted).Select(p => $"'{p}' is no policy of this server").ToList();
                if (problems.Count > 0) return Problems.Invalid("Invalid choice", string.Join("; ", problems));
                if (!ids.SequenceEqual(child.Aggregate.Policies)) child.AppendOne(new ChildPoliciesChosen(id, ids, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                return Results.Ok(ids);
            })
            .WithTags("Hierarchy").ForAdministrator().WithName("ChooseChildPolicies")
            .WithSummary("Choose the Software Update policies that replicate to a child (the whole list; [] for none). A policy no longer chosen is disabled on the child at its next run.")
            .Produces<IReadOnlyList<string>>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);

        var feed = app.MapGroup(ReplicationProtocol.Prefix).WithTags("Hierarchy").ForChildServer();

        feed.MapGet("policies", async (HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                var caller = ChildCredentialHandler.Caller(http);
                if (ReplicationFeed.Alert(caller) is { } refused) return refused;
                await using var session = store.QuerySession();
                var list = await PoliciesAsync(session, caller, ct);
                return ReplicationProtocol.Signed(http, new PolicyFeed(ReplicationProtocol.Version, await ServerIdentities.GetAsync(store, time, ct), list), caller.CredentialSha256);
            })
            .WithName("ReadReplicatedPolicies").WithSummary("The Software Update policies chosen for the calling child: definitions, status, versions and custom targets.")
            .Produces<PolicyFeed>().ProducesProblem(409);

        feed.MapGet("packages/{sha256}", async (string sha256, HttpContext http, IQuerySession session, PackageStore packages, CancellationToken ct) =>
            {
                var caller = ChildCredentialHandler.Caller(http);
                if (!PackageStore.IsSha256(sha256)) return Problems.Invalid("Invalid package", "sha256: 64 lower-case hex digits");
                var policies = await session.LoadManyAsync<SoftwareUpdatePolicy>(ct, caller.Policies.ToArray());
                var needed = policies.SelectMany(p => p.Updates).SelectMany(u => u.PackageHashes());
                ConditionalRequests.RangeAsRfcSays(http.Request, sha256);
                return needed.Contains(sha256, StringComparer.Ordinal) && packages.Has(sha256)
                    ? Results.File(packages.PathOf(sha256), "application/octet-stream", sha256, entityTag: ConditionalRequests.PackageTag(sha256), enableRangeProcessing: true)
                    : Problems.NotFound($"No package '{sha256}' of a policy replicated to this child.");
            })
            .WithName("GetReplicatedPackage").EvaluatesPreconditions().WithSummary("A package of a policy replicated to the calling child, from this server's package store (the child checks its SHA-256).")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream").Produces(StatusCodes.Status206PartialContent).ProducesProblem(400).ProducesProblem(404);
    }
}
