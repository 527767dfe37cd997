using Marten;
using Marten.Services;
using Patch.Application.Common;
using Patch.Domain.ServerTasks;

namespace Patch.Api.Hosting;

/// <summary>
/// Remembers, per HTTP request, that its endpoint committed a change to the store, so that a failure after it — the
/// read-back of what was created, a second transaction — is never answered "nothing was saved"
/// (<see cref="ProblemExceptionHandler"/>): a client told that would send the change again and repeat it. A commit
/// counts when it is made in the request's flow once the endpoint runs (the authentication's record of a token's use
/// comes before), by a session carrying the request's correlation id (not a server task the request started, whose
/// runs have their own), and is more than bookkeeping: a run started or failed, or a parent-link attempt, alone is not.
/// </summary>
public sealed class ChangesSaved : DocumentSessionListenerBase
{
    private const string Key = "patch.changesSaved";

    /// <summary>The request's marker, for the commits made in its flow (tasks it starts included: hence the correlation check).</summary>
    private static readonly AsyncLocal<Marker?> Current = new();

    /// <summary>Set from any thread of the request's flow, read by the exception handler: a volatile flag, no shared collection.</summary>
    private sealed class Marker(string traceIdentifier, string correlationId)
    {
        private volatile bool _saved;

        public bool Saved => _saved;

        public void Save() => _saved = true;

        public bool Carries(string? correlationId) => correlationId == traceIdentifier || correlationId == CorrelationId;

        public string CorrelationId { get; } = correlationId;
    }

    public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
    {
        if (Current.Value is { } marker && marker.Carries(session.CorrelationId) && !Bookkeeping(commit)) marker.Save();
        return Task.CompletedTask;
    }

    /// <summary>
    /// A commit of runs started or failed, or of a parent-link attempt, alone: the history of the work or its preparation,
    /// not the work ("nothing was saved" stays true of what the request asked for). A run completed is the work done (a
    /// catalog import commits its facts with its run's end; its facts are written by SQL the change set does not list).
    /// </summary>
    private static bool Bookkeeping(IChangeSet commit)
    {
        var streams = commit.GetStreams().ToList();
        return streams.Count > 0 && streams.All(s => s.Key is { } key && BookkeepingPrefixes.Any(p => key.StartsWith(p, StringComparison.Ordinal)))
            && !commit.GetEvents().Any(e => e.Data is ServerTaskCompleted { Result: not ServerTaskStatus.Unchanged });
    }

    private static readonly string[] BookkeepingPrefixes =
        [Domain.StreamIds.ServerTaskRun(Guid.Empty)[..^32], Domain.Hierarchy.ParentLinkAttempted.StreamId("")];

    /// <summary>Whether the request has reached its endpoint (authentication, which may record a token's use, is behind it).</summary>
    public static bool EndpointRuns(HttpContext http) => http.Items.ContainsKey(Key);

    /// <summary>Whether the request's endpoint committed a change before it failed.</summary>
    public static bool In(HttpContext http) => http.Items.TryGetValue(Key, out var marker) && marker is Marker { Saved: true };

    /// <summary>The middleware just before the endpoint: from here on, a commit of the request's is its change.</summary>
    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var marker = new Marker(http.TraceIdentifier, Actor.From(http).CorrelationId);
        http.Items[Key] = marker;
        Current.Value = marker;
        await next(http);
    }
}
