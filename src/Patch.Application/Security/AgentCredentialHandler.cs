using System.Security.Claims;
using System.Text.Encodings.Web;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Patch.Application.Agents;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Application.Security;

/// <summary>
/// Every agent call after enrolment carries "Authorization: Bearer agentId.secret" (ADR 0012). The handler resolves
/// the agent's computer before any endpoint reads the request and hands endpoints that computer only (no agent
/// endpoint takes a computer from the request). The current secret works, and the previous one within its grace
/// period after a rotation; a revoked or reset agent's do not. A user's credential is not an agent's: 401.
/// </summary>
public sealed class AgentCredentialHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    IQuerySession session, TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.NoResult();
        if (Secrets.Split(header[7..]) is not var (agentId, secret) || !agentId.StartsWith("agent-", StringComparison.Ordinal))
            return AuthenticateResult.Fail("The bearer credential is not an agent credential.");
        var computer = await session.Query<Computer>().Where(c => c.AgentId == agentId).FirstOrDefaultAsync(Context.RequestAborted);
        if (computer is null || !computer.AcceptsCredential(secret, time.GetUtcNow()))
            return AuthenticateResult.Fail("The credential is not valid (unknown, revoked, reset, replaced by a newer enrolment, or wrong).");
        Context.Items[AgentEndpoints.ComputerItem] = computer;
        var identity = new ClaimsIdentity(
        [
            new Claim(PatchAuth.Claims.Kind, "agent"),
            new Claim(PatchAuth.Claims.ComputerId, computer.Id),
            new Claim(PatchAuth.Claims.UserName, computer.Name),
        ], Scheme.Name, PatchAuth.Claims.UserName, null);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }
}
