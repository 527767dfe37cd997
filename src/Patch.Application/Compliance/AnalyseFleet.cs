using Patch.Projections.Compliance;
using Marten;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Patch.Application.Common;

namespace Patch.Application.Compliance;

/// <summary>Recompute every computer's updates: queued after a catalog import changed the catalog (C8 "Vulnerability analysis").</summary>
public sealed record AnalyseFleet(string Trigger);

public static class AnalyseFleetHandler
{
    /// <summary>
    /// Runs the analysis through the runner. One already running may have read the catalog before this change: it is
    /// waited for, and a fresh run follows.
    /// </summary>
    public static async Task Handle(AnalyseFleet command, ServerTasks.ServerTaskRunner runner, IHostApplicationLifetime lifetime)
    {
        var ct = lifetime.ApplicationStopping;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var start = await runner.StartAsync(FleetAnalysisTask.TaskName, command.Trigger, Actor.ServerTask(FleetAnalysisTask.TaskName), new Dictionary<string, string>(), ct);
            if (start is null) return;
            await runner.WaitAsync(start.RunId, ct);
            if (!start.AlreadyRunning) return;
        }
    }
}

/// <summary>The vulnerability analysis server task: <see cref="VulnerabilityAnalysis.RecomputeAllAsync"/> under a run of the runner.</summary>
public sealed class FleetAnalysisTask(VulnerabilityAnalysis analysis)
{
    public const string TaskName = "vulnerability-analysis";

    public async Task<TaskOutcome> WorkAsync(CancellationToken ct)
    {
        var result = await analysis.RecomputeAllAsync(ct);
        return new TaskOutcome(new Dictionary<string, int>
            { ["computers"] = result.Computers, ["rows"] = (int)Math.Min(int.MaxValue, result.Rows), ["milliseconds"] = (int)(result.Seconds * 1000) });
    }
}

/// <summary>Creates and migrates every read model's schema at start (<see cref="Projections.ReadModelSchema"/>).</summary>
public sealed class ComplianceSchema(NpgsqlDataSource db, IDocumentStore store) : IHostedService
{
    public Task StartAsync(CancellationToken ct) => Projections.ReadModelSchema.EnsureAsync(db, store, ct);

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
