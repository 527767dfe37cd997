using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

public sealed record CreateEnrolmentToken(string? Name, DateTimeOffset? ExpiresAt, int? MaxUses);

/// <summary>The token is shown once, at creation; the server keeps only its hash.</summary>
public sealed record EnrolmentTokenIssued(string TokenId, string Token, DateTimeOffset ExpiresAt, int MaxUses);

public sealed record EnrolmentTokenView(string TokenId, string Name, DateTimeOffset ExpiresAt, int MaxUses, int Uses, bool Revoked);

public sealed record EnrolRequest(string? Token, string? ComputerName, string? Domain, string? MacAddress, string? AgentVersion);

/// <summary>The agent's own credential ("agentId.secret"), shown once; every later call sends it as a Bearer token.</summary>
public sealed record Enrolled(string ComputerId, string AgentId, string Credential);

public sealed record InventoryAccepted(string ComputerId, bool Changed, DateTimeOffset At);

public sealed record AgentSelf(string ComputerId, string Name, string? AgentVersion, DateTimeOffset? EnrolledAt, DateTimeOffset? LastInventoryAt, AgentInventory? Inventory);

/// <summary>Enrolment tokens (admin) and the agent protocol: enrol, report inventory, read itself (C6).</summary>
public static class AgentEndpoints
{
    public const string ComputerItem = "patch.computer";

