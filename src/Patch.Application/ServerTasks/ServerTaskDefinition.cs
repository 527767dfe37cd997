using Patch.Application.Common;

namespace Patch.Application.ServerTasks;

/// <summary>What a run's work is given: its run id, trigger, actor and parameters, and the services of its own scope.</summary>
public sealed record TaskContext(string RunId, string Trigger, Actor Actor, IReadOnlyDictionary<string, string> Parameters, IServiceProvider Services);

/// <summary>
/// A server task the runner knows (C8): its name, what it does, its default schedule (a cron expression in a time zone,
/// or none for tasks run only on demand or by another task), the parameters it accepts and its work.
/// </summary>
public sealed record ServerTaskDefinition(
    string Name,
    string Description,
    string? DefaultCron,
    bool DefaultEnabled,
    Func<TaskContext, CancellationToken, Task<TaskOutcome>> Work)
{
    /// <summary>The default schedule's time zone (the configuration may give another).</summary>
    public string DefaultTimeZone { get; init; } = "UTC";

    /// <summary>A task that has never run runs at the first start of the server (a fresh server fills its catalog).</summary>
    public bool RunWhenNeverRun { get; init; }

    /// <summary>Whether it runs by its schedule when nothing says otherwise, read from the server's configuration when asked (demo mode, configured sources); else <c>DefaultEnabled</c>.</summary>
    public Func<Microsoft.Extensions.Configuration.IConfiguration, bool>? EnabledFrom { get; init; }

    /// <summary>The least role that may run it on demand.</summary>
    public string Role { get; init; } = Domain.Users.Roles.Operator;

    /// <summary>The query parameters POST /api/server-tasks/{name}/run accepts, with what each means.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>Null when the parameters are usable, else the problem (checked before a run is recorded).</summary>
    public Func<IReadOnlyDictionary<string, string>, string?> Validate { get; init; } = _ => null;

    /// <summary>
    /// Null when what the parameters name exists, else the problem — a 404 before a run is recorded (a policy that is not
    /// there is no run that fails later).
    /// </summary>
    public Func<IReadOnlyDictionary<string, string>, Marten.IQuerySession, CancellationToken, Task<string?>> Missing { get; init; } = (_, _, _) => Task.FromResult<string?>(null);
}

/// <summary>A task's schedule as the runner uses it: what an administrator set, else the configured default.</summary>
public sealed record EffectiveSchedule(string? Cron, string TimeZone, bool Enabled, DateTimeOffset? Since);
