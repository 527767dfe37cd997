using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using Npgsql;
using Patch.Agent;
using Patch.Agent.Simulation;
using Patch.Api.Hosting;
using Patch.Application.Hosting;

namespace Patch.Bench;

/// <summary>
/// One API node, then two on the same database (issue 16 §4, ADR 0030): the same number of simulated agents checks in
/// (enrolment, inventory with its analysis, a batch of status events) through one node, then round-robin through
/// both. Realistic computers (<see cref="RealisticFleet"/>) against the 24 real months of 2024–2025. Two cores show no
/// speed-up — the figure is what a second node costs or gives on the same machine, not a scaling result.
/// </summary>
public static class NodesBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var agents = int.Parse(FleetBench.Option(args, "--agents", "2000"));
        var shared = FleetBench.Option(args, "--shared", Bench.FindShared());
        var dir = Path.Combine(Path.GetTempPath(), $"patch-nodes-bench-{Guid.NewGuid():N}");
        Bench.CreateDirectory(dir);
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_nodes_bench" });
        var servers = new List<Process>();
        try
        {
            string[] settings = ["--Patch:Cluster:Enabled=true"];
            var ports = new[] { FleetBench.FreePort(), FleetBench.FreePort() };
            // Two nodes' connections must fit the cluster's max_connections (100 here) together (docs/deployment.md): a node
            // opens up to its pool size for requests and as many again for its messaging (Wolverine) — 20 each here.
            var perNode = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { MaxPoolSize = 20 }.ConnectionString;
            HttpClient Client(int port) => new(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(30) };
            var http = ports.Select(Client).ToArray();
            servers.Add(FleetBench.StartServer(perNode, ports[0], dir, settings));
            await FleetBench.WaitReadyAsync(http[0], servers[0]);
            var admin = new AuthenticationHeaderValue("Bearer", await FleetBench.AdminTokenAsync(pg.ConnectionString));
            foreach (var h in http) h.DefaultRequestHeaders.Authorization = admin;
            await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
            Console.WriteLine(await Bench.MachineAsync(db, $"fsync on"));

            // The 24 real months, through the server's import route.
            var months = Bench.CvrfFiles(shared, 2024, 2025);
            await Bench.ImportCvrfAsync(http[0], months);
            var fleet = new RealisticFleet(RealisticFleet.LoadCatalog(shared));
            var templates = Enumerable.Range(0, 1000).Select(i => fleet.Computer(i).Inventory).ToList();
            Console.WriteLine($"catalog: {months.Count} months imported; {agents:N0} agents per run, 32 at once, realistic inventories");

            async Task RunAsync(string label, int nodes)
            {
                var token = await FleetBench.TokenAsync(http[0], agents);
                var next = 0;
                var simulator = new FleetSimulator(() => new AgentClient(http[Interlocked.Increment(ref next) % nodes]));
                var sim = await simulator.RunAsync(token, agents, templates, label, 32, CancellationToken.None);
                foreach (var (reason, count) in simulator.Failures.OrderByDescending(f => f.Value)) Console.WriteLine($"  failed ×{count}: {reason}");
                Console.WriteLine($"{label}: {sim.Agents} agents, {sim.Failed} failed, {sim.Agents / sim.Seconds:F0} agents/s; enrol p50/p95 {sim.EnrolP50Ms:F1}/{sim.EnrolP95Ms:F1} ms; " +
                                  $"inventory (with its analysis) p50/p95 {sim.InventoryP50Ms:F1}/{sim.InventoryP95Ms:F1} ms; status batch p50/p95 {sim.EventsP50Ms:F1}/{sim.EventsP95Ms:F1} ms");
            }

            await RunAsync("ONE", 1);
            servers.Add(FleetBench.StartServer(perNode, ports[1], dir, settings));
            await FleetBench.WaitReadyAsync(http[1], servers[1]);
            await RunAsync("TWO", 2);

            await using (var connections = db.CreateCommand("select count(*) from pg_stat_activity where datname = current_database()"))
                Console.WriteLine($"connections to the database after the run: {await connections.ExecuteScalarAsync()}");
            await using (var check = db.CreateCommand("select count(*) from patch.mt_doc_computer"))
                Console.WriteLine($"computers stored: {await check.ExecuteScalarAsync():N0} (expected {2 * agents:N0})");
            return 0;
        }
        finally
        {
            foreach (var server in servers.Where(s => !s.HasExited))
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
            await pg.StopAsync();
            Directory.Delete(dir, recursive: true);
        }
    }
}