    public static void MapAgents(this IEndpointRouteBuilder app)
    {
        app.MapEnrolmentTokens();
        app.MapAgentAdministration();
        app.MapRotateAgentCredential();
        var agent = app.MapGroup("/agent/v1").WithTags("Agent");

        agent.MapPost("enrol", EnrolAsync)
            .Anonymous("the enrolment token in the body guards it")
            .WithName("Enrol").WithSummary("An agent enrols with an enrolment token and receives its own credential. A computer already known (discovered) by that name is joined; one that already has an agent is refused (409) until an administrator resets it.")
            .Produces<Enrolled>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(409);

        var authenticated = agent.MapGroup("").ForAgent();

        authenticated.MapPost("inventory", async (AgentInventory? body, HttpContext http, IDocumentStore store, TimeProvider time, Projections.Compliance.VulnerabilityAnalysis analysis, CancellationToken ct) =>
            {
                if (body is null) return Problems.Invalid("Missing body", "Send the inventory.");
                var problems = body.Problems();
                if (problems.Count > 0) return Problems.Invalid("Invalid inventory", string.Join("; ", problems));
                var computer = (Computer)http.Items[ComputerItem]!;
                var inventory = body.Normalized();
                var now = time.GetUtcNow();
                await using var session = store.OpenSession(new Actor("agent", computer.Name, http.TraceIdentifier));
                var stream = await session.Events.FetchForWriting<Computer>(computer.Id, ct);
                var changed = stream.Aggregate?.Inventory is not { } known || !ValueEquality.Same(known, inventory);
                stream.AppendOne(changed ? new InventoryReported(computer.Id, inventory, now) : new InventoryConfirmed(computer.Id, now));
                await session.SaveChangesAsync(ct);
                // Every report (a resend too) recomputes the computer, so an analysis that failed once is repaired by the agent's retry.
                if (await session.LoadAsync<Computer>(computer.Id, ct) is { } updated) await analysis.RecomputeComputerAsync(updated, ct);
                return Results.Ok(new InventoryAccepted(computer.Id, changed, now));
            })
            .WithName("ReportInventory").WithSummary("The agent's inventory: OS caption, version (with the update build revision when known), architecture, service pack, server or not, cultures, software releases, installed KBs, agent version. A resend of the same inventory only records the time.")
            .Produces<InventoryAccepted>().ProducesProblem(400).ProducesProblem(401);

        authenticated.MapGet("updates", async (string? state, HttpContext http, NpgsqlDataSource db, CancellationToken ct) =>
                Computers.ComputerUpdates.TryState(state, out var filter)
                    ? Results.Ok(await Computers.ComputerUpdates.ComputeAsync(db, (Computer)http.Items[ComputerItem]!, filter, ct))
                    : Problems.Invalid("Invalid query", $"state: '{state}' is not one of Installed, Missing, Superseded"))
            .WithName("GetAgentUpdates").WithSummary("This computer's applicable updates and their state, as the server's vulnerability analysis sees them.")
            .Produces<Computers.ComputerCompliance>().ProducesProblem(400).ProducesProblem(401);

        authenticated.MapPost("events", async (AgentEventBatch? body, HttpContext http, AgentEventIngest ingest, IQuerySession session, TimeProvider time, CancellationToken ct) =>
            {
                if (body?.Events is not { Count: > 0 } events) return Problems.Invalid("Missing events", "Send { \"events\": [ … ] } with 1 to 1000 events.");
                if (events.Count > AgentEventIngest.MaxBatch) return Problems.Invalid("Batch too large", $"At most {AgentEventIngest.MaxBatch} events per batch; this one has {events.Count}.");
                var latest = time.GetUtcNow().AddDays(1);
                var problems = events.Select((e, i) => e switch
                {
                    null => $"events[{i}]: missing",
                    { Id: var id } when id == Guid.Empty => $"events[{i}].id: a non-empty GUID the agent chose",
                    { Kind: var k } when k is not null && !AgentEventInput.Kinds.Contains(k) => $"events[{i}].kind: '{k}' is not one of {string.Join(", ", AgentEventInput.Kinds)}",
                    { IsStatus: true, Status: var s } when s is null || !Domain.Cycle.UpdateStatus.All.Contains(s) => $"events[{i}].status: '{e.Status}' is not one of {string.Join(", ", Domain.Cycle.UpdateStatus.All)}",
                    { IsStatus: false, Status: not null } => $"events[{i}].status: only for kind 'status'",
                    { PolicyId: { Length: > 128 } } or { Trigger: { Length: > 64 } } => $"events[{i}]: policyId at most 128 and trigger at most 64 characters",
                    { OccurredAt: var at } when at == default || at > latest => $"events[{i}].occurredAt: required, not in the future",
                    { OccurredAt: var at } when at < new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero) => $"events[{i}].occurredAt: not before 2000",
                    { Detail: { Length: > 2000 } } => $"events[{i}].detail: at most 2000 characters",
                    { Bulletin: { Length: > 128 } } or { UpdateId: { Length: > 256 } } => $"events[{i}]: bulletin at most 128 and updateId at most 256 characters",
                    _ when new[] { e.Detail, e.Bulletin, e.UpdateId, e.PolicyId, e.Trigger, e.Status }.Any(HasControl) =>
                        $"events[{i}]: text may not hold control characters (NUL and the like) other than tab and line breaks",
                    { Kind: AgentRestartReported.Deferred, At: null } => $"events[{i}].at: required for restartDeferred (the time the restart was deferred to)",
                    _ => null,
                }).OfType<string>().ToList();
                if (problems.Count > 0) return Problems.Invalid("Invalid events", string.Join("; ", problems.Take(20)));
                // A status names a policy the server has (an agent cannot invent deliveries for others to read).
                var policyIds = events.Select(e => e.PolicyId).OfType<string>().Distinct().ToArray();
                if (policyIds.Length > 0)
                {
                    var known = (await session.Query<Domain.Policies.SoftwareUpdatePolicy>().Where(p => p.Id.IsOneOf(policyIds)).Select(p => p.Id).ToListAsync(ct)).ToHashSet();
                    var unknown = policyIds.Where(id => !known.Contains(id)).ToList();
                    if (unknown.Count > 0) return Problems.Invalid("Invalid events", $"policyId: no Software Update policy {string.Join(", ", unknown.Select(u => $"'{u}'"))}");
                }
                // Times are kept in UTC whatever offset the agent wrote them with.
                var normalized = events.Select(e => e with { OccurredAt = e.OccurredAt.ToUniversalTime(), LastApplied = e.LastApplied?.ToUniversalTime(), At = e.At?.ToUniversalTime() }).ToList();
                return Results.Ok(await ingest.SubmitAsync((Computer)http.Items[ComputerItem]!, normalized, ct));
            })
            .WithName("ReportAgentEvents")
            .WithSummary("A batch of events (each with the agent's own GUID and time): update statuses (kind 'status', with the policy that assigned the update), restarts (restartPending, restartDeferred, restarted) and cycles (cycleStarted, cycleCompleted, cycleStopped). Answered after the events are durable; a retried batch is accepted and appends nothing; events from many agents share one transaction.")
            .Produces<AgentEventsAccepted>().ProducesProblem(400).ProducesProblem(401);

