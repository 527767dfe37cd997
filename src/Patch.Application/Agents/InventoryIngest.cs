using System.Threading.Channels;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Agents;
using Patch.Domain.Computers;
using Patch.Projections.Compliance;

namespace Patch.Application.Agents;

/// <summary>An agent's inventory report, validated and normalised, with the request's actor and time.</summary>
public sealed record InventoryReport(string ComputerId, AgentInventory Inventory, DateTimeOffset At, Actor Actor);

/// <summary>
/// Inventory reports at fleet scale (ADR 0031): every request is answered only after its event committed and its
/// computer's compliance rows were written (read-your-writes), but the reports waiting at the same moment share one
/// transaction for their events (each event keeps its own agent, correlation id and time) and one for their analysis —
/// one turn of the counters' lock, one statement per table and one commit for all of them. When the server is quiet a
/// batch is one report and nothing waits longer than before; in a Patch Tuesday storm batches grow by themselves while
/// the previous one is written.
/// </summary>
public sealed class InventoryIngest(IDocumentStore store, VulnerabilityAnalysis analysis, ILogger<InventoryIngest> logger) : BackgroundService
{
    /// <summary>At most this many reports per batch.</summary>
    public const int MaxBatch = 250;

    private sealed class Pending(InventoryReport report)
    {
        public InventoryReport Report { get; } = report;
        public TaskCompletionSource<InventoryAccepted> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public InventoryAccepted? Accepted { get; set; }
    }

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.Wait });

    /// <summary>Reports waiting to be stored and analysed (telemetry: patch.inventory.ingest.queue).</summary>
    public int Waiting => _queue.Reader.Count;

    public async Task<InventoryAccepted> ReportAsync(InventoryReport report, CancellationToken ct)
    {
        var pending = new Pending(report);
        await _queue.Writer.WriteAsync(pending, ct);
        return await pending.Done.Task.WaitAsync(ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var carried = new List<Pending>();
        while (carried.Count > 0 || await _queue.Reader.WaitToReadAsync(stoppingToken))
        {
            // A computer once per batch: a second report of it (an agent's retry) waits for the next one.
            var batch = new List<Pending>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var later = new List<Pending>();
            foreach (var p in carried) (seen.Add(p.Report.ComputerId) ? batch : later).Add(p);
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next)) (seen.Add(next.Report.ComputerId) ? batch : later).Add(next);
            carried = later;
            await ProcessAsync(batch, stoppingToken);
        }
    }

    private async Task ProcessAsync(List<Pending> batch, CancellationToken ct)
    {
        await OneByOneOnFailureAsync(batch, "store", AppendAsync, e => e, ct);
        var appended = batch.Where(p => p.Accepted is not null).ToList();
        await OneByOneOnFailureAsync(appended, "analyse", async (some, token) =>
        {
            await analysis.RecomputeComputersAsync(some.Select(p => p.Report.ComputerId).ToList(), token);
            foreach (var p in some) p.Done.TrySetResult(p.Accepted!);
        }, e => new PartlySavedException("The inventory was stored, but the computer's analysis failed. Sending the same inventory again is safe: it "
            + "only records the time, and the computer is analysed then.", e), ct);
        PatchTelemetry.InventoryIngestBatch.Record(batch.Count);
    }

    /// <summary>The batch at once; if that fails, each report alone, so one bad report (or racing writer) fails only itself.</summary>
    private async Task OneByOneOnFailureAsync(List<Pending> batch, string what, Func<List<Pending>, CancellationToken, Task> step, Func<Exception, Exception> failure,
        CancellationToken ct)
    {
        if (batch.Count == 0) return;
        try
        {
            await step(batch, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (batch.Count == 1)
            {
                // The report's answer: after the store step, what was kept (never "nothing was saved").
                batch[0].Done.TrySetException(failure(e));
                batch[0].Accepted = null;
                return;
            }
            logger.LogWarning(e, "Could not {What} {Count} inventory reports at once; trying them one by one", what, batch.Count);
            foreach (var one in batch) await OneByOneOnFailureAsync([one], what, step, failure, ct);
        }
    }

    private async Task AppendAsync(List<Pending> batch, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.LastModifiedBy = batch.Count == 1 ? batch[0].Report.Actor.Name : $"{batch.Count} agents (batched)";
        var streams = await session.FetchManyForWritingAsync<Computer>(batch.Select(p => p.Report.ComputerId), ct);
        var accepted = new List<(Pending, InventoryAccepted)>();
        foreach (var p in batch)
        {
            var (computerId, inventory, at, actor) = p.Report;
            var stream = streams[computerId];
            var changed = stream.Aggregate?.Inventory is not { } known || !ValueEquality.Same(known, inventory);
            object data = changed ? new InventoryReported(computerId, inventory, at) : new InventoryConfirmed(computerId, at);
            stream.AppendOne(data);
            stream.Events[^1].For(actor);
            accepted.Add((p, new InventoryAccepted(computerId, changed, at)));
        }
        await session.SaveChangesAsync(ct);
        foreach (var (p, result) in accepted) p.Accepted = result;
    }
}
