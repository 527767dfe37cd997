using Patch.Projections.Compliance;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Compliance;

/// <summary>Recompute every computer's updates: queued after a catalog import changed the catalog (C8 "Vulnerability analysis").</summary>
public sealed record AnalyseFleet(string Trigger);

public static class AnalyseFleetHandler
{
    public static Task Handle(AnalyseFleet command, FleetAnalysisTask task, IHostApplicationLifetime lifetime) =>
        task.RunAsync(command.Trigger, Actor.ServerTask(FleetAnalysisTask.TaskName), lifetime.ApplicationStopping);
}

/// <summary>The vulnerability analysis server task: a run with history around <see cref="VulnerabilityAnalysis.RecomputeAllAsync"/>.</summary>
public sealed class FleetAnalysisTask(IDocumentStore store, VulnerabilityAnalysis analysis, TimeProvider time)
{
    public const string TaskName = "vulnerability-analysis";

    public Task<ServerTaskRun> RunAsync(string trigger, Actor actor, CancellationToken ct) =>
        ServerTaskRecorder.RunAsync(store, time, actor, TaskName, trigger, new Dictionary<string, string>(), async (_, token) =>
        {
            var result = await analysis.RecomputeAllAsync(token);
            return new Dictionary<string, int> { ["computers"] = result.Computers, ["rows"] = (int)Math.Min(int.MaxValue, result.Rows), ["milliseconds"] = (int)(result.Seconds * 1000) };
        }, ct);

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/api/server-tasks/vulnerability-analysis/run", async (HttpContext http, FleetAnalysisTask task, CancellationToken ct) =>
                Results.Ok(await task.RunAsync("on demand", Actor.From(http), ct)))
            .WithTags("Server tasks").ForOperator().WithName("RunVulnerabilityAnalysis")
            .WithSummary("Recompute every computer's applicable, installed, missing and superseded updates now (it also runs after every catalog import that changed the catalog).")
            .Produces<ServerTaskRun>();
}

/// <summary>Creates and migrates every read model's schema at start (<see cref="Projections.ReadModelSchema"/>).</summary>
public sealed class ComplianceSchema(NpgsqlDataSource db, IDocumentStore store) : IHostedService
{
    public Task StartAsync(CancellationToken ct) => Projections.ReadModelSchema.EnsureAsync(db, store, ct);

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
