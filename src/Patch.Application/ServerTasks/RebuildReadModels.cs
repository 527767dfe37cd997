using System.Collections.Concurrent;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.ServerTasks;
using Patch.Projections;
using Patch.Projections.Compliance;
using Patch.Projections.Delivery;
using Wolverine;

namespace Patch.Application.ServerTasks;

/// <summary>Where a running rebuild stands: which read model, events processed of total.</summary>
public sealed record RebuildProgress(string RunId, string Phase, long Processed, long Total);

/// <summary>Progress of the rebuilds running in this process (a finished run's counts are on its run record).</summary>
public sealed class RebuildProgressBoard
{
    private readonly ConcurrentDictionary<string, RebuildProgress> _runs = new();

    public void Report(RebuildProgress progress) => _runs[progress.RunId] = progress;

    public void Done(string runId) => _runs.TryRemove(runId, out _);

    public RebuildProgress? Of(string runId) => _runs.TryGetValue(runId, out var p) ? p : null;
}

/// <summary>
/// Rebuilds one read model or all of them from the events, as a run with progress. The API keeps answering: the
/// compliance and delivery tables are replaced in one transaction each (reports read the previous rows until it
/// commits; agents' inventories and status batches wait for it), documents are replayed by Marten's projection daemon
/// (lists may be incomplete while a document rebuild runs). Histories: compliance and delivery are re-derived from the
/// events; a document's past versions are kept and its rebuilt version starts at the rebuild (ADR 0019).
/// </summary>
public sealed class ReadModelRebuilder(IDocumentStore store, NpgsqlDataSource db, RebuildProgressBoard board, CatalogCache catalog)
{
    public const string TaskName = "read-model-rebuild";
    public static readonly string[] Models = ["all", "compliance", "delivery", "documents"];

    public async Task<TaskOutcome> WorkAsync(string runId, string model, CancellationToken token)
    {
        board.Report(new RebuildProgress(runId, "starting", 0, 0));
        var counts = new Dictionary<string, int>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            if (model is "all" or "documents")
            {
                using var daemon = await store.BuildProjectionDaemonAsync();
                var documents = Projections.PatchProjections.OnlineDocuments;
                for (var i = 0; i < documents.Length; i++)
                {
                    board.Report(new RebuildProgress(runId, $"documents: {documents[i].Name}", i, documents.Length));
                    await daemon.RebuildProjectionAsync(documents[i], token);
                }
                counts["documentModels"] = documents.Length;
            }
            if (model is "all" or "delivery")
            {
                board.Report(new RebuildProgress(runId, "delivery and reboot status", 0, 0));
                await DeliveryTables.RebuildAsync(db, token);
                await using var count = db.CreateCommand($"select (select count(*) from {ReadModels.Schema}.{ReadModels.DeliveryStatus}), " +
                    $"(select count(*) from {ReadModels.Schema}.{ReadModels.DeliveryLatest}), (select count(*) from {ReadModels.Schema}.{ReadModels.RestartState})");
                await using var rows = await count.ExecuteReaderAsync(token);
                await rows.ReadAsync(token);
                counts["statusEvents"] = (int)rows.GetInt64(0);
                counts["deliveries"] = (int)rows.GetInt64(1);
                counts["computersWithRestarts"] = (int)rows.GetInt64(2);
            }
            if (model is "all" or "compliance")
            {
                var result = await new ComplianceRebuild(store, db).RunAsync(
                    new Progress<(long Done, long Total)>(p => board.Report(new RebuildProgress(runId, "compliance", p.Done, p.Total))), token);
                catalog.Invalidate();
                counts["events"] = (int)Math.Min(int.MaxValue, result.Events);
                counts["computers"] = result.Computers;
                counts["analyses"] = result.Analyses;
                counts["fleetAnalyses"] = result.FleetAnalyses;
            }
            counts["milliseconds"] = (int)clock.ElapsedMilliseconds;
            return new TaskOutcome(counts);
        }
        finally
        {
            board.Done(runId);
        }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/server-tasks/read-model-rebuild/run", async (string? model, bool? wait, HttpContext http, ServerTaskRunner runner, CancellationToken ct) =>
            {
                var chosen = model ?? "all";
                if (!Models.Contains(chosen)) return Problems.Invalid("Invalid query", $"model: '{UserDecisionsPrintable(chosen)}' is not one of {string.Join(", ", Models)}");
                return await ServerTaskRunEndpoints.StartAsync(runner, TaskName, new Dictionary<string, string> { ["model"] = chosen }, wait == true, http, ct);
            })
            .WithTags("Server tasks").ForAdministrator().WithName("RebuildReadModels")
            .WithSummary("Rebuild read models from the event log in the background: model=all (default), compliance (re-derived from the inventories and catalog events in order, with its history), delivery (delivery summary and reboot status, with their history) or documents (bulletins and their Remediation Center rows, KEV entries, computer list rows, policies, targets, windows, settings, agent configurations — not the documents requests authenticate with (computers, users, tokens) nor the runs (the rebuild's own is polled), rebuilt on import). Answers 202 with the run; its progress: …/runs/{runId}/progress.")
            .Produces<RunStarted>(StatusCodes.Status202Accepted).Produces<ServerTaskRun>().ProducesProblem(400);

        app.MapGet("/api/server-tasks/runs/{runId}/progress", (string runId, RebuildProgressBoard board) =>
                board.Of(runId) is { } progress ? Results.Ok(progress) : Problems.NotFound($"No rebuild '{runId}' is running (its run record has the outcome)."))
            .WithTags("Server tasks").ForAuditor().WithName("GetRebuildProgress")
            .WithSummary("A running rebuild's progress: the read model being rebuilt and the events processed of the total.")
            .Produces<RebuildProgress>().ProducesProblem(404);
    }

    private static string UserDecisionsPrintable(string text) => Domain.Users.UserDecisions.Printable(text);
}
