using Npgsql;
using Patch.Api.Hosting;

namespace Patch.Bench;

/// <summary>
/// Agent status events alone (issue 16 §2 "ingest"): a real server on a private PostgreSQL (fsync on), agents posting
/// batches of 100 status events 64 at once, acknowledged only once durable; after each run, a raw binary COPY of the
/// same rows into a logged table in the same database — the in-run baseline the rate is given against.
/// </summary>
public static class IngestBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var agents = int.Parse(FleetBench.Option(args, "--agents", "200"));
        var batches = int.Parse(FleetBench.Option(args, "--batches", "25"));
        var concurrency = int.Parse(FleetBench.Option(args, "--concurrency", "64"));
        var runs = int.Parse(FleetBench.Option(args, "--runs", "3"));
        // The runtime's settings tried on the server alone (not on this process, whose COPY is the baseline), e.g.
        // --server-env "DOTNET_TieredPGO=0;DOTNET_TC_CallCountingDelayMs=0".
        var serverEnvironment = FleetBench.Option(args, "--server-env", "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p.Length == 2 ? p[1] : throw new ArgumentException($"--server-env: '{p[0]}' is not NAME=value"));
        var dir = Path.Combine(Path.GetTempPath(), $"patch-ingest-{Guid.NewGuid():N}");
        Bench.CreateDirectory(dir);
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_ingest" });
        System.Diagnostics.Process? server = null;
        try
        {
            var port = FleetBench.FreePort();
            Directory.CreateDirectory(DeliveryBench.PackageSource(dir));
            server = FleetBench.StartServer(pg.ConnectionString, port, dir, serverEnvironment);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(30) };
            await FleetBench.WaitReadyAsync(http, server);
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await FleetBench.AdminTokenAsync(pg.ConnectionString));
            await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
            Console.WriteLine(await Bench.MachineAsync(db, serverEnvironment.Count == 0 ? "fsync on" : $"fsync on, server with {string.Join(" ", serverEnvironment.Select(e => $"{e.Key}={e.Value}"))}"));
            var ratios = new List<double>();
            for (var run = 1; run <= runs; run++)
            {
                var token = await FleetBench.TokenAsync(http, agents);
                var (rate, copy) = await FleetBench.EventThroughputAsync(http, token, db, agents, batches, $"EVT{run}", concurrency);
                ratios.Add(100 * rate / copy);
                Console.WriteLine($"run {run}: {agents * batches * 100:N0} status events over HTTP: {rate:F0} events/s acknowledged durable ({agents} agents × {batches} batches × 100, {concurrency} at once); " +
                                  $"raw COPY of the same rows: {copy:F0} rows/s; HTTP / COPY {100 * rate / copy:F1} %");
            }
            // The first run meets a cluster created for it (its first WAL files written, none yet to recycle) and the
            // server's code not yet compiled fully: shown on its own, the later runs together.
            if (ratios.Count > 1)
            {
                var warm = ratios.Skip(1).Order().ToList();
                Console.WriteLine($"HTTP / COPY: first run {ratios[0]:F1} %; runs 2–{ratios.Count}: min {warm[0]:F1} %, median {warm[warm.Count / 2]:F1} %, max {warm[^1]:F1} %");
            }
            return 0;
        }
        finally
        {
            await FleetBench.StopAsync(server, pg, dir);
        }
    }
}
