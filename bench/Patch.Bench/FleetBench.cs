using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using Marten;
using Npgsql;
using NpgsqlTypes;
using Patch.Agent;
using Patch.Agent.Simulation;
using Patch.Api.Hosting;
using Patch.Application.Hosting;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Bench;

/// <summary>
/// The fleet benchmark (issue: computers and agents §5). A real Patch server process on a private PostgreSQL, the two
/// shared CVRF catalogs imported, then for each fleet size: agents seeded (a sample over real HTTP for check-ins per
/// second, the rest appended in batches next to a raw binary COPY of the same rows), the full vulnerability analysis
/// timed, and p50/p95 of the compliance queries measured.
/// </summary>
public static class FleetBench
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<int> RunAsync(string[] args)
    {
        var sizes = Option(args, "--computers", "10000,100000").Split(',').Select(int.Parse).Order().ToList();
        var httpAgents = int.Parse(Option(args, "--http", "2000"));
        var shared = Option(args, "--shared", Bench.FindShared());
        var dir = Path.Combine(Path.GetTempPath(), $"patch-fleet-{Guid.NewGuid():N}");
        Bench.CreateDirectory(dir);
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_fleet", FsyncOff = args.Contains("--fsync-off") });
        Process? server = null;
        try
        {
            var port = FreePort();
            Directory.CreateDirectory(DeliveryBench.PackageSource(dir));
            server = StartServer(pg.ConnectionString, port, dir);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(30) };
            await WaitReadyAsync(http, server);
            // An administrator and a token through the server's own bootstrap commands, as an operator would.
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await AdminTokenAsync(pg.ConnectionString));
            await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
            Console.WriteLine(await Bench.MachineAsync(db, $"fsync {(args.Contains("--fsync-off") ? "off" : "on")}"));

            foreach (var file in new[] { "msrc-cvrf/2023-Jan.xml", "msrc-cvrf/2024-Jan.xml" })
                (await http.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(await File.ReadAllBytesAsync(Path.Combine(shared, file))))).EnsureSuccessStatusCode();
            var templates = FleetSimulator.Templates(Path.Combine(shared, "windows-inventory", "wesng-validation"));

            // Check-ins over real HTTP: enrolment + inventory (which runs the computer's analysis before it answers).
            var token = await TokenAsync(http, httpAgents);
            var sim = await new FleetSimulator(() => new AgentClient(http)).RunAsync(token, httpAgents, templates, "HTTP", 32, CancellationToken.None);
            Console.WriteLine($"HTTP check-ins: {sim.Agents} agents, {sim.Failed} failed, {sim.Agents / sim.Seconds:F0} agents/s (enrol + inventory + a batch of 10 status events); " +
                              $"enrol p50/p95 {sim.EnrolP50Ms:F1}/{sim.EnrolP95Ms:F1} ms; inventory (with its analysis) p50/p95 {sim.InventoryP50Ms:F1}/{sim.InventoryP95Ms:F1} ms; " +
                              $"status batch p50/p95 {sim.EventsP50Ms:F1}/{sim.EventsP95Ms:F1} ms");

            // Status events alone, many agents at once: the ingest queue's throughput next to a raw COPY of the same rows.
            var ingest = await EventThroughputAsync(http, await TokenAsync(http, 200), db);
            Console.WriteLine($"status events over HTTP: {ingest.Http:F0} events/s acknowledged durable (200 agents × 25 batches × 100 events, 64 at once); raw COPY of the same rows into a logged table: {ingest.Copy:F0} rows/s");

            // The install cycle: assignments polling, whole simulated cycles, the delivery summary over many rows.
            await DeliveryBench.RunAsync(http, db, dir, int.Parse(Option(args, "--cycles", "500")), long.Parse(Option(args, "--delivery-rows", "3000000")));

            await using var store = new DocumentStore(PatchServices.ConfigureStore(pg.ConnectionString));
            var seeded = httpAgents;
            Console.WriteLine($"{"computers",10} {"events/s",9} {"COPY rows/s",12} {"analysis s",11} {"rows",10} {"bulletins p50/p95 ms",21} {"computer p50/p95 ms",20} {"updates p50/p95 ms",19}");
            foreach (var size in sizes)
            {
                var (eventsPerSecond, copyPerSecond) = await SeedAsync(store, db, templates, seeded, size);
                seeded = Math.Max(seeded, size);
                var analysis = Stopwatch.StartNew();
                var run = await (await http.PostAsync("api/server-tasks/vulnerability-analysis/run?wait=true", null)).Content.ReadFromJsonAsync<JsonElement>(Json);
                var analysisSeconds = analysis.Elapsed.TotalSeconds;
                var rows = run.GetProperty("counts").GetProperty("rows").GetInt32();
                var random = new Random(size);
                var bulletins = await LatencyAsync(http, _ => "api/reports/compliance/bulletins?page=1&pageSize=50");
                var computer = await LatencyAsync(http, _ => $"api/reports/compliance/computers/BULK-{random.Next(httpAgents + 1, size + 1):D6}/updates");
                var updates = await LatencyAsync(http, _ => "api/reports/compliance/updates?page=1&pageSize=50");
                Console.WriteLine($"{size,10} {eventsPerSecond,9:F0} {copyPerSecond,12:F0} {analysisSeconds,11:F1} {rows,10} {bulletins.P50,10:F1}/{bulletins.P95,-10:F1} {computer.P50,9:F1}/{computer.P95,-10:F1} {updates.P50,8:F1}/{updates.P95,-10:F1}");
                // Products beyond the OS: the reports filtered by product family (.NET Framework, inferred from every capture's build).
                var byFamily = await LatencyAsync(http, _ => "api/reports/compliance/computers?family=netfx&page=1&pageSize=50");
                var families = await LatencyAsync(http, _ => "api/reports/vulnerabilities/families");
                Console.WriteLine($"{"",10} family filter: computers?family=netfx p50/p95 {byFamily.P50:F1}/{byFamily.P95:F1} ms; vulnerabilities by family p50/p95 {families.P50:F1}/{families.P95:F1} ms");
                await AsOfAsync(http, db, httpAgents, size);
                await RebuildAsync(http);
            }
            return 0;
        }
        finally
        {
            await FleetBench.StopAsync(server, pg, dir);
        }
    }

    /// <summary>Appends computers HTTP..size through Marten in batches of 1,000 (one transaction each), then COPYs the same event rows raw for comparison.</summary>
    internal static async Task<(double EventsPerSecond, double CopyRowsPerSecond)> SeedAsync(DocumentStore store, NpgsqlDataSource db, IReadOnlyList<AgentInventory> templates, int from, int to)
    {
        if (to <= from) return (0, 0);
        var now = DateTimeOffset.UtcNow;
        var payloads = new List<(string Stream, object Event)>();
        for (var i = from + 1; i <= to; i++)
        {
            var id = Computer.StreamId($"BULK-{i:D6}");
            var inventory = FleetSimulator.Vary(templates[i % templates.Count], i);
            payloads.Add((id, new ComputerDiscovered(id, $"BULK-{i:D6}", "bench.example", inventory.OsCaption, null)));
            payloads.Add((id, new AgentEnrolled(id, $"agent-bulk-{i}", Secrets.Hash($"bulk-{i}"), "0.1.0", "enrolment-token:bench", now)));
            payloads.Add((id, new InventoryReported(id, inventory, now)));
        }

        var clock = Stopwatch.StartNew();
        foreach (var chunk in payloads.Chunk(3000))
        {
            await using var session = store.LightweightSession();
            foreach (var stream in chunk.GroupBy(p => p.Stream)) session.Events.StartStream<Computer>(stream.Key, stream.Select(p => p.Event).ToArray());
            await session.SaveChangesAsync();
        }
        var eventsPerSecond = payloads.Count / clock.Elapsed.TotalSeconds;

        await using (var create = db.CreateCommand("drop table if exists bench_copy; create table bench_copy (stream_id text, type text, data jsonb)")) await create.ExecuteNonQueryAsync();
        clock.Restart();
        await using (var conn = await db.OpenConnectionAsync())
        await using (var copy = await conn.BeginBinaryImportAsync("copy bench_copy (stream_id, type, data) from stdin (format binary)"))
        {
            foreach (var (stream, e) in payloads)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(stream, NpgsqlDbType.Text);
                await copy.WriteAsync(e.GetType().Name, NpgsqlDbType.Text);
                await copy.WriteAsync(JsonSerializer.Serialize(e, e.GetType(), Json), NpgsqlDbType.Jsonb);
            }
            await copy.CompleteAsync();
        }
        var copyPerSecond = payloads.Count / clock.Elapsed.TotalSeconds;
        return (eventsPerSecond, copyPerSecond);
    }

    /// <summary>
    /// <paramref name="agentCount"/> agents enrol, then post <paramref name="batchesPerAgent"/> batches of 100 status
    /// events each, round by round (every agent's first batch, then every agent's second…), <paramref name="concurrency"/> at once; then the same
    /// rows by a raw binary COPY into a logged table.
    /// </summary>
    internal static async Task<(double Http, double Copy)> EventThroughputAsync(HttpClient http, string token, NpgsqlDataSource db,
        int agentCount = 200, int batchesPerAgent = 25, string prefix = "EVT", int concurrency = 64)
    {
        var client = new AgentClient(http);
        var agents = new List<string>();
        for (var i = 0; i < agentCount; i++) agents.Add((await client.EnrolAsync(token, $"{prefix}-{i:D4}", null, "0.1.0", CancellationToken.None)).Credential);
        // Round by round, as a fleet reports: each agent's batches in turn, never one agent's 64 at once.
        var batches = Enumerable.Range(0, batchesPerAgent).SelectMany(_ => agents.Select(a => (Agent: a, Events: Enumerable.Range(0, 100)
            .Select(n => new AgentEvent(Guid.NewGuid(), DateTimeOffset.UtcNow, "Pending", "KB5034441", $"u{n}")).ToList()))).ToList();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (b, ct) => await client.SendEventsAsync(b.Agent, b.Events, ct));
        var httpRate = batches.Sum(b => b.Events.Count) / clock.Elapsed.TotalSeconds;

        await using (var create = db.CreateCommand("drop table if exists bench_events; create table bench_events (computer_id text, event_id uuid, data jsonb)")) await create.ExecuteNonQueryAsync();
        clock.Restart();
        await using (var conn = await db.OpenConnectionAsync())
        await using (var copy = await conn.BeginBinaryImportAsync("copy bench_events (computer_id, event_id, data) from stdin (format binary)"))
        {
            foreach (var (agent, events) in batches)
            {
                foreach (var e in events)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync(agent[..agent.IndexOf('.')], NpgsqlDbType.Text);
                    await copy.WriteAsync(e.Id, NpgsqlDbType.Uuid);
                    await copy.WriteAsync(JsonSerializer.Serialize(e, Json), NpgsqlDbType.Jsonb);
                }
            }
            await copy.CompleteAsync();
        }
        return (httpRate, batches.Sum(b => b.Events.Count) / clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// History (ADR 0019): each report live and asked asOf an instant just past (every version the fleet's seeding and
    /// analyses wrote is in the history tables), p50/p95 side by side.
    /// </summary>
    private static string? _earlier;

    private static async Task AsOfAsync(HttpClient http, NpgsqlDataSource db, int httpAgents, int size)
    {
        await using var now = db.CreateCommand("select now()");
        var at = Uri.EscapeDataString(new DateTimeOffset(DateTime.SpecifyKind((DateTime)(await now.ExecuteScalarAsync())!, DateTimeKind.Utc)).ToString("O"));
        await Task.Delay(50);
        await AsOfAsync(http, httpAgents, size, at, "just past");
        // An instant before the previous size was seeded: most versions in the history tables came after it.
        if (_earlier is { } earlier) await AsOfAsync(http, httpAgents, size, earlier, "the previous size");
        _earlier = at;
    }

    private static async Task AsOfAsync(HttpClient http, int httpAgents, int size, string at, string label)
    {
        Console.WriteLine($"{"",10} asOf {label}:");
        {
            var random = new Random(size);
            string[] reports =
            [
                "api/reports/compliance/bulletins?page=1&pageSize=50", "api/reports/compliance/computers?page=1&pageSize=50",
                "api/reports/compliance/updates?page=1&pageSize=50", "api/reports/compliance/computers/BULK-{0}/updates", "api/bulletins?page=1&pageSize=50",
                "api/reports/computers-not-reporting?page=1&pageSize=50", "api/computers?page=1&pageSize=50", "api/home",
            ];
            foreach (var report in reports)
            {
                string Url(bool past) => string.Format(report, random.Next(httpAgents + 1, size + 1).ToString("D6")) + (report.Contains('?') ? "&" : "?") + (past ? $"asOf={at}" : "");
                var live = await LatencyAsync(http, _ => Url(false).TrimEnd('&', '?'));
                var past = await LatencyAsync(http, _ => Url(true));
                Console.WriteLine($"{"",10} asOf {report.Split('?')[0],-48} live p50/p95 {live.P50,6:F1}/{live.P95,-6:F1} ms  asOf p50/p95 {past.P50,6:F1}/{past.P95,-6:F1} ms  ({past.P50 / Math.Max(0.01, live.P50):F1}×)");
            }
        }
    }

    /// <summary>The compliance read model and its history rebuilt from the event log (a server task), timed to its end.</summary>
    private static async Task RebuildAsync(HttpClient http)
    {
        var clock = Stopwatch.StartNew();
        var started = await (await http.PostAsync("api/server-tasks/read-model-rebuild/run?model=compliance", null)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(Json);
        var status = started.GetProperty("statusUrl").GetString()!.TrimStart('/');
        while (true)
        {
            var run = await http.GetFromJsonAsync<JsonElement>(status, Json);
            if (run.GetProperty("status").GetString() != "running")
            {
                var counts = run.GetProperty("counts");
                Console.WriteLine($"{"",10} compliance rebuild from the events: {clock.Elapsed.TotalSeconds:F1} s, {run.GetProperty("status").GetString()}; " +
                                  $"{(counts.TryGetProperty("events", out var e) ? e.GetInt32() : 0)} events, {(counts.TryGetProperty("analyses", out var a) ? a.GetInt32() : 0)} computer analyses, " +
                                  $"{(counts.TryGetProperty("fleetAnalyses", out var f) ? f.GetInt32() : 0)} fleet analyses");
                return;
            }
            await Task.Delay(500);
        }
    }

    private static async Task<(double P50, double P95)> LatencyAsync(HttpClient http, Func<int, string> url)
    {
        for (var i = 0; i < 10; i++) (await http.GetAsync(url(i))).EnsureSuccessStatusCode();
        var times = new List<double>();
        for (var i = 0; i < 200; i++)
        {
            var sw = Stopwatch.StartNew();
            using var response = await http.GetAsync(url(i));
            await response.Content.ReadAsByteArrayAsync();
            times.Add(sw.Elapsed.TotalMilliseconds);
            response.EnsureSuccessStatusCode();
        }
        times.Sort();
        return (times[(int)(0.5 * times.Count) - 1], times[(int)(0.95 * times.Count) - 1]);
    }

    internal static async Task<string> TokenAsync(HttpClient http, int uses)
    {
        var response = await http.PostAsJsonAsync("api/enrolment-tokens", new { name = "bench", maxUses = Math.Max(1, uses) });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("token").GetString()!;
    }

    internal static Process StartServer(string connectionString, int port, string dataDirectory, params string[] settings) =>
        StartServer(connectionString, port, dataDirectory, new Dictionary<string, string>(), settings);

    /// <summary>The server with these environment variables too (the runtime's settings, tried on the server alone).</summary>
    internal static Process StartServer(string connectionString, int port, string dataDirectory, IReadOnlyDictionary<string, string> environment, params string[] settings)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Patch.Api.dll"));
        psi.ArgumentList.Add("--urls");
        psi.ArgumentList.Add($"http://127.0.0.1:{port}");
        psi.Environment["ConnectionStrings__Patch"] = connectionString;
        psi.Environment["Patch__DataDirectory"] = dataDirectory;
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        psi.Environment["Patch__Staging__AllowedFileFolders__0"] = DeliveryBench.PackageSource(dataDirectory);
        // Thousands of simulated agents and a benchmark's requests come from one address: the request budgets (issue 15 §4)
        // would measure the limiter, not the server.
        psi.Environment["Patch__Limits__AgentRequestsPerMinute"] = "0";
        psi.Environment["Patch__Limits__UserRequestsPerMinute"] = "0";
        psi.Environment["Patch__Limits__AnonymousRequestsPerMinute"] = "0";
        // A benchmark imports its own catalogs: the built-in feeds stay off (they would reach for the internet at start).
        psi.Environment["Patch__Microsoft__CvrfImport__Enabled"] = "false";
        psi.Environment["Patch__Cisa__KevImport__Enabled"] = "false";
        foreach (var setting in settings) psi.ArgumentList.Add(setting);
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        var process = Process.Start(psi)!;
        Servers[process] = 0;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"server: {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public const string BenchPassword = "bench administrator passphrase";

    /// <summary>`users add bench --role administrator --password-stdin`, then `tokens create --user bench`: the token is the last line.</summary>
    public static async Task<string> AdminTokenAsync(string connectionString)
    {
        async Task<string> RunAsync(string stdin, params string[] arguments)
        {
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Patch.Api.dll"));
            foreach (var a in arguments) psi.ArgumentList.Add(a);
            psi.Environment["ConnectionStrings__Patch"] = connectionString;
            using var process = Process.Start(psi)!;
            await process.StandardInput.WriteLineAsync(stdin);
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0) throw new InvalidOperationException($"Patch.Api {string.Join(' ', arguments)}: exit {process.ExitCode}: {error}");
            return await output;
        }
        await RunAsync(BenchPassword, "users", "add", "bench", "--role", "administrator", "--password-stdin");
        return (await RunAsync("", "tokens", "create", "--user", "bench", "--name", "bench", "--expires", "7d")).TrimEnd().Split('\n')[^1].Trim();
    }

    internal static async Task WaitReadyAsync(HttpClient http, Process server)
    {
        // Up to ten minutes: a start on a large store may first migrate its schema (docs/deployment.md, "Upgrading"); a
        // server that has exited is not waited for.
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 1200; i++)
        {
            if (server.HasExited) throw new InvalidOperationException($"the Patch server exited ({server.ExitCode}) before it was ready; its output is above");
            if (i == 120) Console.WriteLine("the server is not ready after a minute (migrating its schema?); waiting up to ten");
            try
            {
                if ((await http.GetAsync("health/ready")).IsSuccessStatusCode)
                {
                    if (i >= 120) Console.WriteLine($"the server was ready after {clock.Elapsed.TotalSeconds:F0} s");
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(500);
        }
        throw new TimeoutException("the Patch server did not become ready");
    }

    /// <summary>The servers this benchmark started and has not stopped.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Process, byte> Servers = new();

    /// <summary>Every server still running, killed (the benchmark was sent a signal).</summary>
    internal static void KillServers()
    {
        foreach (var server in Servers.Keys)
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
            server.WaitForExit();
        }
    }

    /// <summary>Stops the server process if it still runs, then the private PostgreSQL, and removes the bench's folder (unless it is kept).</summary>
    internal static async Task StopAsync(Process? server, EmbeddedPostgres pg, string? removeDir)
    {
        if (server is { HasExited: false })
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
        if (server is not null) Servers.TryRemove(server, out _);
        await pg.StopAsync();
        if (removeDir is not null) Directory.Delete(removeDir, recursive: true);
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static string Option(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
