using Marten;
using Microsoft.AspNetCore.Http;
using Patch.Application.Security;

namespace Patch.Application.Common;

/// <summary>Who or what caused a change: a user, an agent, a server task, the command line or replication (C12).</summary>
public sealed record Actor(string Kind, string Name, string CorrelationId, string? Id = null)
{
    public const string CorrelationHeader = "X-Correlation-Id";

    /// <summary>Every kind of actor events are recorded with (the audit's actorKind filter takes these).</summary>
    public static readonly string[] Kinds = ["user", "agent", "server-task", "command-line", "child-server", "replication", "anonymous"];

    public static Actor ServerTask(string task) => new("server-task", task, Guid.NewGuid().ToString("N"), $"server-task:{task}");

    /// <summary>The command line on the server (bootstrap commands): the operating system's user who ran it.</summary>
    public static Actor CommandLine() => new("command-line", Environment.UserName, Guid.NewGuid().ToString("N"), $"command-line:{Environment.UserName}");

    /// <summary>
    /// The signed-in user of the request (the only source of a user's identity: no header names a user). A request
    /// without one never reaches an endpoint that writes; "anonymous" is what the anonymous endpoints record.
    /// </summary>
    public static Actor From(HttpContext http)
    {
        var correlation = http.Request.Headers[CorrelationHeader].ToString().Trim();
        if (correlation.Length == 0 || correlation.Length > 128 || correlation.Any(char.IsControl)) correlation = http.TraceIdentifier;
        return http.User.IsUser()
            ? new Actor("user", http.User.UserName()!, correlation, http.User.UserId())
            : new Actor("anonymous", "anonymous", correlation);
    }
}

public static class ActorSessions
{
    /// <summary>A write session whose events carry the actor (name, id and kind), the correlation id and the cause.</summary>
    public static IDocumentSession OpenSession(this IDocumentStore store, Actor actor, string? causationId = null, Marten.Services.SessionOptions? options = null)
    {
        var session = options is null ? store.LightweightSession() : store.LightweightSession(options);
        session.LastModifiedBy = actor.Name;
        session.CorrelationId = actor.CorrelationId;
        session.CausationId = causationId ?? actor.CorrelationId;
        session.SetHeader("actorKind", actor.Kind);
        if (actor.Id is not null) session.SetHeader("actorId", actor.Id);
        return session;
    }
}