        authenticated.MapGet("assignments", async (HttpContext http, IQuerySession session, NpgsqlDataSource db, Microsoft.Extensions.Configuration.IConfiguration config,
                Projections.Compliance.CatalogCache catalog, CancellationToken ct) =>
            {
                var assignments = await AssignmentBuilder.ForAsync(session, db, config, catalog, (Computer)http.Items[ComputerItem]!, ct);
                var etag = AssignmentBuilder.ETag(assignments);
                http.Response.Headers.ETag = etag;
                http.Response.Headers.CacheControl = "no-cache";
                return AssignmentBuilder.Matches(http.Request, etag) ? Results.StatusCode(StatusCodes.Status304NotModified) : Results.Ok(assignments);
            })
            .WithName("GetAgentAssignments")
            .WithSummary("What this computer is assigned: the enabled Software Update policies whose targets contain it (enabled updates with their rules, package hash, size and URL, " +
                         "command line; run schedule; program rights, run condition and terminate-after), the maintenance windows that apply, and the effective agent configuration. " +
                         "Send the ETag back in If-None-Match: an unchanged answer is a 304 without a body.")
            .Produces<Domain.Cycle.Assignments>().Produces(StatusCodes.Status304NotModified).ProducesProblem(401);

        authenticated.MapGet("me", (HttpContext http) =>
            {
                var c = (Computer)http.Items[ComputerItem]!;
                return Results.Ok(new AgentSelf(c.Id, c.Name, c.AgentVersion, c.EnrolledAt, c.LastInventoryAt, c.Inventory));
            })
            .WithName("GetAgentSelf").WithSummary("What the server knows of this agent's own computer (and of no other).").Produces<AgentSelf>().ProducesProblem(401);
    }

    private static async Task<IResult> EnrolAsync(EnrolRequest body, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct)
    {
        if (Secrets.Split(body.Token) is not var (tokenId, secret)) return Unauthorized("the enrolment token is missing or malformed");
        var agentVersion = body.AgentVersion ?? "0.0.0";
        if (!Version.TryParse(agentVersion, out _)) return Problems.Invalid("Invalid agent version", $"agentVersion: '{agentVersion}' is not a version");
        var now = time.GetUtcNow();
        await using var session = store.OpenSession(new Actor("agent", body.ComputerName ?? "unknown", http.TraceIdentifier));
        // The token's stream is locked: two agents racing for its last use cannot both win.
        var token = await session.Events.FetchForExclusiveWriting<EnrolmentToken>(tokenId, ct);
        if (token.Aggregate is null) return Unauthorized("the enrolment token is not valid");
        if (token.Aggregate.RefusalFor(secret, now) is { } refusal) return Unauthorized(refusal);

        var computerId = Computer.StreamId(body.ComputerName ?? "");
        var computer = await session.Events.FetchForWriting<Computer>(computerId, ct);
        // An enrolment token never takes over a computer that has an agent: an administrator resets it first.
        if (computer.Aggregate is { AgentRevoked: true })
            return Results.Problem(title: "Agent revoked",
                detail: $"The agent of '{computer.Aggregate.Name}' was revoked. An administrator must reset it (DELETE /api/computers/{computer.Aggregate.Name}/agent) before another agent can enrol under this name.",
                statusCode: StatusCodes.Status409Conflict);
        if (computer.Aggregate?.AgentId is not null)
            return Results.Problem(title: "Computer already enrolled",
                detail: $"'{computer.Aggregate.Name}' has an enrolled agent. An administrator must reset it (DELETE /api/computers/{computer.Aggregate.Name}/agent) before another agent can enrol under this name.",
                statusCode: StatusCodes.Status409Conflict);
        // A discovered computer keeps what the administrator registered; the agent fills only what is missing.
        var discovered = Computer.Decide(computer.Aggregate, body.ComputerName ?? "", computer.Aggregate?.Domain ?? body.Domain,
            computer.Aggregate?.OperatingSystem, computer.Aggregate?.MacAddress ?? body.MacAddress);
        if (discovered.Rejection is { } r) return Problems.From(r);
        computer.AppendMany(discovered.Events);
        var agentId = $"agent-{Guid.NewGuid():N}";
        var credential = Secrets.New();
        computer.AppendOne(new AgentEnrolled(computerId, agentId, Secrets.Hash(credential), agentVersion, tokenId, now));
        token.AppendOne(new EnrolmentTokenUsed(tokenId, computerId, now));
        await session.SaveChangesAsync(ct);
        return Results.Ok(new Enrolled(computerId, agentId, $"{agentId}.{credential}"));
    }

    private static bool HasControl(string? text) => text is not null && text.Any(c => char.IsControl(c) && c is not ('\t' or '\n' or '\r'));

    private static IResult Unauthorized(string detail) => Results.Problem(title: "Enrolment refused", detail: detail, statusCode: StatusCodes.Status401Unauthorized);
}
