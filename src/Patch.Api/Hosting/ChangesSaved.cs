using Marten;
using Marten.Services;

namespace Patch.Api.Hosting;

/// <summary>
/// Remembers, per HTTP request, that its endpoint committed a change to the store (a Marten session's commit in the
/// request's flow, once the endpoint runs — the authentication's record of a token's use and a commit of server-task
/// runs alone do not count), so that a
/// failure after it — the read-back of what was created, a second transaction — is never answered "nothing was saved"
/// (<see cref="ProblemExceptionHandler"/>): a client told that would send the change again and repeat it.
/// </summary>
public sealed class ChangesSaved(IHttpContextAccessor accessor) : DocumentSessionListenerBase
{
    private const string EndpointRunning = "patch.endpointRunning";
    private const string Saved = "patch.changesSaved";

    public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
    {
        if (accessor.HttpContext is { } http && EndpointRuns(http) && !OnlyRunRecords(commit)) http.Items[Saved] = true;
        return Task.CompletedTask;
    }

    /// <summary>
    /// A commit of server-task runs alone (a catalog import's run started before its facts fail): the history of the work,
    /// not the work — "nothing was saved" stays true of what the request asked for.
    /// </summary>
    private static bool OnlyRunRecords(IChangeSet commit)
    {
        var streams = commit.GetStreams().ToList();
        return streams.Count > 0 && streams.All(s => s.Key?.StartsWith(RunPrefix, StringComparison.Ordinal) == true);
    }

    private static readonly string RunPrefix = Domain.StreamIds.ServerTaskRun(Guid.Empty)[..^32];

    /// <summary>Whether the request has reached its endpoint (authentication, which may record a token's use, is behind it).</summary>
    public static bool EndpointRuns(HttpContext http) => http.Items.ContainsKey(EndpointRunning);

    /// <summary>Whether the request's endpoint committed a change before it failed.</summary>
    public static bool In(HttpContext http) => http.Items.ContainsKey(Saved);

    /// <summary>The middleware just before the endpoint: from here on, a commit is the request's change.</summary>
    public static Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        http.Items[EndpointRunning] = true;
        return next(http);
    }
}
