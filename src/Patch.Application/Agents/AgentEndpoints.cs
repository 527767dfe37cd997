using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Security;

namespace Patch.Application.Agents;

public sealed record CreateEnrolmentToken(string? Name, DateTimeOffset? ExpiresAt, int? MaxUses);

/// <summary>The token is shown once, at creation; the server keeps only its hash.</summary>
public sealed record EnrolmentTokenIssued(string TokenId, string Token, DateTimeOffset ExpiresAt, int MaxUses);

/// <summary>An authenticated agent: its computer's id and name and its agent id.</summary>
public sealed record AgentCaller(string ComputerId, string Name, string AgentId);

public sealed record EnrolmentTokenView(string TokenId, string Name, DateTimeOffset ExpiresAt, int MaxUses, int Uses, bool Revoked);

/// <summary>
/// Enrolment tokens (admin) and the agent protocol (C6), one slice per use case: <see cref="Enrol"/>,
/// <see cref="ReportInventory"/>, <see cref="ReportAgentEvents"/>, <see cref="AgentReads"/> (assignments, updates, itself).
/// </summary>
public static class AgentEndpoints
{
    /// <summary>Where the agent's authentication leaves the caller (<see cref="AgentCaller"/>) for the handlers.</summary>
    public const string CallerItem = "patch.agent";

    /// <summary>The authenticated agent's computer: its id and name, from the credential check.</summary>
    public static AgentCaller Caller(HttpContext http) => (AgentCaller)http.Items[CallerItem]!;

    /// <summary>
    /// The caller's whole computer document (inventory included), for the handlers that read more than its identity:
    /// loaded once per request, by id.
    /// </summary>
    public static async Task<Domain.Computers.Computer> ComputerAsync(HttpContext http, Marten.IQuerySession session, CancellationToken ct) =>
        await session.LoadAsync<Domain.Computers.Computer>(Caller(http).ComputerId, ct)
        ?? throw new BadHttpRequestException("The agent's computer no longer exists.", StatusCodes.Status401Unauthorized);

    public static void MapAgents(this IEndpointRouteBuilder app)
    {
        app.MapEnrolmentTokens();
        app.MapAgentAdministration();
        app.MapRotateAgentCredential();
        // Every answer carries the server's time (Date): agents date their events by it when their own clock runs ahead.
        var agent = app.MapGroup("/agent/v1").WithTags("Agent").AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            http.Response.Headers.Date = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            return await next(context);
        });
        Enrol.Map(agent);
        var authenticated = agent.MapGroup("").ForAgent();
        ReportInventory.Map(authenticated);
        ReportAgentEvents.Map(authenticated);
        AgentReads.Map(authenticated);
    }
}
