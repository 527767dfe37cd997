using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.Agents;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Application.Targets;
using Patch.Domain;
using Patch.Domain.AgentConfigurations;
using Patch.Domain.Computers;

namespace Patch.Application.AgentConfigurations;

public sealed record AgentConfigurationRequest(string? Name, AgentConfigurationSettings? Settings, IReadOnlyList<string>? Targets, int? Priority);

public sealed record EffectiveConfiguration(string Computer, AgentConfiguration Configuration, string Reason);

/// <summary>Agent configuration policies (C7): the default one, its clones with their own targets, and which one a computer gets.</summary>
public static class AgentConfigurationEndpoints
{
    public static void MapAgentConfigurations(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/agent-configurations").WithTags("Agent configuration");

        group.MapGet("", async (HttpContext http, IQuerySession session, NpgsqlDataSource db, CancellationToken ct) => Results.Ok(await AllAsync(session, ct, db, AsOf.Of(http))))
            .ForAuditor().WithAsOf().WithName("ListAgentConfigurations")
            .WithSummary("The default agent configuration policy (always present) and its clones, in the order they win: lowest priority first (as they stood at asOf when asked).")
            .Produces<IReadOnlyList<AgentConfiguration>>();

        // Now, its version is its entity tag ("0": the default, never edited) for If-Match on an edit or delete.
        group.MapGet("{id}", (string id, HttpContext http, IQuerySession session, CancellationToken ct) =>
                ConditionalRequests.ReadAsync(http, session, id, async () => await LoadAsync(session, id, ct, AsOf.Of(http)) is { Deleted: false } c ? c : null,
                    c => Results.Ok(c), () => Problems.NotFound($"No agent configuration policy '{id}'.")))
            .ForAuditor().WithAsOf().EvaluatesPreconditions().WithName("GetAgentConfiguration").WithSummary("One agent configuration policy ('agent-config:default' is the default one), now or as it stood at asOf.")
            .Produces<AgentConfiguration>().ProducesProblem(404);

        group.MapPut("{id}", async (string id, AgentConfigurationRequest body, HttpContext http, IDocumentStore store, IQuerySession query, CancellationToken ct) =>
                await TargetEndpoints.UnknownUpdateTargetAsync(query, body.Targets, ct)
                ?? await ChangeAsync(id, http, store, ct, (current, known) => AgentConfiguration.DecideEdit(current, id, body.Name, body.Settings, body.Targets, body.Priority, known)))
            .ForOperator().EvaluatesIfMatch().WithName("EditAgentConfiguration")
            .WithSummary("Edit settings (install schedules, reinstallation attempts, allow user to initiate, reboot defaults, override maintenance windows, " +
                         "notifications with a custom message of at most 128 characters, poll interval, pre-install command), and for a clone its name, targets and priority. " +
                         "The default policy cannot be retargeted: clone it. Each edit is an event naming what changed.")
            .Produces<AgentConfiguration>().ProducesProblem(400).ProducesProblem(404);

        group.MapPost("{id}/clone", async (string id, AgentConfigurationRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var source = await LoadAsync(session, id, ct);
                if (await TargetEndpoints.UnknownUpdateTargetAsync(session, body.Targets, ct) is { } unknownUpdate) return unknownUpdate;
                var known = (await TargetEndpoints.CustomTargetsAsync(session, ct)).Keys.ToHashSet();
                var newId = AgentConfiguration.StreamId(Guid.NewGuid());
                var outcome = AgentConfiguration.DecideClone(source, id, newId, body.Name, body.Settings, body.Targets, body.Priority, known);
                if (outcome.Rejection is { } r) return Problems.From(r);
                session.Events.StartStream<AgentConfiguration>(newId, outcome.Events.ToArray());
                await session.SaveChangesAsync(ct);
                ConditionalRequests.Tag(http, 0, outcome.Events.Count);
                return Results.Created($"/api/agent-configurations/{newId}", await session.LoadAsync<AgentConfiguration>(newId, ct));
            })
            .ForOperator().WithName("CloneAgentConfiguration")
            .WithSummary("Clone a policy (the default one included) with targets, a priority (lower wins; default 100) and optionally other settings.")
            .Produces<AgentConfiguration>(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(404);

        group.MapDelete("{id}", (string id, HttpContext http, IDocumentStore store, CancellationToken ct) =>
                ChangeAsync(id, http, store, ct, (current, _) => AgentConfiguration.DecideDelete(current, id)))
            .ForAdministrator().EvaluatesIfMatch().WithName("DeleteAgentConfiguration").WithSummary("Delete a clone; its computers fall back to the next one that targets them, or the default. The default cannot be deleted.")
            .Produces<AgentConfiguration>().ProducesProblem(404).ProducesProblem(409);

        app.MapGet("/api/computers/{name}/agent-configuration", async (string name, IQuerySession session, NpgsqlDataSource db, IConfiguration config, CancellationToken ct) =>
                await session.LoadAsync<Computer>(Computer.StreamId(name), ct) is { } computer
                    ? Results.Ok(await EffectiveAsync(session, db, config, computer, ct))
                    : Problems.NotFound($"No computer '{name}'."))
            .WithTags("Agent configuration").ForAuditor().WithName("GetEffectiveAgentConfiguration")
            .WithSummary("The agent configuration a computer gets, and why.").Produces<EffectiveConfiguration>().ProducesProblem(404);
    }

    /// <summary>The configuration a computer gets, and why: the lowest-priority clone that targets it, else the default.</summary>
    public static async Task<EffectiveConfiguration> EffectiveAsync(IQuerySession session, NpgsqlDataSource db, IConfiguration config, Computer computer, CancellationToken ct)
    {
        var membership = await ComputerMembership.ForAsync(session, db, config, computer, ct);
        var effective = AgentConfiguration.EffectiveFor(await AllAsync(session, ct), t => membership.IsIn(t, []));
        var reason = effective.IsDefault
            ? "No clone targets this computer: the default policy applies."
            : $"Targeted by {string.Join(", ", effective.Targets.Where(t => membership.IsIn(t, [])))}; the lowest priority ({effective.Priority}) of the clones that target it.";
        return new EffectiveConfiguration(computer.Name, effective, reason);
    }

    public static async Task<IReadOnlyList<AgentConfiguration>> AllAsync(IQuerySession session, CancellationToken ct, NpgsqlDataSource? db = null, DateTimeOffset? asOf = null)
    {
        var stored = (asOf is { } at ? await Historical.AllAsync<AgentConfiguration>(session, db!, Projections.PatchProjections.AgentConfigurationTable, at, ct)
            : await session.Query<AgentConfiguration>().ToListAsync(ct)).Where(c => !c.Deleted).ToList();
        if (!stored.Any(c => c.IsDefault)) stored.Add(AgentConfiguration.Default);
        return stored.OrderBy(c => c.Priority).ThenBy(c => c.Name, StringComparer.Ordinal).ThenBy(c => c.Id, StringComparer.Ordinal).ToList();
    }

    private static async Task<AgentConfiguration?> LoadAsync(IQuerySession session, string id, CancellationToken ct, DateTimeOffset? asOf = null) =>
        await Historical.LoadAsync<AgentConfiguration>(session, id, asOf, ct) ?? (id == AgentConfiguration.DefaultId ? AgentConfiguration.Default : null);

    private static Task<IResult> ChangeAsync(string id, HttpContext http, IDocumentStore store, CancellationToken ct, Func<AgentConfiguration?, ISet<string>, Outcome> decide) =>
        TargetEndpoints.ChangeAsync(store, http, id, decide, async session => await LoadAsync(session, id, ct), ct);
}
