using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Npgsql;
using Patch.Api.Hosting;
using Patch.Application.Hosting;

namespace Patch.Bench;

/// <summary>
/// The catalog at its real size (issue: 1M §2b). A Patch server process on a private PostgreSQL, no computers: every
/// monthly CVRF document of shared/data/msrc-cvrf/archive (1999–2025) imported oldest first over HTTP, as a new user
/// would, next to a bare XmlReader pass over the same bytes; then the first request after the last import, and
/// p50/p95 of every Remediation Center view, bulletin details, the superseded-bulletins report and the home page.
/// </summary>
public static class CatalogBench
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<int> RunAsync(string[] args)
    {
        var runs = int.Parse(FleetBench.Option(args, "--runs", "40"));
        var hold = int.Parse(FleetBench.Option(args, "--hold", "0"));
        var shared = FleetBench.Option(args, "--shared", Bench.FindShared());
        var files = Bench.CvrfFiles(shared);
        var dir = Path.Combine(Path.GetTempPath(), $"patch-catalog-bench-{Guid.NewGuid():N}");
        Bench.CreateDirectory(dir);
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_catalog_bench" });
        Process? server = null;
        try
        {
            var port = FleetBench.FreePort();
            server = FleetBench.StartServer(pg.ConnectionString, port, dir);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(10) };
            await FleetBench.WaitReadyAsync(http, server);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await FleetBench.AdminTokenAsync(pg.ConnectionString));
            await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
            Console.WriteLine(await Bench.MachineAsync(db, $"fsync on"));

            await ImportArchiveAsync(http, files);
            await ServerTaskTimesAsync(db);
            await FirstRequestAsync(http);
            await TimeViewsAsync(http, runs);
            await using (var size = db.CreateCommand("select pg_size_pretty(pg_database_size(current_database()))"))
                Console.WriteLine($"database size: {await size.ExecuteScalarAsync()}");
            if (hold > 0)
            {
                Console.WriteLine($"holding {hold} s: {pg.ConnectionString}");
                await Task.Delay(TimeSpan.FromSeconds(hold));
            }
            return 0;
        }
        finally
        {
            await FleetBench.StopAsync(server, pg, dir);
        }
    }

    /// <summary>Every document of the archive, oldest first, through the server's import route, next to bare XmlReader passes over the same bytes.</summary>
    public static async Task ImportArchiveAsync(HttpClient http, IReadOnlyList<string> files)
    {
        // The whole archive, oldest first, each document through the server's import route.
        double importMs = 0, xmlMs = 0, slowest = 0;
        long bytes = 0;
        var slowestFile = "";
        foreach (var file in files)
        {
            var content = Bench.ReadCvrf(file);
            bytes += content.Length;
            xmlMs += ImportBench.Best(3, () => ImportBench.XmlPass(content));
            var sw = Stopwatch.StartNew();
            var response = await http.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(content));
            var ms = sw.Elapsed.TotalMilliseconds;
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{Path.GetFileName(file)}: HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            importMs += ms;
            if (ms > slowest) (slowest, slowestFile) = (ms, Path.GetFileName(file));
        }
        var total = (await http.GetFromJsonAsync<JsonElement>("api/bulletins?pageSize=1", Json)).GetProperty("total").GetInt32();
        Console.WriteLine($"import: {files.Count} documents, {bytes / 1048576.0:F1} MB, {total:N0} bulletins in {importMs / 1000:F1} s " +
                          $"(XmlReader passes over the same bytes {xmlMs / 1000:F2} s: ratio {importMs / xmlMs:F1}); slowest {slowestFile} {slowest:F0} ms");
    }

    /// <summary>Where the server spent the time: each task's runs as the server recorded them (the imports, and what they set off).</summary>
    public static async Task ServerTaskTimesAsync(NpgsqlDataSource db)
    {
        // Where the server spent the time: each task's runs as the server recorded them (the imports, and what they set off).
        await using (var tasks = db.CreateCommand($"""
            select data->>'task', count(*), sum(extract(epoch from ((data->>'ended')::timestamptz - (data->>'started')::timestamptz))) * 1000
            from patch.{Patch.Projections.PatchProjections.ServerTaskRunTable} where data->>'ended' is not null group by 1 order by 3 desc
            """))
        await using (var reader = await tasks.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                Console.WriteLine($"  server task {reader.GetString(0)}: {reader.GetInt64(1)} runs, {reader.GetDouble(2) / 1000:F1} s recorded");
    }

    /// <summary>The first Remediation Center request after the imports (what they set off may still be running).</summary>
    public static async Task FirstRequestAsync(HttpClient http)
    {
        // The first request after the imports (the catalog-changed analysis and statistics may still be settling).
        var first = Stopwatch.StartNew();
        var answer = await http.GetAsync("api/bulletins");
        Console.WriteLine($"first Remediation Center request after the imports: {first.Elapsed.TotalMilliseconds:F0} ms (HTTP {(int)answer.StatusCode})");
    }

    /// <summary>p50/p95 of every Remediation Center view, bulletin details and the home page: <paramref name="runs"/> requests each after 3 warm-ups.</summary>
    public static async Task TimeViewsAsync(HttpClient http, int runs)
    {
        var views = await ViewsAsync(http);
        Console.WriteLine($"{runs} requests per view after 3 warm-ups (server time as the client sees it):");
        Console.WriteLine($"{"view",-58} {"first ms",9} {"p50 ms",8} {"p95 ms",8} {"max ms",8}");
        var worst = 0.0;
        foreach (var (name, url) in views)
        {
            var times = new List<double>();
            double firstMs = 0;
            for (var i = 0; i < runs + 3; i++)
            {
                var sw = Stopwatch.StartNew();
                using var response = await http.GetAsync(url, HttpCompletionOption.ResponseContentRead);
                var ms = sw.Elapsed.TotalMilliseconds;
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{url}: HTTP {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                if (i == 0) firstMs = ms;
                if (i >= 3) times.Add(ms);
            }
            times.Sort();
            var p95 = times[(int)Math.Ceiling(times.Count * 0.95) - 1];
            worst = Math.Max(worst, p95);
            Console.WriteLine($"{name,-58} {firstMs,9:F0} {times[times.Count / 2],8:F1} {p95,8:F1} {times[^1],8:F1}{(p95 >= 50 ? "  over 50 ms" : "")}");
        }
        Console.WriteLine($"slowest view p95: {worst:F1} ms");
    }

    private static async Task<List<(string Name, string Url)>> ViewsAsync(HttpClient http)
    {
        async Task<JsonElement> Get(string url) => await http.GetFromJsonAsync<JsonElement>(url, Json);
        var newest = (await Get("api/bulletins?pageSize=1")).GetProperty("items")[0].GetProperty("id").GetString()!;
        var oldest = (await Get("api/bulletins?pageSize=1&sort=released")).GetProperty("items")[0].GetProperty("id").GetString()!;
        var superseded = (await Get("api/bulletins?pageSize=1&superseded=true")).GetProperty("items")[0].GetProperty("id").GetString()!;
        var pages = ((await Get("api/bulletins?pageSize=50")).GetProperty("total").GetInt32() + 49) / 50;
        return
        [
            ("remediation center (newest first)", "api/bulletins"),
            ("remediation center, page 2", "api/bulletins?page=2"),
            ($"remediation center, last page ({pages})", $"api/bulletins?page={pages}"),
            ("remediation center, by title, page 40", "api/bulletins?sort=title&page=40"),
            ("remediation center, by CVE count", "api/bulletins?sort=-cveCount"),
            ("remediation center, by superseded", "api/bulletins?sort=superseded"),
            ("remediation center, superseded=false", "api/bulletins?superseded=false"),
            ("remediation center, superseded=true, page 20", "api/bulletins?superseded=true&page=20"),
            ("remediation center, groupBy=severity", "api/bulletins?groupBy=severity"),
            ("remediation center, groupBy=superseded", "api/bulletins?groupBy=superseded"),
            ("remediation center, Critical, not staged", "api/bulletins?severity=Critical&staged=false"),
            ("remediation center, known exploited", "api/bulletins?knownExploited=true"),
            ("remediation center, family=office", "api/bulletins?family=office"),
            ("remediation center, view=latest", "api/bulletins?view=latest"),
            ("remediation center, q=Exchange", "api/bulletins?q=Exchange"),
            ("remediation center, 1000 rows", "api/bulletins?pageSize=1000"),
            ("bulletin details (newest)", $"api/bulletins/{Uri.EscapeDataString(newest)}"),
            ("bulletin details (oldest)", $"api/bulletins/{Uri.EscapeDataString(oldest)}"),
            ("bulletin details (a superseded one)", $"api/bulletins/{Uri.EscapeDataString(superseded)}"),
            ("home page's figures (api/home)", "api/home"),
        ];
    }
}
