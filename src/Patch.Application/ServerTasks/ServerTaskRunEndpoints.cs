using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.ServerTasks;

namespace Patch.Application.ServerTasks;

/// <summary>A run the runner started (or the one already going: <c>AlreadyRunning</c>), and where to follow it.</summary>
public sealed record RunStarted(string RunId, string Task, bool AlreadyRunning, string StatusUrl);

/// <summary>A server task as GET /api/server-tasks lists it: what it does, its schedule, its next and last run.</summary>
public sealed record ServerTaskView(string Name, string Description, string Role, string? Cron, string TimeZone, bool Enabled, bool ScheduleSet,
    DateTimeOffset? NextRun, ServerTaskRun? LastRun, IReadOnlyDictionary<string, string> Parameters);

/// <summary>PUT /api/server-tasks/{name}/schedule: a cron expression (5 fields, or 6 with seconds; null for none), a time zone, on or off.</summary>
public sealed record SetSchedule(string? Cron, string? TimeZone, bool? Enabled);

/// <summary>The task runner's routes (C8): list tasks, run one, schedule it, cancel a run.</summary>
public static class ServerTaskRunEndpoints
{
    public static void MapServerTaskRunner(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/server-tasks").WithTags("Server tasks");

        group.MapGet("", async (ServerTaskRunner runner, IQuerySession session, CancellationToken ct) => Results.Ok(await ViewsAsync(runner, session, ct)))
            .ForAuditor().WithName("ListServerTasks")
            .WithSummary("Every server task with what it does, its schedule (cron and time zone, on or off), its next run and its last run.")
            .Produces<IReadOnlyList<ServerTaskView>>();

        group.MapPost("{name}/run", async (string name, bool? wait, HttpContext http, ServerTaskRunner runner, IQuerySession session, CancellationToken ct) =>
            {
                if (runner.Find(name) is not { } task) return Problems.NotFound($"No server task '{Domain.Users.UserDecisions.Printable(name)}'.");
                if (!http.User.HasRole(task.Role)) return Results.Problem(title: "Forbidden", detail: $"Running {name} needs the {task.Role} role.", statusCode: 403);
                var parameters = http.Request.Query.Where(q => q.Key != "wait").ToDictionary(q => q.Key, q => q.Value.ToString());
                var unknown = parameters.Keys.Where(k => !task.Parameters.ContainsKey(k)).ToList();
                if (unknown.Count > 0)
                    return Problems.Invalid("Unknown query parameter", $"{string.Join(", ", unknown.Select(u => $"'{u}'"))}: not a parameter of {name}, which takes " +
                        (task.Parameters.Count == 0 ? "none but wait" : string.Join(", ", task.Parameters.Keys.Append("wait"))) + ".");
                if (task.Validate(parameters) is { } problem) return Problems.Invalid("Invalid query", problem);
                if (await task.Missing(parameters, session, ct) is { } missing) return Problems.NotFound(missing);
                return await StartAsync(runner, name, parameters, wait == true, http, ct);
            })
            .ForOperator().WithName("RunServerTask")
            .WithQuery(new QueryParameter("policy", "string", "wake-on-lan only: the policy whose computers are woken."),
                new QueryParameter("mode", "string", "catalog-replication and policy-replication only: differential (default) or complete.", Hierarchy.CatalogReplicator.Modes),
                new QueryParameter("verify", "integer", "catalog-replication only: percentage of replicated bulletins verified against the parent.", Minimum: 0, Maximum: 100))
            .WithSummary("Run a server task now: 202 with the run's id (or, if the task is already running, the id of that run — never two runs of one task at once, across nodes too). wait=true answers when it ends, with the run.")
            .Produces<RunStarted>(StatusCodes.Status202Accepted).Produces<ServerTaskRun>().ProducesProblem(400).ProducesProblem(403).ProducesProblem(404);

        group.MapPut("{name}/schedule", async (string name, SetSchedule body, HttpContext http, ServerTaskRunner runner, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                if (runner.Find(name) is not { } task) return Problems.NotFound($"No server task '{Domain.Users.UserDecisions.Printable(name)}'.");
                var cron = string.IsNullOrWhiteSpace(body.Cron) ? null : body.Cron.Trim();
                if (body.TimeZone is { } given && string.IsNullOrWhiteSpace(given)) return Problems.Invalid("Invalid schedule", "timeZone: empty (leave it out for UTC).");
                var zone = body.TimeZone?.Trim() ?? "UTC";
                if (TaskSchedules.Problem(cron, zone) is { } problem) return Problems.Invalid("Invalid schedule", problem);
                if (body.Enabled is null) return Problems.Invalid("Invalid schedule", "enabled: required (true or false).");
                if (body.Enabled == true && cron is null) return Problems.Invalid("Invalid schedule", "cron: an enabled schedule needs a cron expression.");
                var actor = Actor.From(http);
                await using var session = store.OpenSession(actor);
                var id = ServerTaskSchedule.StreamId(name);
                // The same schedule again changes nothing: no event (its "since" stays, and so does when it next runs).
                if (await session.LoadAsync<ServerTaskSchedule>(id, ct) is { } current && current.Cron == cron && current.TimeZone == zone && current.Enabled == body.Enabled.Value)
                    return Results.Ok(current);
                session.Events.Append(id, new ServerTaskScheduleSet(id, name, cron, zone, body.Enabled.Value, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                return Results.Ok(await session.LoadAsync<ServerTaskSchedule>(id, ct));
            })
            .ForAdministrator().WithName("SetServerTaskSchedule")
            .WithSummary("Set when a task runs by itself: cron (\"0 3 * * *\", or six fields with seconds first), timeZone (IANA or Windows id, default UTC), enabled. An event on stream server-task:{name}.")
            .Produces<ServerTaskSchedule>().ProducesProblem(400).ProducesProblem(404);

        group.MapPost("runs/{runId}/cancel", async (string runId, HttpContext http, ServerTaskRunner runner, IQuerySession session, CancellationToken ct) =>
            {
                if (await session.LoadAsync<ServerTaskRun>(runId, ct) is not { } run) return Problems.NotFound($"No server task run '{Domain.Users.UserDecisions.Printable(runId)}'.");
                if (!await runner.CancelAsync(runId, Actor.From(http), ct))
                    return Results.Problem(title: "Not running", detail: run.Status == ServerTaskStatus.Running
                        ? $"Run {runId} of {run.Task} cannot be cancelled (only the runner's tasks can)." : $"Run {runId} has ended ({run.Status}).", statusCode: 409);
                return Results.Accepted($"/api/server-tasks/runs/{runId}", await runner.WaitAsync(runId, ct));
            })
            .ForOperator().WithName("CancelServerTaskRun")
            .WithSummary("Cancel a running run: the node running it stops it within a second and records it 'cancelled'. 409 when it is not running.")
            .Produces<ServerTaskRun>(StatusCodes.Status202Accepted).ProducesProblem(404).ProducesProblem(409);
    }

    public static async Task<List<ServerTaskView>> ViewsAsync(ServerTaskRunner runner, IQuerySession session, CancellationToken ct)
    {
        var views = new List<ServerTaskView>();
        foreach (var task in runner.Tasks.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var schedule = await runner.ScheduleOfAsync(session, task, ct);
            var last = await runner.LastRunAsync(task.Name, ct);
            views.Add(new ServerTaskView(task.Name, task.Description, task.Role, schedule.Cron, schedule.TimeZone, schedule.Enabled, schedule.Since is not null,
                runner.NextRun(task, schedule, last), last, task.Parameters));
        }
        return views;
    }

    /// <summary>Starts a task's run: 202 with its id, or with wait, 200 with the ended run.</summary>
    public static async Task<IResult> StartAsync(ServerTaskRunner runner, string name, IReadOnlyDictionary<string, string> parameters, bool wait, HttpContext http, CancellationToken ct)
    {
        var start = (await runner.StartAsync(name, "on demand", Actor.From(http), parameters, ct))!;
        if (wait) return Results.Ok(await runner.WaitAsync(start.RunId, ct));
        var url = $"/api/server-tasks/runs/{start.RunId}";
        return Results.Accepted(url, new RunStarted(start.RunId, name, start.AlreadyRunning, url));
    }
}
