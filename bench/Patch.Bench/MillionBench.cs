using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Npgsql;
using Patch.Agent;
using Patch.Agent.Inventory;
using Patch.Api.Hosting;
using Patch.Application.Hosting;

namespace Patch.Bench;

/// <summary>
/// A large realistic fleet in one database, built once and reused by the other stages (issue 16 §2), each its own
/// command: <c>build</c> (the first <c>--http</c> computers enrolled and inventoried over the agent protocol, the rest
/// through the operators' bulk inventory import; free disk before, size after), <c>analyse</c> (the full analysis),
/// <c>month</c> (2025-Dec arrives on a fleet analysed through 2025-Nov), <c>storm</c> (the HTTP computers report
/// changed inventories at <c>--rate</c>), <c>reports</c> (p50/p95 of every report and drill-down, deep pages included),
/// <c>catalog</c> (the whole CVRF archive, 1999–2025, imported onto the fleet; the Remediation Center's views then: issue
/// 16 §2b at a million computers) and <c>footprint</c> (size per computer, largest tables, the server's memory).
/// </summary>
public static class MillionBench
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly DateTime LastBuiltMonth = new(2025, 11, 1);

    public static async Task<int> RunAsync(string[] args)
    {
        var stage = args.FirstOrDefault() ?? "build";
        var dir = Path.GetFullPath(FleetBench.Option(args, "--dir", Path.Combine("/var/tmp", "patch-million")));
        var shared = FleetBench.Option(args, "--shared", Bench.FindShared());
        Bench.CreateDirectory(dir);
        if (stage == "build")
        {
            var computers = int.Parse(FleetBench.Option(args, "--computers", "1000000"));
            var free = new DriveInfo(dir).AvailableFreeSpace;
            var needed = computers * 12_000L;   // ≈ 7.5 KiB per computer measured at 100,000 with shapes (ADR 0035, docs/benchmarks.md), with room
            Console.WriteLine($"free disk at {dir}: {free / 1073741824.0:F1} GiB; this build needs about {needed / 1073741824.0:F1} GiB");
            if (free < needed && !args.Contains("--force")) { Console.WriteLine("not enough free disk (--force to try anyway)"); return 1; }
        }
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_million" });
        Process? server = null;
        try
        {
            var port = FleetBench.FreePort();
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromHours(2) };
            server = FleetBench.StartServer(pg.ConnectionString, port, dir);
            await FleetBench.WaitReadyAsync(http, server);
            var tokenFile = Path.Combine(dir, "bench-admin-token");
            if (!File.Exists(tokenFile)) await File.WriteAllTextAsync(tokenFile, await FleetBench.AdminTokenAsync(pg.ConnectionString));
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(tokenFile)).Trim());
            await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
            Console.WriteLine(await Bench.MachineAsync(db, $"fsync on; stage {stage}"));
            var clock = Stopwatch.StartNew();
            switch (stage)
            {
                case "build": await BuildAsync(args, http, db, shared, dir); break;
                case "analyse":
                    var run = await (await http.PostAsync("api/server-tasks/vulnerability-analysis/run?wait=true", null)).Content.ReadFromJsonAsync<JsonElement>(Json);
                    Console.WriteLine($"full analysis: {clock.Elapsed.TotalSeconds:F1} s; {run.GetProperty("counts")}");
                    break;
                case "month": await MonthAsync(http, shared); break;
                case "storm": await StormAsync(args, http, db, shared, dir); break;
                case "reports": await ReportsAsync(http, db); break;
                case "catalog": await CatalogAsync(args, http, db, shared); break;
                case "footprint": await FootprintAsync(db, server); break;
                default: throw new ArgumentException($"unknown stage '{stage}': build, analyse, month, storm, reports, catalog or footprint");
            }
            Console.WriteLine($"stage {stage}: {clock.Elapsed.TotalSeconds:F0} s");
            return 0;
        }
        finally
        {
            await FleetBench.StopAsync(server, pg, removeDir: null);
        }
    }

    private static string Name(int i) => $"fleet-{i + 1:D7}";

    private static async Task BuildAsync(string[] args, HttpClient http, NpgsqlDataSource db, string shared, string dir)
    {
        var computers = int.Parse(FleetBench.Option(args, "--computers", "1000000"));
        var viaHttp = Math.Min(computers, int.Parse(FleetBench.Option(args, "--http", "100000")));
        var clock = Stopwatch.StartNew();
        var months = Bench.CvrfFiles(shared, 2024, 2025).Where(f => Bench.CvrfMonth(f) <= LastBuiltMonth).ToList();
        await Bench.ImportCvrfAsync(http, months);
        Console.WriteLine($"catalog: {months.Count} months through {LastBuiltMonth:yyyy-MM} in {clock.Elapsed.TotalSeconds:F0} s");
        var fleet = new RealisticFleet(RealisticFleet.LoadCatalog(shared, through: LastBuiltMonth));

        // Over the agent protocol: enrolment and inventory, 64 agents at once; the credentials are kept for the storm.
        clock.Restart();
        var token = await FleetBench.TokenAsync(http, viaHttp);
        var credentials = new string[viaHttp];
        var agent = new AgentClient(http);
        await Parallel.ForEachAsync(Enumerable.Range(0, viaHttp), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
        {
            var enrolled = await agent.EnrolAsync(token, Name(i), "fleet.example", AgentVersion.Current, ct);
            await agent.SendInventoryAsync(enrolled.Credential, fleet.Computer(i).Inventory, ct);
            credentials[i] = enrolled.Credential;
        });
        await File.WriteAllLinesAsync(Path.Combine(dir, "bench-credentials"), credentials);
        Console.WriteLine($"agent protocol: {viaHttp:N0} computers enrolled and inventoried in {clock.Elapsed.TotalSeconds:F0} s ({viaHttp / clock.Elapsed.TotalSeconds:F0}/s)");

        // The rest through the bulk inventory import, 50,000 computers a request.
        clock.Restart();
        for (var from = viaHttp; from < computers; from += 50_000)
        {
            var to = Math.Min(computers, from + 50_000);
            var lines = new string[to - from];
            Parallel.For(from, to, i => lines[i - from] = JsonSerializer.Serialize(new { name = Name(i), domain = "fleet.example", inventory = fleet.Computer(i).Inventory }, Json));
            var response = await http.PostAsync("api/computers/inventories", new StringContent(string.Join('\n', lines), Encoding.UTF8, "application/x-ndjson"));
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"bulk import {from}..{to}: {(int)response.StatusCode} {body}");
            Console.WriteLine($"  bulk import to {to:N0}: {(to - viaHttp) / clock.Elapsed.TotalSeconds:F0} computers/s so far; {body}");
        }
        await using var size = db.CreateCommand("select pg_database_size(current_database())");
        var bytes = (long)(await size.ExecuteScalarAsync())!;
        Console.WriteLine($"built: {computers:N0} computers; database {bytes / 1073741824.0:F2} GiB ({bytes / (double)computers / 1024:F1} KiB per computer); free disk now {new DriveInfo(dir).AvailableFreeSpace / 1073741824.0:F1} GiB");
    }

    private static async Task MonthAsync(HttpClient http, string shared)
    {
        var december = Bench.CvrfFiles(shared, 2025, 2025).Single(f => Bench.CvrfMonth(f) == LastBuiltMonth.AddMonths(1));
        var clock = Stopwatch.StartNew();
        var import = await http.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(Bench.ReadCvrf(december)));
        Console.WriteLine($"import of {Path.GetFileName(december)}: {(int)import.StatusCode} in {clock.Elapsed.TotalSeconds:F1} s");
        // The analysis the import queued: wait for its run to end.
        while (true)
        {
            var runs = await http.GetFromJsonAsync<JsonElement>("api/server-tasks/runs?task=vulnerability-analysis&pageSize=1", Json);
            if (runs.GetProperty("items").EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } run && run.TryGetProperty("ended", out var ended)
                && ended.ValueKind == JsonValueKind.String && DateTimeOffset.Parse(run.GetProperty("started").GetString()!) > DateTimeOffset.UtcNow - clock.Elapsed)
            {
                Console.WriteLine($"new month analysed: {(DateTimeOffset.Parse(ended.GetString()!) - DateTimeOffset.Parse(run.GetProperty("started").GetString()!)).TotalSeconds:F1} s " +
                                  $"recorded by its run ({clock.Elapsed.TotalSeconds:F1} s from the import's start); {run.GetProperty("counts")}");
                return;
            }
            await Task.Delay(500);
        }
    }

    /// <summary>
    /// The catalog at its real size on the fleet (issue 16 §2b): every archive document, oldest first, over HTTP (the
    /// months already there are unchanged imports); the first Remediation Center request after the last import; the
    /// analyses the imports queued, waited for; then every Remediation Center view, bulletin details and the home page.
    /// </summary>
    private static async Task CatalogAsync(string[] args, HttpClient http, NpgsqlDataSource db, string shared)
    {
        var clock = Stopwatch.StartNew();
        await CatalogBench.ImportArchiveAsync(http, Bench.CvrfFiles(shared));
        await CatalogBench.FirstRequestAsync(http);
        // Settled: the newest analysis run has ended and none has started for 15 s.
        while (true)
        {
            var runs = await http.GetFromJsonAsync<JsonElement>("api/server-tasks/runs?task=vulnerability-analysis&pageSize=1", Json);
            var newest = runs.GetProperty("items").EnumerateArray().FirstOrDefault();
            if (newest.ValueKind == JsonValueKind.Object && newest.TryGetProperty("ended", out var ended) && ended.ValueKind == JsonValueKind.String
                && DateTimeOffset.Parse(ended.GetString()!) < DateTimeOffset.UtcNow.AddSeconds(-15))
                break;
            await Task.Delay(1000);
        }
        Console.WriteLine($"imports and the analyses they queued settled after {clock.Elapsed.TotalSeconds:F0} s");
        await CatalogBench.ServerTaskTimesAsync(db);
        await using (var rows = db.CreateCommand("select (select count(*) from patch.compliance_bulletin), (select count(*) from patch.compliance_shape_state), (select count(*) from patch.compliance_shape)"))
        await using (var reader = await rows.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            Console.WriteLine($"bulletins with rows {reader.GetInt64(0):N0}; shapes {reader.GetInt64(2):N0} with {reader.GetInt64(1):N0} rows");
        }
        await CatalogBench.TimeViewsAsync(http, int.Parse(FleetBench.Option(args, "--runs", "40")));
    }

    private static async Task StormAsync(string[] args, HttpClient http, NpgsqlDataSource db, string shared, string dir)
    {
        var credentials = await File.ReadAllLinesAsync(Path.Combine(dir, "bench-credentials"));
        var built = new RealisticFleet(RealisticFleet.LoadCatalog(shared, through: LastBuiltMonth));
        var patched = new RealisticFleet(RealisticFleet.LoadCatalog(shared));
        var window = TimeSpan.FromSeconds(double.Parse(FleetBench.Option(args, "--window", "600")));
        var rate = double.Parse(FleetBench.Option(args, "--rate", "280"));
        Console.WriteLine(await StormBench.StormAsync(new AgentClient(http), credentials, i => built.Computer(i).Inventory, i => patched.Computer(i, monthsBehind: 0).Inventory,
            window, rate, int.Parse(FleetBench.Option(args, "--concurrency", "256"))));
        await StormBench.LagAsync(db);
    }

    private static async Task ReportsAsync(HttpClient http, NpgsqlDataSource db)
    {
        async Task<long> Scalar(string sql) { await using var c = db.CreateCommand(sql); return Convert.ToInt64(await c.ExecuteScalarAsync()); }
        var computers = await Scalar("select count(*) from patch.compliance_computer");
        var bulletins = await Scalar("select count(*) from patch.compliance_bulletin");
        await using var top = db.CreateCommand("select bulletin_id from patch.compliance_bulletin order by applicable desc limit 1");
        var busiest = (string)(await top.ExecuteScalarAsync())!;
        await using var topUpdate = db.CreateCommand("select update_key from patch.compliance_update order by applicable desc limit 1");
        var busiestUpdate = (string)(await topUpdate.ExecuteScalarAsync())!;
        var applicable = await Scalar($"select applicable from patch.compliance_bulletin where bulletin_id = '{busiest}'");
        var random = new Random(7);
        // Deep pages reached by cursor, as a console walking "next" reaches them: each cursor is taken (untimed) from the
        // answer of the page before it, asked by number once.
        async Task<string[]> CursorsAsync(string route, long rows)
        {
            var cursors = new List<string>();
            for (var i = 0; i < 8; i++)
            {
                using var before = await http.GetAsync($"{route}{(route.Contains('?') ? '&' : '?')}page={random.Next(1, (int)(rows / 50) - 1)}&pageSize=50");
                before.EnsureSuccessStatusCode();
                cursors.Add(System.Text.Json.JsonDocument.Parse(await before.Content.ReadAsStringAsync()).RootElement.GetProperty("next").GetString()!);
            }
            return [.. cursors];
        }
        var bulletinRoute = $"api/reports/compliance/bulletins/{Uri.EscapeDataString(busiest)}/computers";
        var updateRoute = $"api/reports/compliance/updates/{Uri.EscapeDataString(busiestUpdate)}/computers";
        var updateApplicable = await Scalar($"select applicable from patch.compliance_update where update_key = '{busiestUpdate.Replace("'", "''")}'");
        // The past a report is asked about: a minute before the shapes were last decided (the latest import), the whole fleet enrolled.
        // (No earlier than a second after the last computer was enrolled, for a fleet imported after its catalog.)
        await using var before = db.CreateCommand("""
            select to_char(greatest(max(analysed_at) - interval '1 minute', (select max(created) + interval '1 second' from patch.mt_streams where type = 'computer'))
              at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') from patch.compliance_shape
            """);
        var asOf = "asOf=" + Uri.EscapeDataString((string)(await before.ExecuteScalarAsync())!);
        // And a recent instant (a second before this stage began), which nothing has changed since.
        await using var lately = db.CreateCommand("""select to_char((now() - interval '1 second') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""");
        var recently = "asOf=" + Uri.EscapeDataString((string)(await lately.ExecuteScalarAsync())!);
        // And an instant inside the latest storm (the middle minute of the last quarter hour with minutes of 10,000 member
        // changes or more, half-way through it): what a checkpoint an hour apart would leave to count is tens of thousands
        // of changes (ADR 0040).
        await using var storm = db.CreateCommand("""
            with busy as (select date_trunc('minute', valid_from) m from patch.compliance_member_history where valid_from > now() - interval '1 day'
                          group by 1 having count(*) >= 10000)
            select to_char((percentile_disc(0.5) within group (order by m) + interval '30 seconds') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            from busy where m > (select max(m) from busy) - interval '15 minutes'
            """);
        var inStorm = await storm.ExecuteScalarAsync() is string minute ? "asOf=" + Uri.EscapeDataString(minute) : recently;
        var bulletinCursors = await CursorsAsync(bulletinRoute, applicable);
        var updateCursors = await CursorsAsync(updateRoute, updateApplicable);
        // The computers list filtered (no name buckets for a filter), and every computer as it stood at the past instant.
        var windows11 = "api/computers?os=windows%2011";
        var windows11Cursors = await CursorsAsync(windows11, computers / 4);
        var pastCursors = await CursorsAsync($"api/computers?{asOf}", computers);
        var byVersionCursors = await CursorsAsync("api/computers?sort=agentVersion", computers);
        var routes = new (string Label, Func<string> Url)[]
        {
            ("by bulletin, page 1", () => "api/reports/compliance/bulletins?page=1&pageSize=50"),
            ("by bulletin, last page", () => $"api/reports/compliance/bulletins?page={Math.Max(1, (bulletins + 49) / 50)}&pageSize=50"),
            ("by computer, page 1", () => "api/reports/compliance/computers?page=1&pageSize=50"),
            ("by computer, a deep page", () => $"api/reports/compliance/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50"),
            ("one computer's updates", () => $"api/reports/compliance/computers/{Name(random.Next((int)computers))}/updates"),
            ("by update, page 1", () => "api/reports/compliance/updates?page=1&pageSize=50"),
            ($"bulletin drill-down ({busiest}, {applicable:N0} computers), page 1", () => $"api/reports/compliance/bulletins/{Uri.EscapeDataString(busiest)}/computers?page=1&pageSize=50"),
            ("bulletin drill-down, a deep page", () => $"api/reports/compliance/bulletins/{Uri.EscapeDataString(busiest)}/computers?page={random.Next(1, (int)(applicable / 50))}&pageSize=50"),
            ("bulletin drill-down, a deep page by cursor (after=)", () => $"{bulletinRoute}?after={bulletinCursors[random.Next(bulletinCursors.Length)]}&pageSize=50"),
            ("update drill-down, a deep page", () => $"{updateRoute}?page={random.Next(1, (int)(updateApplicable / 50))}&pageSize=50"),
            ("update drill-down, a deep page by cursor (after=)", () => $"{updateRoute}?after={updateCursors[random.Next(updateCursors.Length)]}&pageSize=50"),
            ("vulnerabilities", () => "api/reports/vulnerabilities"),
            ("vulnerabilities by family", () => "api/reports/vulnerabilities/families"),
            ("computers, a deep page", () => $"api/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50"),
            ("home page", () => "api/home"),
            ("by bulletin, page 1, asOf", () => $"api/reports/compliance/bulletins?page=1&pageSize=50&{asOf}"),
            ("by bulletin, one family, asOf", () => $"api/reports/compliance/bulletins?family=windows&page=1&pageSize=50&{asOf}"),
            ("by update, page 1, asOf", () => $"api/reports/compliance/updates?page=1&pageSize=50&{asOf}"),
            ("by computer, page 1, asOf", () => $"api/reports/compliance/computers?page=1&pageSize=50&{asOf}"),
            ("one computer's updates, asOf", () => $"api/reports/compliance/computers/{Name(random.Next((int)computers))}/updates?{asOf}"),
            ("bulletin drill-down, page 1, asOf", () => $"api/reports/compliance/bulletins/{Uri.EscapeDataString(busiest)}/computers?page=1&pageSize=50&{asOf}"),
            ("vulnerabilities, asOf", () => $"api/reports/vulnerabilities?{asOf}"),
            ("by computer, a deep page, asOf", () => $"api/reports/compliance/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50&{asOf}"),
            ("bulletin drill-down, a deep page, asOf", () => $"{bulletinRoute}?page={random.Next(1, (int)(applicable / 50))}&pageSize=50&{asOf}"),
            ("update drill-down, a deep page, asOf", () => $"{updateRoute}?page={random.Next(1, (int)(updateApplicable / 50))}&pageSize=50&{asOf}"),
            ("computers, a deep page, asOf", () => $"api/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50&{asOf}"),
            ("bulletin drill-down, a deep page, asOf a second before", () => $"{bulletinRoute}?page={random.Next(1, (int)(applicable / 50))}&pageSize=50&{recently}"),
            ("update drill-down, a deep page, asOf a second before", () => $"{updateRoute}?page={random.Next(1, (int)(updateApplicable / 50))}&pageSize=50&{recently}"),
            ("by computer, a deep page, asOf a second before", () => $"api/reports/compliance/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50&{recently}"),
            ("computers, a deep page, asOf a second before", () => $"api/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50&{recently}"),
            ("bulletin drill-down, a deep page, asOf inside the last storm", () => $"{bulletinRoute}?page={random.Next(1, (int)(applicable / 50))}&pageSize=50&{inStorm}"),
            ("by computer, a deep page, asOf inside the last storm", () => $"api/reports/compliance/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50&{inStorm}"),
            ("computers, a deep page, asOf inside the last storm", () => $"api/computers?page={random.Next(1, (int)(computers / 50))}&pageSize=50&{inStorm}"),
            ("computers running Windows 11, a deep page", () => $"api/computers?os=windows%2011&page={random.Next(1, (int)(computers / 200))}&pageSize=50"),
            ("computers running Windows 11, a deep page by cursor (after=)", () => $"{windows11}&after={windows11Cursors[random.Next(windows11Cursors.Length)]}&pageSize=50"),
            ("computers, a deep page by cursor, asOf", () => $"api/computers?{asOf}&after={pastCursors[random.Next(pastCursors.Length)]}&pageSize=50"),
            ("computers by agent version, a deep page", () => $"api/computers?sort=agentVersion&page={random.Next(1, (int)(computers / 50))}&pageSize=50"),
            ("computers by agent version, a deep page by cursor (after=)", () => $"api/computers?sort=agentVersion&after={byVersionCursors[random.Next(byVersionCursors.Length)]}&pageSize=50"),
            // Descending, read from the column's index backwards (ADR 0041).
            ("computers by operating system descending, page 1", () => "api/computers?sort=-operatingSystem&page=1&pageSize=50"),
            ("computers by operating system descending, a deep page", () => $"api/computers?sort=-operatingSystem&page={random.Next(1, (int)(computers / 50))}&pageSize=50"),
            ("computers by last inventory descending, a deep page", () => $"api/computers?sort=-lastInventoryAt&page={random.Next(1, (int)(computers / 50))}&pageSize=50"),
            // By enrolment, a column with its index (the computers of the bulk path were never enrolled: last either way).
            ("computers by enrolment, page 1", () => "api/computers?sort=enrolledAt&page=1&pageSize=50"),
            ("computers by enrolment descending, page 1", () => "api/computers?sort=-enrolledAt&page=1&pageSize=50"),
            ("computers by enrolment, a deep page", () => $"api/computers?sort=enrolledAt&page={random.Next(1, (int)(computers / 50))}&pageSize=50"),
            ("computers by enrolment descending, a deep page", () => $"api/computers?sort=-enrolledAt&page={random.Next(1, (int)(computers / 50))}&pageSize=50"),
            // Filtered and sorted (ADR 0043): by operating system, by runs of one system; by last inventory, near the start
            // from the index, deeper by the sort.
            ("computers running Windows 11 by operating system, page 1", () => $"{windows11}&sort=operatingSystem&page=1&pageSize=50"),
            ("computers running Windows 11 by operating system descending, a deep page", () => $"{windows11}&sort=-operatingSystem&page={random.Next(1, (int)(computers / 200))}&pageSize=50"),
            ("computers running Windows 11 by last inventory descending, page 1", () => $"{windows11}&sort=-lastInventoryAt&page=1&pageSize=50"),
            ("computers running Windows 11 by last inventory descending, a deep page", () => $"{windows11}&sort=-lastInventoryAt&page={random.Next(1, (int)(computers / 200))}&pageSize=50"),
            // The name search by the names' trigram index (ADR 0042): a name found once, and a hundred.
            ("computers, a name search (one found)", () => $"api/computers?q={Name(random.Next((int)computers))[^7..]}&pageSize=50"),
            ("computers, a name search (a hundred found)", () => $"api/computers?q={Name(random.Next((int)computers))[..11]}&pageSize=50"),
        };
        Console.WriteLine($"{computers:N0} computers, {bulletins:N0} bulletins with rows; 40 requests per report after 5 warm-ups; {asOf}, {inStorm}");
        foreach (var (label, url) in routes)
        {
            var times = new List<double>();
            for (var i = 0; i < 45; i++)
            {
                var sw = Stopwatch.StartNew();
                using var response = await http.GetAsync(url());
                var body = await response.Content.ReadAsStringAsync();
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{label}: {(int)response.StatusCode} {body}");
                if (i >= 5) times.Add(sw.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            Console.WriteLine($"  {label,-60} p50 {times[19],8:F1} ms  p95 {times[37],8:F1} ms");
        }
    }

    private static async Task FootprintAsync(NpgsqlDataSource db, Process server)
    {
        await using (var size = db.CreateCommand("select pg_database_size(current_database()), (select count(*) from patch.mt_doc_computer)"))
        await using (var reader = await size.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            var bytes = reader.GetInt64(0);
            var computers = reader.GetInt64(1);
            Console.WriteLine($"database {bytes / 1073741824.0:F2} GiB for {computers:N0} computers: {bytes / (double)Math.Max(1, computers) / 1024:F1} KiB per computer");
        }
        await using (var tables = db.CreateCommand("""
            select c.relname, pg_total_relation_size(c.oid) from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'patch' and c.relkind = 'r' order by 2 desc limit 12
            """))
        await using (var reader = await tables.ExecuteReaderAsync())
            while (await reader.ReadAsync()) Console.WriteLine($"  {reader.GetString(0),-45} {reader.GetInt64(1) / 1048576.0,10:F0} MiB");
        server.Refresh();
        Console.WriteLine($"server process (idle after start): working set {server.WorkingSet64 / 1048576.0:F0} MiB");
    }
}
