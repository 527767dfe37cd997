using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

/// <summary>The agent reports a batch of events (statuses, restarts, cycles): validated whole, made durable, then answered.</summary>
public static class ReportAgentEvents
{
    /// <summary>No agent reports anything older: its events, what it applied, the restarts it defers.</summary>
    private static readonly DateTimeOffset Earliest = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static void Map(RouteGroupBuilder authenticated)
    {
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
                    { OccurredAt: var at } when at > latest => $"events[{i}].occurredAt: {at:O} is in the future",
                    { OccurredAt: var at } when at < Earliest => $"events[{i}].occurredAt: not before 2000",
                    { LastApplied: { } applied } when applied < Earliest || applied > latest => $"events[{i}].lastApplied: from 2000 to now, not {applied:O}",
                    // A restart deferred to a time: ahead, but by days, never years.
                    { At: { } when } when when < Earliest || when > latest.AddYears(1) => $"events[{i}].at: from 2000 to a year ahead, not {when:O}",
                    { Detail: { Length: > 2000 } } => $"events[{i}].detail: at most 2000 characters",
                    { Bulletin: { Length: > 128 } } or { UpdateId: { Length: > 256 } } => $"events[{i}]: bulletin at most 128 and updateId at most 256 characters",
                    _ when new[] { e.Detail, e.Bulletin, e.UpdateId, e.PolicyId, e.Trigger, e.Status }.Any(HasControl) =>
                        $"events[{i}]: text may not hold control characters (NUL and the like) other than tab and line breaks",
                    { Kind: AgentRestartReported.Deferred, At: null } => $"events[{i}].at: required for restartDeferred (the time the restart was deferred to)",
                    { IsStatus: true, Bulletin: null } or { IsStatus: true, UpdateId: null } => $"events[{i}]: a status names its bulletin and updateId",
                    _ => Foreign(e, i),
                }).OfType<string>().ToList();
                // The same id twice in one batch is one event sent twice, never two different ones (the second would be dropped).
                problems.AddRange(events.Select((e, i) => (e, i)).Where(x => x.e is not null).GroupBy(x => x.e.Id).Where(g => g.Select(x => x.e).Distinct().Count() > 1)
                    .Select(g => $"events[{g.Last().i}].id: {g.Key} is given to two different events in this batch"));
                if (problems.Count > 0) return Problems.Invalid("Invalid events", string.Join("; ", problems.Take(20)));
                // A status names a policy the server has (an agent cannot invent deliveries for others to read).
                var policyIds = events.Select(e => e.PolicyId).OfType<string>().Distinct().ToArray();
                if (policyIds.Length > 0)
                {
                    var known = (await session.Query<Domain.Policies.SoftwareUpdatePolicy>().Where(p => p.Id.IsOneOf(policyIds)).ToListAsync(ct)).ToDictionary(p => p.Id);
                    var unknown = policyIds.Where(id => !known.ContainsKey(id)).ToList();
                    if (unknown.Count > 0) return Problems.Invalid("Invalid events", $"policyId: no Software Update policy {string.Join(", ", unknown.Select(u => $"'{u}'"))}");
                    // …and an update that policy distributes, under its own bulletin: never a delivery the policy never made.
                    var strangers = events.Select((e, i) => e.PolicyId is { } policy ? Stranger(e, i, known[policy]) : null).OfType<string>().ToList();
                    if (strangers.Count > 0) return Problems.Invalid("Invalid events", string.Join("; ", strangers.Take(20)));
                    // A policy deleted before this agent enrolled never assigned it anything. (One deleted later may still hear
                    // from it: an agent offline for a week installs what it was assigned and reports it when it is back.)
                    var deleted = known.Values.Where(p => p.Status == Domain.Policies.PolicyStatus.Deleted).ToList();
                    if (deleted.Count > 0 && (await AgentEndpoints.ComputerAsync(http, session, ct)).EnrolledAt is { } enrolled)
                        foreach (var policy in deleted)
                        {
                            var gone = (await session.Events.FetchStreamStateAsync(policy.Id, ct))!.LastTimestamp;
                            if (enrolled > gone && events.Select((e, i) => (e, i)).FirstOrDefault(x => x.e.PolicyId == policy.Id) is { e: not null, i: var at })
                                return Results.Problem(title: "Policy deleted", statusCode: StatusCodes.Status409Conflict,
                                    detail: $"events[{at}].policyId: policy '{policy.Id}' was deleted at {gone:yyyy-MM-dd HH:mm:ss}Z, before this agent enrolled: it never assigned it anything.");
                        }
                }
                // Times are kept in UTC whatever offset the agent wrote them with. A batch from a clock running ahead is moved back by
                // its skew (its latest event dated by the receipt, the others keeping their order), the agent's own times kept
                // beside: otherwise the events of the corrected clock sort before them (a restart done, an update installed,
                // reported stuck).
                var skew = events.Max(e => e.OccurredAt) - time.GetUtcNow();
                var ahead = skew > AgentEventInput.ClockTolerance;
                var normalized = events.Select(e => e with
                {
                    OccurredAt = (ahead ? e.OccurredAt - skew : e.OccurredAt).ToUniversalTime(),
                    AgentTime = ahead ? e.OccurredAt.ToUniversalTime() : null,
                    LastApplied = e.LastApplied?.ToUniversalTime(), At = e.At?.ToUniversalTime(),
                }).ToList();
                try
                {
                    return Results.Ok(await ingest.SubmitAsync(AgentEndpoints.Caller(http), normalized, ct));
                }
                catch (AgentEventConflictException conflict)
                {
                    return Results.Problem(title: "Event id reused", detail: conflict.Message, statusCode: StatusCodes.Status409Conflict);
                }
            })
            .WithName("ReportAgentEvents").WithBodyLimit(l => l.AgentEventsBodyBytes)
            .WithSummary("A batch of events (each with the agent's own GUID and time): update statuses (kind 'status', with the policy that assigned the update), restarts (restartPending, restartDeferred, restarted) and cycles (cycleStarted, cycleCompleted, cycleStopped). Answered after the events are durable; a retried batch is accepted and appends nothing; events from many agents share one transaction.")
            .Produces<AgentEventsAccepted>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(409);
    }

    /// <summary>A field the event's kind does not carry (a policy on a restart, a deferral time on a status), named; null when none.</summary>
    private static string? Foreign(AgentEventInput e, int i)
    {
        var kind = e.Kind ?? AgentEventInput.StatusKind;
        var foreign = new (string Field, bool Given, bool Takes)[]
        {
            ("bulletin", e.Bulletin is not null, e.IsStatus), ("updateId", e.UpdateId is not null, e.IsStatus), ("policyId", e.PolicyId is not null, e.IsStatus),
            ("lastApplied", e.LastApplied is not null, e.IsStatus), ("at", e.At is not null, kind is AgentRestartReported.Pending or AgentRestartReported.Deferred),
            ("trigger", e.Trigger is not null, kind is AgentCycleReported.Started or AgentCycleReported.Completed or AgentCycleReported.Stopped),
        }.FirstOrDefault(f => f.Given && !f.Takes);
        return foreign.Field is { } field ? $"events[{i}].{field}: not part of a '{kind}' event" : null;
    }

    /// <summary>What is wrong with a status naming <paramref name="policy"/>: an update it does not distribute, or another bulletin's; null when nothing.</summary>
    private static string? Stranger(AgentEventInput e, int i, Domain.Policies.SoftwareUpdatePolicy policy)
    {
        if (policy.Updates.FirstOrDefault(u => string.Equals(u.UpdateId, e.UpdateId, StringComparison.OrdinalIgnoreCase)) is not { } update)
            return $"events[{i}].updateId: '{Printable(e.UpdateId ?? "")}' is not an update of policy '{policy.Id}'";
        var bulletin = e.Bulletin!.Trim();
        return string.Equals(bulletin, update.BulletinId, StringComparison.OrdinalIgnoreCase)
            || string.Equals(bulletin, update.BulletinId[(update.BulletinId.IndexOf(':') + 1)..], StringComparison.OrdinalIgnoreCase)
            ? null : $"events[{i}].bulletin: '{Printable(bulletin)}' is not the bulletin of update '{update.UpdateId}' ({update.BulletinId})";
    }

    private static string Printable(string text) => Domain.Users.UserDecisions.Printable(text);

    private static bool HasControl(string? text) => text is not null && text.Any(c => char.IsControl(c) && c is not ('\t' or '\n' or '\r'));
}
