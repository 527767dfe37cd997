using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Agent.Inventory;
using Patch.Domain.Agents;
using Patch.Domain.Cycle;

namespace Patch.Bench;

/// <summary>
/// The install cycle at fleet scale (issue: the install cycle): a policy of ten staged packages for Windows 10 22H2,
/// agents polling their assignments (full answer and 304), whole simulated cycles through the real server, and the
/// delivery summary over millions of status rows.
/// </summary>
public static class DeliveryBench
{
    private const string Windows10 = "Windows 10 Version 22H2 for x64-based Systems";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The folder the server may stage file:// packages from (it is passed to the server process).</summary>
    public static string PackageSource(string dir) => Path.Combine(dir, "bench-packages");

    public static async Task RunAsync(HttpClient http, NpgsqlDataSource db, string dir, int agents, long deliveryRows)
    {
        // Ten packages of 256 KiB served from a folder the server is allowed to read.
        var source = PackageSource(dir);
        var bulletins = new List<object>();
        for (var i = 1; i <= 10; i++)
        {
            var bytes = RandomNumberGenerator.GetBytes(256 * 1024);
            var file = Path.Combine(source, $"kb99000{i:D2}.msu");
            await File.WriteAllBytesAsync(file, bytes);
            bulletins.Add(new
            {
                id = $"KB99000{i:D2}", vendor = "ms", title = $"Bench update {i}", severity = "Important",
                updates = new[] { new { id = $"bench-{i}", product = "w10", fileName = Path.GetFileName(file), downloadUrl = new Uri(file).AbsoluteUri,
                    sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)), size = bytes.Length, restart = i == 10 ? "required" : "notRequired" } },
            });
        }
        var catalog = new { schemaVersion = "1.0", catalogId = "bench", vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w10", name = Windows10, vendor = "ms" } }, bulletins };
        (await http.PostAsync("api/catalog/imports?format=patch", JsonContent.Create(catalog))).EnsureSuccessStatusCode();
        var ids = Enumerable.Range(1, 10).Select(i => $"KB99000{i:D2}").ToArray();
        var staged = await (await http.PostAsJsonAsync("api/bulletins/stage", new { bulletinIds = ids })).Content.ReadFromJsonAsync<JsonElement>(Json);
        for (var i = 0; i < 600; i++)
        {
            var status = await http.GetFromJsonAsync<JsonElement>(staged.GetProperty("statusUrl").GetString()!.TrimStart('/'), Json);
            if (status.GetProperty("run").GetProperty("status").GetString() != "running") break;
            await Task.Delay(200);
        }
        var policy = await http.PostAsJsonAsync("api/policies", new { bulletinIds = ids, name = "Bench", targets = new[] { "builtin:all-with-agent" } });
        if (!policy.IsSuccessStatusCode) throw new InvalidOperationException($"policy: {await policy.Content.ReadAsStringAsync()}");
        var policyId = (await policy.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("id").GetString()!;

        // Agents with Windows 10 22H2 and nothing installed.
        var token = (await (await http.PostAsJsonAsync("api/enrolment-tokens", new { name = "delivery", maxUses = agents })).Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("token").GetString()!;
        var client = new AgentClient(http);
        var enrolled = new List<(string Name, string Credential, string Directory)>();
        var inventory = new AgentInventory("Microsoft Windows 10 Enterprise", "10.0.19045.3930", "x64", 0, false, ["en-US"], [Windows10], [], "0.1.0");
        foreach (var n in Enumerable.Range(0, agents))
        {
            var name = $"CYC-{n:D5}";
            var e = await client.EnrolAsync(token, name, null, "0.1.0", CancellationToken.None);
            await client.SendInventoryAsync(e.Credential, inventory, CancellationToken.None);
            var stateDir = Path.Combine(dir, "agents", name);
            Directory.CreateDirectory(stateDir);
            await File.WriteAllTextAsync(Path.Combine(stateDir, "inventory.json"), JsonSerializer.Serialize(inventory, Json));
            new AgentState(http.BaseAddress!.ToString(), e.ComputerId, e.AgentId, e.Credential).Save(stateDir);
            enrolled.Add((name, e.Credential, stateDir));
        }

        // Polling: the full answer, then the same poll with its ETag (304, no body).
        var etags = new Dictionary<string, string>();
        var full = await TimeAsync(200, async i =>
        {
            var agent = enrolled[i % enrolled.Count];
            using var request = new HttpRequestMessage(HttpMethod.Get, "agent/v1/assignments");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", agent.Credential);
            using var response = await http.SendAsync(request);
            await response.Content.ReadAsByteArrayAsync();
            response.EnsureSuccessStatusCode();
            etags[agent.Credential] = response.Headers.ETag!.ToString();
        });
        var notModified = await TimeAsync(200, async i =>
        {
            var agent = enrolled[i % enrolled.Count];
            using var request = new HttpRequestMessage(HttpMethod.Get, "agent/v1/assignments");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", agent.Credential);
            request.Headers.TryAddWithoutValidation("If-None-Match", etags[agent.Credential]);
            using var response = await http.SendAsync(request);
            if (response.StatusCode != System.Net.HttpStatusCode.NotModified) throw new InvalidOperationException($"expected 304, got {(int)response.StatusCode}");
        });
        Console.WriteLine($"assignments (1 policy × 10 updates): full answer p50/p95 {full.P50:F1}/{full.P95:F1} ms; unchanged poll (304) p50/p95 {notModified.P50:F1}/{notModified.P95:F1} ms");

        // Status events that name the policy: each also becomes a delivery row (history, latest, counters) in the ingest's transaction.
        var statusBatches = enrolled.Take(200).SelectMany(a => Enumerable.Range(0, 10).Select(b => (a.Credential, Events: Enumerable.Range(0, 100)
            .Select(n => new AgentEvent(Guid.NewGuid(), DateTimeOffset.UtcNow, n % 2 == 0 ? UpdateStatus.InstallationScheduled : UpdateStatus.DownloadRequired,
                $"KB99000{n % 10 + 1:D2}", $"bench-{n % 10 + 1}", PolicyId: policyId)).ToList()))).ToList();
        var ingestClock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(statusBatches, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (b, ct) => await client.SendEventsAsync(b.Credential, b.Events, ct));
        Console.WriteLine($"status events naming a policy over HTTP: {statusBatches.Sum(b => b.Events.Count) / ingestClock.Elapsed.TotalSeconds:F0} events/s acknowledged durable, delivery rows included (200 agents × 10 batches × 100 events, 64 at once)");

        // Whole cycles: assignments, evaluation, 10 downloads verified, 10 simulated installs chained, one restart, new inventory, events.
        var clock = Stopwatch.StartNew();
        var cycleTimes = new List<double>();
        await Parallel.ForEachAsync(enrolled, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (agent, ct) =>
        {
            var runner = new CycleRunner(new CycleContext(agent.Directory, client,
                new SimulatedInventorySource(new JsonInventorySource(Path.Combine(agent.Directory, "inventory.json")), agent.Directory),
                new SimulationInstaller(agent.Directory, TimeProvider.System), new SimulationRestarter(agent.Directory, TimeProvider.System), TimeProvider.System));
            var sw = Stopwatch.StartNew();
            var report = await runner.RunAsync(CycleTrigger.Scheduled, null, install: true, ct);
            if (report.Installed.Count != 10) throw new InvalidOperationException($"{agent.Name}: installed {report.Installed.Count}");
            lock (cycleTimes) cycleTimes.Add(sw.Elapsed.TotalMilliseconds);
        });
        cycleTimes.Sort();
        Console.WriteLine($"install cycles: {enrolled.Count} agents × 10 updates (2.5 MiB downloaded and verified each), 16 at once: {enrolled.Count / clock.Elapsed.TotalSeconds:F1} cycles/s; " +
                          $"one cycle p50/p95 {cycleTimes[cycleTimes.Count / 2]:F0}/{cycleTimes[(int)(cycleTimes.Count * 0.95)]:F0} ms");

        // The delivery summary over many rows: synthetic statuses for a large fleet, COPYed beside the real ones.
        clock.Restart();
        var statuses = new[] { UpdateStatus.InstallationScheduled, UpdateStatus.DownloadRequired, UpdateStatus.Installed, UpdateStatus.FailedRescheduled, UpdateStatus.FailedToInstall };
        var computers = deliveryRows / 30;
        var start = DateTimeOffset.UtcNow.AddDays(-20);
        await using (var conn = await db.OpenConnectionAsync())
        await using (var copy = await conn.BeginBinaryImportAsync(
            "copy patch.delivery_status (computer_id, event_id, policy_id, bulletin, update_id, status, occurred_at) from stdin (format binary)"))
        {
            var random = new Random(7);
            for (long c = 0; c < computers; c++)
                for (var u = 1; u <= 10; u++)
                    for (var s = 0; s < 3; s++)
                    {
                        await copy.StartRowAsync();
                        await copy.WriteAsync($"computer:bulk-{c:D7}", NpgsqlDbType.Text);
                        await copy.WriteAsync(Guid.NewGuid(), NpgsqlDbType.Uuid);
                        await copy.WriteAsync(policyId, NpgsqlDbType.Text);
                        await copy.WriteAsync($"KB99000{u:D2}", NpgsqlDbType.Text);
                        await copy.WriteAsync($"bench-{u}", NpgsqlDbType.Text);
                        await copy.WriteAsync(s < 2 ? statuses[s] : statuses[2 + random.Next(3)], NpgsqlDbType.Text);
                        await copy.WriteAsync(start.AddMinutes(c % 10_000 + s), NpgsqlDbType.TimestampTz);
                    }
            await copy.CompleteAsync();
        }
        await using (var analyze = db.CreateCommand("analyze patch.delivery_status")) await analyze.ExecuteNonQueryAsync();
        var seedSeconds = clock.Elapsed.TotalSeconds;
        var byPolicy = await TimeAsync(20, async _ => (await http.GetAsync("api/reports/delivery-summary")).EnsureSuccessStatusCode());
        var byUpdate = await TimeAsync(20, async _ => (await http.GetAsync($"api/reports/delivery-summary?policy={policyId}")).EnsureSuccessStatusCode());
        var byComputer = await TimeAsync(20, async _ => (await http.GetAsync($"api/reports/delivery-summary?policy={policyId}&update=bench-3&pageSize=50")).EnsureSuccessStatusCode());
        var oneComputer = await TimeAsync(50, async i => (await http.GetAsync($"api/reports/delivery-summary?policy={policyId}&computer=bulk-{i * 7919 % computers:D7}")).EnsureSuccessStatusCode());
        var home = await TimeAsync(20, async _ => (await http.GetAsync("api/home")).EnsureSuccessStatusCode());
        Console.WriteLine($"delivery summary over {computers * 30 + enrolled.Count * 40:N0} status rows ({computers:N0} computers × 10 updates, seeded by COPY in {seedSeconds:F1} s): " +
                          $"per policy p50/p95 {byPolicy.P50:F0}/{byPolicy.P95:F0} ms; per update {byUpdate.P50:F0}/{byUpdate.P95:F0} ms; per computer page {byComputer.P50:F0}/{byComputer.P95:F0} ms; " +
                          $"one computer {oneComputer.P50:F1}/{oneComputer.P95:F1} ms; home page {home.P50:F0}/{home.P95:F0} ms");
    }

    private static async Task<(double P50, double P95)> TimeAsync(int count, Func<int, Task> action)
    {
        await action(0);
        var times = new List<double>();
        for (var i = 1; i <= count; i++)
        {
            var sw = Stopwatch.StartNew();
            await action(i);
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return (times[times.Count / 2], times[Math.Min(times.Count - 1, (int)(times.Count * 0.95))]);
    }
}
