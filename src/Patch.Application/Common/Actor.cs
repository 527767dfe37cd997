using Marten;
using Microsoft.AspNetCore.Http;

namespace Patch.Application.Common;

/// <summary>Who or what caused a change: a user, an agent, a server task or replication (C12).</summary>
public sealed record Actor(string Kind, string Name, string CorrelationId)
{
    public const string UserHeader = "X-Patch-User";
    public const string CorrelationHeader = "X-Correlation-Id";

    public static Actor ServerTask(string task) => new("server-task", task, Guid.NewGuid().ToString("N"));

    /// <summary>Until authentication lands, the user is named by the X-Patch-User header, else "anonymous".</summary>
    public static Actor From(HttpContext http)
    {
        var user = http.Request.Headers[UserHeader].ToString().Trim();
        if (user.Length == 0 || user.Length > 128 || user.Any(char.IsControl)) user = "anonymous";
        var correlation = http.Request.Headers[CorrelationHeader].ToString().Trim();
        if (correlation.Length == 0 || correlation.Length > 128 || correlation.Any(char.IsControl)) correlation = http.TraceIdentifier;
        return new Actor("user", user, correlation);
    }
}

public static class ActorSessions
{
    /// <summary>A write session whose events carry the actor, its kind, the correlation id and the cause.</summary>
    public static IDocumentSession OpenSession(this IDocumentStore store, Actor actor, string? causationId = null)
    {
        var session = store.LightweightSession();
        session.LastModifiedBy = actor.Name;
        session.CorrelationId = actor.CorrelationId;
        session.CausationId = causationId ?? actor.CorrelationId;
        session.SetHeader("actorKind", actor.Kind);
        return session;
    }
}
