using System.Security.Claims;
using System.Text.Encodings.Web;
using Npgsql;
using Patch.Application.Common;
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
    NpgsqlDataSource db, TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private const string Sql = $"""
        select id, data->>'name', data->>'credentialSha256', data->>'previousCredentialSha256', (data->>'previousCredentialValidUntil')::timestamptz,
          coalesce((data->>'agentRevoked')::boolean, false)
        from {PatchStore.Schema}.{Projections.PatchProjections.ComputerTable} where data->>'agentId' = $1 limit 1
        """;

    private static string? Text(NpgsqlDataReader row, int i) => row.IsDBNull(i) ? null : row.GetString(i);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.NoResult();
        if (Secrets.Split(header[7..]) is not var (agentId, secret) || !agentId.StartsWith("agent-", StringComparison.Ordinal))
            return AuthenticateResult.Fail("The bearer credential is not an agent credential.");
        // Only the credential's fields of the computer document (by the agent id's index): every agent call is authenticated,
        // and reading the whole document — its inventory — cost more than the call itself.
        AgentCaller? caller = null;
        await using (var cmd = db.CreateCommand(Sql))
        {
            cmd.Parameters.AddWithValue(agentId);
            await using var row = await cmd.ExecuteReaderAsync(Context.RequestAborted);
            if (await row.ReadAsync(Context.RequestAborted)
                && Computer.AcceptsCredential(row.GetBoolean(5), Text(row, 2), Text(row, 3), row.IsDBNull(4) ? null : row.GetFieldValue<DateTimeOffset>(4), secret, time.GetUtcNow()))
                caller = new AgentCaller(row.GetString(0), row.GetString(1), agentId);
        }
        if (caller is null)
            return AuthenticateResult.Fail("The credential is not valid (unknown, revoked, reset, replaced by a newer enrolment, or wrong).");
        Context.Items[AgentEndpoints.CallerItem] = caller;
        var identity = new ClaimsIdentity(
        [
            new Claim(PatchAuth.Claims.Kind, "agent"),
            new Claim(PatchAuth.Claims.ComputerId, caller.ComputerId),
            new Claim(PatchAuth.Claims.UserName, caller.Name),
        ], Scheme.Name, PatchAuth.Claims.UserName, null);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }
}
