using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.ServerTasks;

namespace Patch.Application.ServerTasks;

public sealed record ServerTaskRunPage(IReadOnlyList<ServerTaskRun> Items, int Total, int Page, int PageSize);

/// <summary>A run as a CSV row (counts and parameters as name=value pairs separated by '; ').</summary>
public sealed record ServerTaskRunRow(string Id, string Task, string Trigger, string? By, string Status, DateTimeOffset Started, DateTimeOffset? Ended, string Counts,
    string Parameters, string? Error)
{
    /// <remarks>A run whose start is not in the store (its end recorded after the store was emptied) has no parameters, maybe no counts.</remarks>
    public static ServerTaskRunRow Of(ServerTaskRun r) => new(r.Id, r.Task, r.Trigger, r.By, r.Status, r.Started, r.Ended,
        string.Join("; ", (r.Counts ?? new Dictionary<string, int>()).Select(c => $"{c.Key}={c.Value}")),
        string.Join("; ", (r.Parameters ?? new Dictionary<string, string>()).Select(p => $"{p.Key}={p.Value}")), r.Error);
}

/// <summary>Server task run history (C8): start, end, result, counts, error.</summary>
public static class ServerTaskEndpoints
{
    public static void MapServerTasks(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api").WithTags("Server tasks");

        group.MapGet("server-tasks/runs", async (string? task, int? page, int? pageSize, HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, ServerTaskRunner runner,
                CancellationToken ct) =>
                task is not null && !RunTasks(runner).Contains(task, StringComparer.Ordinal)
                    ? Problems.Invalid("Invalid query", $"task: '{Domain.Users.UserDecisions.Printable(task)}' is not one of {string.Join(", ", RunTasks(runner))}.")
                    : await ListAsync(session, task, page, pageSize, ct, db, AsOf.Of(http), http))
            .ForAuditor().WithAsOf().WithName("ListServerTaskRuns").WithQuery(QueryParameters.Format)
            .WithSummary("Runs of server tasks, newest first (as they stood at asOf when asked); filter with task=catalog-import; format=csv (or Accept: text/csv) for CSV, every run unless paged.")
            .Produces<ServerTaskRunPage>(200, "application/json", "text/csv").ProducesProblem(400);

        group.MapGet("catalog/imports", (int? page, int? pageSize, HttpContext http, IQuerySession session, Npgsql.NpgsqlDataSource db, CancellationToken ct) =>
                ListAsync(session, CatalogImporter.TaskName, page, pageSize, ct, db, AsOf.Of(http)))
            .ForAuditor().WithAsOf().WithName("ListCatalogImports").WithSummary("The catalog import runs, newest first (as they stood at asOf when asked).")
            .Produces<ServerTaskRunPage>().ProducesProblem(400);

        group.MapGet("server-tasks/runs/{runId}", async (string runId, HttpContext http, IQuerySession session, CancellationToken ct) =>
                await Historical.LoadAsync<ServerTaskRun>(session, runId, AsOf.Of(http), ct) is { } run ? Results.Ok(run) : Problems.NotFound($"No server task run '{runId}'."))
            .ForAuditor().WithAsOf().WithName("GetServerTaskRun").WithSummary("One run (id 'task-run:…'), now or as it stood at asOf.")
            .Produces<ServerTaskRun>().ProducesProblem(404);

        group.MapGet("history/{streamId}", async (string streamId, HttpContext http, IQuerySession session, CancellationToken ct) =>
                Audit.AuditLog.AdministratorsOnly(streamId) && !http.User.HasRole(Domain.Users.Roles.Administrator)
                    ? Results.Problem(title: "Administrators only", detail: "Webhook subscriptions and their deliveries are read by administrators (a receiver's URL may carry its secret).",
                        statusCode: StatusCodes.Status403Forbidden)
                : await StreamHistory.ReadAsync(session, streamId, ct) is { Count: > 0 } history ? Results.Ok(history) : Problems.NotFound($"No stream '{streamId}'."))
            .WithTags("History").ForAuditor().WithName("GetStreamHistory")
            .WithSummary("Any stream's events (bulletin 'microsoft:KB5034441', settings 'settings:core', run 'task-run:…') with actor and correlation ids.")
            .Produces<IReadOnlyList<HistoryEntry>>().ProducesProblem(403).ProducesProblem(404);
    }

    /// <summary>Every task that records runs: the server tasks, and the catalog imports and staging runs started by a request.</summary>
    public static IReadOnlyList<string> RunTasks(ServerTaskRunner runner) =>
        [CatalogImporter.TaskName, Staging.BulletinStager.TaskName, .. runner.Tasks.Select(t => t.Name).Order(StringComparer.Ordinal)];

    private static async Task<IResult> ListAsync(IQuerySession session, string? task, int? page, int? pageSize, CancellationToken ct, Npgsql.NpgsqlDataSource db,
        DateTimeOffset? asOf, HttpContext? http = null)
    {
        var csv = http is not null && ReadSql.CsvRequested(http);
        return (await RunsAsync(session, task, page, pageSize, ct, db, asOf, all: csv && page is null && pageSize is null)).ToResult(p =>
            csv ? Results.Text(Compliance.ReportQuery.ToCsv(p.Items.Select(ServerTaskRunRow.Of)), "text/csv; charset=utf-8") : Results.Ok(p));
    }

    /// <summary>Runs of one task (or all), newest first, paged — or every one (<paramref name="all"/>: a CSV export without paging).</summary>
    public static async Task<Compliance.QueryAnswer<ServerTaskRunPage>> RunsAsync(IQuerySession session, string? task, int? page, int? pageSize, CancellationToken ct,
        Npgsql.NpgsqlDataSource? db = null, DateTimeOffset? asOf = null, bool all = false)
    {
        var p = page ?? 1;
        var size = pageSize ?? 50;
        if (p is < 1 or > Compliance.ReportQuery.MaxPage || size is < 1 or > 1000)
            return Compliance.QueryAnswer<ServerTaskRunPage>.Invalid($"page must be from 1 to {Compliance.ReportQuery.MaxPage} and pageSize from 1 to 1000.");
        if (asOf is { } at)
        {
            var runs = (await Historical.AllAsync<ServerTaskRun>(session, db!, Projections.PatchProjections.ServerTaskRunTable, at, ct, "(d.data->>'started')::timestamptz desc, d.id desc"))
                .Where(r => task == null || r.Task == task).ToList();
            return all ? new ServerTaskRunPage(runs, runs.Count, 1, runs.Count) : new ServerTaskRunPage(runs.Skip((p - 1) * size).Take(size).ToList(), runs.Count, p, size);
        }
        // Runs started at one instant (one clock tick, two nodes) keep one order between pages.
        var query = session.Query<ServerTaskRun>().Where(r => task == null || r.Task == task).OrderByDescending(r => r.Started).ThenByDescending(r => r.Id);
        if (all)
        {
            var every = await query.ToListAsync(ct);
            return new ServerTaskRunPage(every, every.Count, 1, every.Count);
        }
        var total = await query.CountAsync(ct);
        var items = await query.Skip((p - 1) * size).Take(size).ToListAsync(ct);
        return new ServerTaskRunPage(items, total, p, size);
    }
}
