namespace Patch.Domain.ServerTasks;

/// <summary>A run began; <c>By</c> names who or what started it (a user, the schedule, another task).</summary>
public sealed record ServerTaskStarted(string RunId, string Task, string Trigger, IReadOnlyDictionary<string, string> Parameters, DateTimeOffset At, string? By = null);

/// <summary>Someone asked a running run to stop; the node running it stops it at its next check and records it cancelled.</summary>
public sealed record ServerTaskCancelRequested(string RunId, string By, DateTimeOffset At);

public sealed record ServerTaskCompleted(string RunId, string Result, IReadOnlyDictionary<string, int> Counts, DateTimeOffset At);

public sealed record ServerTaskFailed(string RunId, string Error, DateTimeOffset At);

public static class ServerTaskStatus
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Unchanged = "unchanged";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>One run of a server task (catalog import, …): its start, end, result, counts and error (C8).</summary>
public sealed record ServerTaskRun(
    string Id,
    string Task,
    string Trigger,
    IReadOnlyDictionary<string, string> Parameters,
    DateTimeOffset Started,
    DateTimeOffset? Ended,
    string Status,
    IReadOnlyDictionary<string, int> Counts,
    string? Error,
    string? By = null,
    string? CancelRequestedBy = null)
{
    public static ServerTaskRun Create(ServerTaskStarted e) =>
        new(e.RunId, e.Task, e.Trigger, e.Parameters, e.At, null, ServerTaskStatus.Running, new Dictionary<string, int>(), null, e.By);

    public static ServerTaskRun Apply(ServerTaskCancelRequested e, ServerTaskRun r) => r with { CancelRequestedBy = e.By };

    public static ServerTaskRun Apply(ServerTaskCompleted e, ServerTaskRun r) => r with { Ended = e.At, Status = e.Result, Counts = e.Counts };

    public static ServerTaskRun Apply(ServerTaskFailed e, ServerTaskRun r) => r with { Ended = e.At, Status = ServerTaskStatus.Failed, Error = e.Error };
}
