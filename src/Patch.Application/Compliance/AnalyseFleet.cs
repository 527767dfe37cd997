using Patch.Projections.Compliance;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Patch.Application.Common;

namespace Patch.Application.Compliance;

/// <summary>
/// Analyse after a catalog change: every inventory shape is decided again and the changed ones written (ADR 0035);
/// <c>Bulletins</c> names what changed (the run counts the computers of the shapes they changed), null for a change
/// of the whole catalog; <c>ChangedAt</c>, the runner's clock once the change was committed.
/// </summary>
public sealed record AnalyseFleet(string Trigger, IReadOnlyList<string>? Bulletins = null, DateTimeOffset? ChangedAt = null);

public static class AnalyseFleetHandler
{
    /// <summary>How far two nodes' clocks may disagree: a run recorded as started less than this after a change may have begun before it.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Runs the analysis through the runner. A run that started after the change reads it: it is waited for and is
    /// enough (a burst of imports is analysed by a few runs, not one each). "After" allows for the clocks of two API
    /// nodes disagreeing by up to <see cref="ClockSkew"/>. One already running may have read the catalog before this
    /// change: it is waited for, and a fresh run follows.
    /// </summary>
    public static async Task Handle(AnalyseFleet command, ServerTasks.ServerTaskRunner runner, IHostApplicationLifetime lifetime)
    {
        var ct = lifetime.ApplicationStopping;
        for (var attempt = 0; attempt < 10; attempt++)
        {
            if (command.ChangedAt is { } changed && await runner.LastRunAsync(FleetAnalysisTask.TaskName, ct) is { } last && last.Started >= changed + ClockSkew
                && (await runner.WaitAsync(last.Id, ct))?.Status == Domain.ServerTasks.ServerTaskStatus.Completed)
                return;
            var parameters = command.Bulletins is { } bulletins ? new Dictionary<string, string> { ["bulletins"] = string.Join(",", bulletins) } : new Dictionary<string, string>();
            var start = await runner.StartAsync(FleetAnalysisTask.TaskName, command.Trigger, Actor.ServerTask(FleetAnalysisTask.TaskName), parameters, ct);
            if (start is null) return;
            await runner.WaitAsync(start.RunId, ct);
            if (!start.AlreadyRunning) return;
        }
    }
}

/// <summary>The vulnerability analysis server task: <see cref="VulnerabilityAnalysis.RecomputeAsync"/> under a run of the runner.</summary>
public sealed class FleetAnalysisTask(VulnerabilityAnalysis analysis)
{
    public const string TaskName = "vulnerability-analysis";

    /// <summary>
    /// Every inventory shape decided again (ADR 0035). With parameter <c>bulletins</c> (what an import changed, recorded
    /// on the run) the run counts the computers whose rows changed; on demand, every computer considered.
    /// </summary>
    public async Task<TaskOutcome> WorkAsync(IReadOnlyDictionary<string, string> parameters, CancellationToken ct)
    {
        var result = await analysis.RecomputeAsync(afterImport: parameters.ContainsKey("bulletins"), ct);
        PatchTelemetry.AnalysisDuration.Record(result.Seconds, new KeyValuePair<string, object?>("scope", parameters.ContainsKey("bulletins") ? "concerned" : "fleet"));
        return new TaskOutcome(new Dictionary<string, int>
        {
            ["computers"] = result.Computers, ["considered"] = result.Considered, ["rows"] = (int)Math.Min(int.MaxValue, result.Rows),
            ["milliseconds"] = (int)(result.Seconds * 1000),
        });
    }
}

/// <summary>Creates and migrates every read model's schema at start (<see cref="Projections.ReadModelSchema"/>).</summary>
public sealed class ComplianceSchema(NpgsqlDataSource db, IDocumentStore store, IConfiguration config) : IHostedService
{
    public Task StartAsync(CancellationToken ct) =>
        Projections.ReadModelSchema.EnsureAsync(db, store, ct, config.GetValue<int?>("Patch:Reports:NameBucket"));

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
