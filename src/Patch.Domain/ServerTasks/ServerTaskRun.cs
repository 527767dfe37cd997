namespace Patch.Domain.ServerTasks;

public sealed record ServerTaskStarted(string RunId, string Task, string Trigger, IReadOnlyDictionary<string, string> Parameters, DateTimeOffset At);

public sealed record ServerTaskCompleted(string RunId, string Result, IReadOnlyDictionary<string, int> Counts, DateTimeOffset At);

public sealed record ServerTaskFailed(string RunId, string Error, DateTimeOffset At);

public static class ServerTaskStatus
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Unchanged = "unchanged";
    public const string Failed = "failed";
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
    string? Error)
{
    public static ServerTaskRun Create(ServerTaskStarted e) =>
        new(e.RunId, e.Task, e.Trigger, e.Parameters, e.At, null, ServerTaskStatus.Running, new Dictionary<string, int>(), null);

    public static ServerTaskRun Apply(ServerTaskCompleted e, ServerTaskRun r) => r with { Ended = e.At, Status = e.Result, Counts = e.Counts };

    public static ServerTaskRun Apply(ServerTaskFailed e, ServerTaskRun r) => r with { Ended = e.At, Status = ServerTaskStatus.Failed, Error = e.Error };
}
