using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Security;

namespace Patch.Application.Agents;

public sealed record CreateEnrolmentToken(string? Name, DateTimeOffset? ExpiresAt, int? MaxUses);

/// <summary>The token is shown once, at creation; the server keeps only its hash.</summary>
public sealed record EnrolmentTokenIssued(string TokenId, string Token, DateTimeOffset ExpiresAt, int MaxUses);

public sealed record EnrolmentTokenView(string TokenId, string Name, DateTimeOffset ExpiresAt, int MaxUses, int Uses, bool Revoked);

/// <summary>
/// Enrolment tokens (admin) and the agent protocol (C6), one slice per use case: <see cref="Enrol"/>,
/// <see cref="ReportInventory"/>, <see cref="ReportAgentEvents"/>, <see cref="AgentReads"/> (assignments, updates, itself).
/// </summary>
public static class AgentEndpoints
{
    /// <summary>Where the agent's authentication leaves the caller's computer for the handlers.</summary>
    public const string ComputerItem = "patch.computer";

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
