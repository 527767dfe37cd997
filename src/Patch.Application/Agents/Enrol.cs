using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Application.Agents;

/// <summary>
/// <see cref="Credential"/>: the secret the agent chose for itself (43 or more URL-safe base64 characters, 256 bits of
/// randomness). Sent again after a lost answer, it makes the enrolment idempotent: the same computer, agent and credential.
/// </summary>
public sealed record EnrolRequest(string? Token, string? ComputerName, string? Domain, string? MacAddress, string? AgentVersion, string? Credential = null);

/// <summary>The agent's own credential ("agentId.secret"), shown once; every later call sends it as a Bearer token.</summary>
public sealed record Enrolled(string ComputerId, string AgentId, string Credential);

/// <summary>An agent enrols with an enrolment token and receives its own credential (C6).</summary>
public static partial class Enrol
{
    public static void Map(RouteGroupBuilder agent) =>
        agent.MapPost("enrol", EnrolAsync)
            .Anonymous("the enrolment token in the body guards it")
            .WithName("Enrol").WithSummary("An agent enrols with an enrolment token and receives its own credential (built on the secret it chose, when it sent one: then the same request again after a lost answer gets the same enrolment). A computer already known (discovered) by that name is joined; one that already has another agent is refused (409) until an administrator resets it.")
            .Produces<Enrolled>().ProducesProblem(400).ProducesProblem(401).ProducesProblem(409);

    private static async Task<IResult> EnrolAsync(EnrolRequest body, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct)
    {
        if (Secrets.Split(body.Token) is not var (tokenId, secret)) return Unauthorized("the enrolment token is missing or malformed");
        if (body.AgentVersion is not { } agentVersion) return Problems.Invalid("Invalid agent version", "agentVersion: required (the agent's version, like 1.4.0)");
        if (!Version.TryParse(agentVersion, out _)) return Problems.Invalid("Invalid agent version", $"agentVersion: '{Domain.Users.UserDecisions.Printable(agentVersion)}' is not a version");
        // A name no computer can have is refused before anything is looked up under it (it would be told "already enrolled").
        if (!Computer.IsName(body.ComputerName)) return Problems.Invalid("Invalid computer", "computerName: 1 to 63 letters, digits, '-', '_' or '.', neither starting nor ending with '.'");
        var now = time.GetUtcNow();
        await using var session = store.OpenSession(new Actor("agent", body.ComputerName ?? "unknown", http.TraceIdentifier));
        // The token's stream is locked: two agents racing for its last use cannot both win.
        var token = await session.Events.FetchForExclusiveWriting<EnrolmentToken>(tokenId, ct);
        if (token.Aggregate is null) return Unauthorized("the enrolment token is not valid");
        if (body.Credential is { } chosen && !ChosenSecret().IsMatch(chosen))
            return Problems.Invalid("Invalid credential", "credential: the agent's own secret is 43 to 128 URL-safe base64 characters (A–Z, a–z, 0–9, '-', '_').");

        var computerId = Computer.StreamId(body.ComputerName ?? "");
        var computer = await session.Events.FetchForWriting<Computer>(computerId, ct);
        // The same agent again, after its answer was lost (a dropped connection, a server restart): it proves itself with
        // the secret it chose and gets the same enrolment — the token is not used twice.
        if (body.Credential is { } again && computer.Aggregate is { AgentId: { } enrolledAgent, CredentialSha256: { } known, AgentRevoked: false }
            && Secrets.Matches(again, known) && Secrets.Matches(secret, token.Aggregate.SecretSha256))
            return Results.Ok(new Enrolled(computerId, enrolledAgent, $"{enrolledAgent}.{again}"));
        if (token.Aggregate.RefusalFor(secret, now) is { } refusal) return Unauthorized(refusal);
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
        var credential = body.Credential ?? Secrets.New();
        computer.AppendOne(new AgentEnrolled(computerId, agentId, Secrets.Hash(credential), agentVersion, tokenId, now));
        token.AppendOne(new EnrolmentTokenUsed(tokenId, computerId, now));
        await session.SaveChangesAsync(ct);
        return Results.Ok(new Enrolled(computerId, agentId, $"{agentId}.{credential}"));
    }

    /// <summary>Whether a secret an agent chose has the shape of one (43 to 128 URL-safe base64 characters).</summary>
    public static bool IsChosenSecret(string secret) => ChosenSecret().IsMatch(secret);

    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z0-9_-]{43,128}\z")]
    private static partial System.Text.RegularExpressions.Regex ChosenSecret();

    private static IResult Unauthorized(string detail) => Results.Problem(title: "Enrolment refused", detail: detail, statusCode: StatusCodes.Status401Unauthorized);
}
