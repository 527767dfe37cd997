using System.Diagnostics;
using Patch.Agent.Inventory;
using Patch.Domain.Agents;
using Patch.Domain.Inventory;

namespace Patch.Agent.Simulation;

public sealed record SimulationReport(int Agents, int Failed, double Seconds, double EnrolmentsPerSecond, double InventoriesPerSecond,
    double EnrolP50Ms, double EnrolP95Ms, double InventoryP50Ms, double InventoryP95Ms, int StatusEvents, double EventsP50Ms, double EventsP95Ms);

/// <summary>
/// Many simulated agents in one process: each enrols and reports an inventory built from a real Windows capture
/// (round robin over the templates), with its KB level spread by dropping a deterministic share of the capture's KBs.
/// </summary>
public sealed class FleetSimulator(Func<AgentClient> clients)
{
    /// <summary>Why agents failed: the first messages, by how often each came.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, int> Failures { get; } = new();

    public static IReadOnlyList<AgentInventory> Templates(string folder) =>
        Directory.GetFiles(folder, "*systeminfo*.txt").Order(StringComparer.Ordinal)
            .Select(f => { try { return FileInventorySource.From(SystemInfoParser.Parse(File.ReadAllBytes(f)), [], []); } catch (FormatException) { return null; } })
            .OfType<AgentInventory>().ToList();

    public static AgentInventory Vary(AgentInventory template, int index)
    {
        var random = new Random(index);
        var keep = 0.5 + random.NextDouble() / 2;   // between half and all of the template's KBs
        return template with { InstalledKbs = template.InstalledKbs.Where(_ => random.NextDouble() < keep).ToList() };
    }

    /// <summary>Each agent enrols, reports its inventory, then posts one batch of <paramref name="eventsPerAgent"/> status events.</summary>
    public async Task<SimulationReport> RunAsync(string token, int count, IReadOnlyList<AgentInventory> templates, string prefix, int concurrency, CancellationToken ct,
        int eventsPerAgent = 10)
    {
        if (templates.Count == 0) throw new ArgumentException("no inventory templates", nameof(templates));
        var enrolTimes = new double[count];
        var inventoryTimes = new double[count];
        var eventTimes = new double[count];
        var failed = 0;
        var total = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct }, async (i, token2) =>
        {
            var client = clients();
            try
            {
                var sw = Stopwatch.StartNew();
                var enrolled = await client.EnrolAsync(token, $"{prefix}-{i + 1:D6}", "sim.example", AgentVersion.Current, token2);
                enrolTimes[i] = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                await client.SendInventoryAsync(enrolled.Credential, Vary(templates[i % templates.Count], i), token2);
                inventoryTimes[i] = sw.Elapsed.TotalMilliseconds;
                if (eventsPerAgent > 0)
                {
                    sw.Restart();
                    var statuses = new[] { "Pending", "Download required", "Installation Scheduled", "Installed" };
                    var events = Enumerable.Range(0, eventsPerAgent).Select(n => new AgentEvent(Guid.NewGuid(), DateTimeOffset.UtcNow.AddSeconds(n), statuses[n % statuses.Length],
                        "KB5034441", $"sim-update-{n / statuses.Length}")).ToList();
                    await client.SendEventsAsync(enrolled.Credential, events, token2);
                    eventTimes[i] = sw.Elapsed.TotalMilliseconds;
                }
            }
            catch (Exception e) when (e is AgentException or HttpRequestException)
            {
                Interlocked.Increment(ref failed);
                var reason = e.Message.Length > 300 ? e.Message[..300] : e.Message;
                if (Failures.Count < 20 || Failures.ContainsKey(reason)) Failures.AddOrUpdate(reason, 1, (_, n) => n + 1);
            }
        });
        var seconds = total.Elapsed.TotalSeconds;
        return new SimulationReport(count, failed, seconds, count / seconds, count / seconds,
            Percentile(enrolTimes, 0.5), Percentile(enrolTimes, 0.95), Percentile(inventoryTimes, 0.5), Percentile(inventoryTimes, 0.95),
            (count - failed) * eventsPerAgent, Percentile(eventTimes, 0.5), Percentile(eventTimes, 0.95));
    }

    private static double Percentile(double[] values, double p)
    {
        var sorted = values.Where(v => v > 0).Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
