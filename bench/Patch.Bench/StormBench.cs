using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using Npgsql;
using Patch.Agent;
using Patch.Agent.Inventory;
using Patch.Api.Hosting;
using Patch.Application.Hosting;
using Patch.Domain.Agents;

namespace Patch.Bench;

/// <summary>
/// The Patch Tuesday storm (issue 16 §2): a fleet of realistic computers (<see cref="RealisticFleet"/>) enrolled with
/// its inventories against the 24 real months of 2024–2025, then every computer reports a changed inventory — the
/// month installed, or (on its next turn) its old level again, so every report is a change to analyse — through the
/// agent protocol for a fixed window: open loop at <c>--rate</c> reports per second (0: as fast as <c>--concurrency</c>
/// agents at once can go). Reported: the sustained rate, latency percentiles (each answer comes after that computer's
/// analysis is written), and the compliance rows' lag behind the inventories once the window closes.
/// </summary>
public static class StormBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var computers = int.Parse(FleetBench.Option(args, "--computers", "5000"));
        var window = TimeSpan.FromSeconds(double.Parse(FleetBench.Option(args, "--window", "60")));
        var rate = double.Parse(FleetBench.Option(args, "--rate", "0"));
        var concurrency = int.Parse(FleetBench.Option(args, "--concurrency", "64"));
        var shared = FleetBench.Option(args, "--shared", Bench.FindShared());
        var dir = Path.Combine(Path.GetTempPath(), $"patch-storm-bench-{Guid.NewGuid():N}");
        Bench.CreateDirectory(dir);
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_storm_bench" });
        Process? server = null;
        try
        {
            var port = FleetBench.FreePort();
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Math.Max(concurrency, 64) * 2 })
                { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(10) };
            server = FleetBench.StartServer(pg.ConnectionString, port, dir);
            await FleetBench.WaitReadyAsync(http, server);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await FleetBench.AdminTokenAsync(pg.ConnectionString));
            await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
            Console.WriteLine(await Bench.MachineAsync(db, $"fsync on"));

            var months = Bench.CvrfFiles(shared, 2024, 2025);
            await Bench.ImportCvrfAsync(http, months);
            var fleet = new RealisticFleet(RealisticFleet.LoadCatalog(shared));
            var before = new AgentInventory[computers];
            var after = new AgentInventory[computers];
            Parallel.For(0, computers, i => (before[i], after[i]) = (fleet.Computer(i).Inventory, fleet.Computer(i, monthsBehind: 0).Inventory));
            Console.WriteLine($"catalog: {months.Count} months imported; {computers:N0} realistic computers");

            // Enrolment and first inventories (32 at once).
            var token = await FleetBench.TokenAsync(http, computers);
            var credentials = new string[computers];
            var agent = new AgentClient(http);
            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, computers), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
            {
                var enrolled = await agent.EnrolAsync(token, $"storm-{i + 1:D7}", "storm.example", AgentVersion.Current, ct);
                await agent.SendInventoryAsync(enrolled.Credential, before[i], ct);
                credentials[i] = enrolled.Credential;
            });
            Console.WriteLine($"enrolled with inventories: {computers:N0} computers in {clock.Elapsed.TotalSeconds:F1} s ({computers / clock.Elapsed.TotalSeconds:F0}/s)");
            await using (var rows = db.CreateCommand("select count(*) from patch.compliance_state"))
                Console.WriteLine($"compliance rows: {(long)(await rows.ExecuteScalarAsync())!:N0} ({(long)(await rows.ExecuteScalarAsync())! / (double)computers:F1} per computer)");

            Console.WriteLine(await StormAsync(agent, credentials, i => before[i], i => after[i], window, rate, concurrency));

            // Lag: a computer whose rows are older than its latest event (none, if every answer waited for its analysis).
            await LagAsync(db);
            await using (var size = db.CreateCommand("select pg_database_size(current_database())"))
                Console.WriteLine($"database size: {(long)(await size.ExecuteScalarAsync())! / 1048576.0:F0} MB");
            return 0;
        }
        finally
        {
            await FleetBench.StopAsync(server, pg, dir);
        }
    }

    /// <summary>Computers whose compliance rows are older than their latest event (none, when every answer waited for its analysis).</summary>
    internal static async Task LagAsync(NpgsqlDataSource db)
    {
        await using var lag = db.CreateCommand("""
            select count(*), coalesce(max(extract(epoch from s.timestamp - c.analysed_at)), 0) from patch.compliance_computer c
            join patch.mt_streams s on s.id = c.computer_id where c.analysed_at < s.timestamp
            """);
        await using var reader = await lag.ExecuteReaderAsync();
        await reader.ReadAsync();
        Console.WriteLine($"projection lag after the window: {reader.GetInt64(0)} computers behind their latest event (max {reader.GetDouble(1):F1} s); " +
                          "every projection is inline and each answer waits for its computer's analysis");
    }

    /// <summary>
    /// Every computer in turn reports a changed inventory (<paramref name="after"/> on odd turns, <paramref name="before"/>
    /// on even ones) for the window: closed loop with <paramref name="concurrency"/> agents at once, or open loop at
    /// <paramref name="rate"/> reports a second. Returns the summary line.
    /// </summary>
    internal static async Task<string> StormAsync(AgentClient agent, string[] credentials, Func<int, AgentInventory> before, Func<int, AgentInventory> after,
        TimeSpan window, double rate, int concurrency)
    {
        var computers = credentials.Length;
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        var turns = new int[computers];
        var failures = 0;
        var next = -1;
        using var limit = new SemaphoreSlim(rate > 0 ? 1024 : concurrency);
        var pending = new List<Task>();
        var clock = Stopwatch.StartNew();
        async Task ReportAsync(int n)
        {
            try
            {
                var i = n % computers;
                var inventory = Interlocked.Increment(ref turns[i]) % 2 == 1 ? after(i) : before(i);
                var sw = Stopwatch.StartNew();
                await agent.SendInventoryAsync(credentials[i], inventory, CancellationToken.None);
                latencies.Add(sw.Elapsed.TotalMilliseconds);
            }
            catch (Exception e) when (e is AgentException or HttpRequestException or TaskCanceledException)
            {
                if (Interlocked.Increment(ref failures) <= 3) Console.WriteLine($"  failed: {e.Message}");
            }
            finally
            {
                limit.Release();
            }
        }
        while (clock.Elapsed < window)
        {
            var n = Interlocked.Increment(ref next);
            if (rate > 0)
            {
                var due = TimeSpan.FromSeconds(n / rate);
                if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
            }
            await limit.WaitAsync();
            pending.Add(ReportAsync(n));
        }
        await Task.WhenAll(pending);
        var seconds = clock.Elapsed.TotalSeconds;
        var sorted = latencies.Order().ToArray();
        double P(double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return $"storm: {sorted.Length:N0} inventories in {seconds:F1} s = {sorted.Length / seconds:F0}/s sustained ({(rate > 0 ? $"offered {rate:F0}/s" : $"{concurrency} agents at once")}), " +
               $"{failures} failed; latency p50/p95/p99/max {P(0.5):F0}/{P(0.95):F0}/{P(0.99):F0}/{P(1):F0} ms";
    }
}
