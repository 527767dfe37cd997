using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Agents;

/// <summary>
/// The computers list filtered by operating system or agent version gives its total from the counts kept per operating
/// system and agent version as the rows are written (ADR 0037), not by counting the rows: the totals must be the rows'.
/// </summary>
public class when_listing_computers_by_operating_system_and_agent_version(AppFixture app) : AppTest(app)
{
    private async Task<string> EnrolAsync(string token, string name, string agentVersion, string caption)
    {
        using var client = App.Client();
        var enrol = await client.PostAsync("/agent/v1/enrol",
            new StringContent(JsonSerializer.Serialize(new { token, computerName = name, agentVersion }), Encoding.UTF8, "application/json"));
        var credential = JsonDocument.Parse(await enrol.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString()!;
        await ReportAsync(credential, agentVersion, caption);
        return credential;
    }

    private async Task ReportAsync(string credential, string agentVersion, string caption)
    {
        using var client = App.Client();
        var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/inventory")
        {
            Content = new StringContent(JsonSerializer.Serialize(new
            {
                osCaption = caption, osVersion = "10.0.19045.3930", architecture = "x64", servicePack = 0, isServer = false, cultures = new[] { "en-US" },
                softwareReleases = Array.Empty<string>(), installedKbs = Array.Empty<string>(), agentVersion,
            }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        Assert.True((await client.SendAsync(request)).IsSuccessStatusCode);
    }

    [Fact]
    public async Task filtered_totals_come_from_the_kept_counts_and_are_the_rows_as_computers_come_change_and_go()
    {
        // The checkpoints task runs when this test says (its schedule off, any checkpoint it took already gone).
        Assert.Equal(200, (int)(await SendAsync(HttpMethod.Put, "/api/server-tasks/report-checkpoints/schedule", new { cron = "*/5 * * * *", timeZone = "UTC", enabled = false })).Status);
        await using (var clear = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("delete from patch.computer_row_checkpoint; delete from patch.computer_row_checkpoint_count"))
            await clear.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        foreach (var (name, os) in new[] { ("D1", "Windows 10 Pro"), ("D2", "Windows 11 Pro"), ("D3", "Windows 11 Enterprise"), ("D4", "Windows Server 2022"), ("D5", null) })
            Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers", new { name, operatingSystem = os })).Status);
        // Enough more computers for deep pages (the tests cut name buckets of two rows).
        string?[] systems = ["Windows 10 Pro", "Windows 11 Pro", "Windows Server 2019", null];
        // Some of one system written in capitals (E03, E19, E23, E35 among E07, E11, E15, E27, E31): one run in its order.
        for (var i = 0; i < 36; i++)
            Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers",
                new { name = $"E{i * 7 % 36:00}", operatingSystem = i % 8 == 5 ? systems[1]!.ToUpperInvariant() : systems[i % 4] })).Status);
        var (_, tokenBody) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "list", maxUses = 10 });
        var token = tokenBody.GetProperty("token").GetString()!;
        var a1 = await EnrolAsync(token, "A1", "1.0.0", "Microsoft Windows 11 Pro");
        await EnrolAsync(token, "A2", "1.0.0", "Microsoft Windows 10 Enterprise");
        await EnrolAsync(token, "A3", "1.1.0", "Microsoft Windows 11 Enterprise");
        await AssertTotalsAsync(44);
        // Sorted by operating system, the order is its lower case (ADR 0043): each system's computers together, by name.
        foreach (var sort in new[] { "operatingSystem", "-operatingSystem" })
        {
            var rows = (await GetJsonAsync($"/api/computers?sort={sort}&pageSize=500")).GetProperty("items").EnumerateArray()
                .Select(i => (Os: i.GetProperty("operatingSystem").GetString()?.ToLowerInvariant(), Name: i.GetProperty("name").GetString()!)).ToList();
            var runs = rows.Select(r => r.Os).Where((os, i) => i == 0 || os != rows[i - 1].Os).ToList();
            Assert.Equal(runs.Distinct().Count(), runs.Count);
            var pro = rows.Where(r => r.Os == "windows 11 pro").Select(r => r.Name).ToList();
            Assert.Equal(sort.StartsWith('-') ? pro.OrderDescending(StringComparer.OrdinalIgnoreCase) : pro.Order(StringComparer.OrdinalIgnoreCase), pro);
            Assert.Equal(10, pro.Count);
        }
        await AssertGroupWalkAsync();

        // Computers move between groups: a discovered one gets another operating system, an agent is upgraded and reports
        // another system; one discovered computer is enrolled (its row gains an agent).
        Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers", new { name = "D2", operatingSystem = "Windows 10 Pro" })).Status);
        await ReportAsync(a1, "1.1.0", "Microsoft Windows 10 Pro");
        await EnrolAsync(token, "D4", "1.1.0", "Microsoft Windows Server 2022 Standard");
        var totals = await AssertTotalsAsync(44);
        Assert.Equal(3, totals["agentVersion=1.1.0"]);
        Assert.Equal(11, totals["os=windows%2011"]);

        var before = await NumberedPagesAsync();
        await Task.Delay(50, TestContext.Current.CancellationToken);
        var then = DateTimeOffset.UtcNow;
        await Task.Delay(50, TestContext.Current.CancellationToken);
        // One computer moves to another group (two versions since then, fewer than a quarter of the rows a deep page
        // skips): asked about the instant before, the pages and totals then, from the name buckets' counts per group then.
        await ReportAsync(a1, "1.2.0", "Microsoft Windows 11 Pro");
        Assert.NotEqual(before, await NumberedPagesAsync());
        Assert.Equal(before, await NumberedPagesAsync($"asOf={Uri.EscapeDataString(then.ToString("O"))}&"));

        // The checkpoints task (ADR 0040): its first run takes one a few minutes back (before this fleet), counted exactly.
        var (status, run) = await SendAsync(HttpMethod.Post, "/api/server-tasks/report-checkpoints/run?wait=true");
        Assert.Equal(200, (int)status);
        Assert.Equal(1, run.GetProperty("counts").GetProperty("computer_rowTaken").GetInt32());
        // The task runs every five minutes; the checkpoint at the margin is taken at most once in the given span after the
        // latest, however many versions changed (here all of this fleet's since the one just taken, minutes back).
        var checkpoints = App.Host.Services.GetRequiredService<Patch.Application.ServerTasks.NameBucketCheckpoints>();
        Assert.Equal(0, (await checkpoints.RunAsync(Plan(every: TimeSpan.FromHours(1)), TestContext.Current.CancellationToken)).Counts["computer_rowTaken"]);
        Assert.Equal(1, (await checkpoints.RunAsync(Plan(every: TimeSpan.FromMinutes(1)), TestContext.Current.CancellationToken)).Counts["computer_rowTaken"]);

        // An instant, one move, a checkpoint, then more moves than a quarter of the rows: asked about the instant, the pages
        // and totals count from the checkpoint (from today's counts there are too many changes to count: they would walk).
        var pagesThen = await NumberedPagesAsync();
        await Task.Delay(50, TestContext.Current.CancellationToken);
        var instant = DateTimeOffset.UtcNow;
        await Task.Delay(50, TestContext.Current.CancellationToken);
        await ReportAsync(a1, "1.3.0", "Microsoft Windows 11 Pro");
        await Task.Delay(50, TestContext.Current.CancellationToken);
        var checkpoint = DateTimeOffset.UtcNow;
        Assert.True(await ScalarAsync<bool>("select patch.computer_row_checkpoint_take(@c)", checkpoint));
        for (var i = 0; i < 12; i++)
            Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers", new { name = $"E{i:00}", operatingSystem = $"Windows 11 Moved {i}" })).Status);
        // New computers among the names cut the buckets again (past twice their size): the checkpoint keeps its own bounds.
        var bounds = await ScalarAsync<long>("select count(*) from patch.computer_row_bound");
        for (var i = 0; i < 9; i++)
            Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers", new { name = $"E0{i}X", operatingSystem = "Windows 11 Pro" })).Status);
        Assert.True(await ScalarAsync<long>("select count(*) from patch.computer_row_bound") > bounds, "no bucket was cut again");
        Assert.Equal(pagesThen, await NumberedPagesAsync($"asOf={Uri.EscapeDataString(instant.ToString("O"))}&"));

        // A late writer — its versions stamped before the checkpoint — changes what was true then: the checkpoint goes.
        await using (var late = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("""
            begin;
            select set_config('patch.valid_from', @at::text, true);
            update patch.mt_doc_computer_row set operating_system_lower = 'late' where name_lower = 'e30';
            commit;
            """))
        {
            late.Parameters.AddWithValue("at", instant);
            await late.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }
        Assert.Equal(0L, await ScalarAsync<long>("select count(*) from patch.computer_row_checkpoint where at >= @c", instant));
        Assert.True(await ScalarAsync<long>("select count(*) from patch.computer_row_checkpoint where at < @c", instant) > 0, "the checkpoint before the late stamp stays");

        // Where changes come thick, checkpoints every so many versions begun, at the instants they began: each instant
        // recorded between moves is then asked about from the one after it (here every 4 versions, no margin).
        var recorded = new List<(DateTimeOffset At, List<string> Pages)>();
        for (var i = 0; i < 3; i++)
        {
            recorded.Add((DateTimeOffset.UtcNow, await NumberedPagesAsync()));
            await Task.Delay(20, TestContext.Current.CancellationToken);
            foreach (var name in new[] { "E05", "E17", "E29" })
                Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers", new { name, operatingSystem = $"Windows 11 Storm {i}" })).Status);
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        var taken = await ScalarAsync<long>("select count(distinct at) from patch.computer_row_checkpoint");
        var task = checkpoints;
        // While versions come thick (here: any in the last minute), a run takes none: each would hold the buckets' lock.
        var deferred = (await task.RunAsync(Plan(apart: 4, every: TimeSpan.Zero, busy: 1), TestContext.Current.CancellationToken)).Counts;
        Assert.Equal((1, 0, 0), (deferred["computer_rowBusy"], deferred["computer_rowApart"], deferred["computer_rowTaken"]));
        // A run that reaches its most apart takes none at the margin: the next run goes on from the last of them.
        var capped = (await task.RunAsync(Plan(apart: 4, most: 2, every: TimeSpan.Zero), TestContext.Current.CancellationToken)).Counts;
        Assert.Equal(2, capped["computer_rowApart"]);
        Assert.Equal(0, capped["computer_rowTaken"]);
        Assert.True(await ScalarAsync<bool>("""
            select exists (select 1 from patch.mt_doc_computer_row_history v where v.valid_from = (select max(at) from patch.computer_row_checkpoint))
            """), "the latest checkpoint is not the last one apart");
        var apart = 2 + await task.ApartAsync(Patch.Projections.NameBuckets.Computers, TimeSpan.Zero, 4, 100, TestContext.Current.CancellationToken);
        Assert.True(apart >= 3, $"{apart} checkpoints apart");
        Assert.Equal(taken + apart, await ScalarAsync<long>("select count(distinct at) from patch.computer_row_checkpoint"));
        Assert.Equal(0L, await ScalarAsync<long>("""
            select count(*) from (select distinct at from patch.computer_row_checkpoint) k
            where k.at > @c and not exists (select 1 from patch.mt_doc_computer_row_history v where v.valid_from = k.at)
            """, instant));

        // Thinned by the versions between them (here from now on, at most 8 apart): fewer checkpoints, two kept ones at
        // most 8 versions apart unless they were next to each other, and the same pages at every instant.
        var all = await InstantsAsync();
        var thinned = (await task.RunAsync(Plan(apart: 8, most: 0, keepAll: TimeSpan.Zero, dense: TimeSpan.FromDays(1)), TestContext.Current.CancellationToken)).Counts;
        Assert.True(thinned["computer_rowPruned"] > 0, "none thinned");
        var left = await InstantsAsync();
        // Each checkpoint is looked at once: the next run starts where this one ended.
        Assert.True(await ScalarAsync<bool>("select settled >= @c from patch.computer_row_checkpoint_thinned", left[^1]), "not settled");
        Assert.Equal(all.Count - thinned["computer_rowPruned"], left.Count);
        foreach (var (a, b) in left.Zip(left.Skip(1)))
            Assert.True(all.IndexOf(b) == all.IndexOf(a) + 1 || await ScalarAsync<long>(
                "select count(*) from patch.mt_doc_computer_row_history where valid_from > @c and valid_from <= @d", a, b) <= 8, $"{a:O} … {b:O}");
        foreach (var (at, pages) in recorded)
            Assert.Equal(pages, await NumberedPagesAsync($"asOf={Uri.EscapeDataString(at.ToString("O"))}&"));

        // Older than two days, checkpoints are thinned to the last of each day (UTC) by the task.
        var day = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero).AddDays(-3);
        Assert.True(await ScalarAsync<bool>("select patch.computer_row_checkpoint_take(@c)", day.AddHours(1)));
        Assert.True(await ScalarAsync<bool>("select patch.computer_row_checkpoint_take(@c)", day.AddHours(2)));
        Assert.Equal(1, (await task.RunAsync(Plan(dense: TimeSpan.FromDays(2)), TestContext.Current.CancellationToken)).Counts["computer_rowPruned"]);
        var kept = await ScalarAsync<DateTime>("select max(at) from patch.computer_row_checkpoint where at < @c", day.AddDays(1));
        Assert.Equal(day.AddHours(2), new DateTimeOffset(DateTime.SpecifyKind(kept, DateTimeKind.Utc)));
        Assert.Equal(1L, await ScalarAsync<long>("select count(distinct at) from patch.computer_row_checkpoint where at < @c", day.AddDays(1)));
    }

    private async Task<T> ScalarAsync<T>(string sql, DateTimeOffset? at = null, DateTimeOffset? to = null)
    {
        await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(sql);
        if (at is { } c) cmd.Parameters.AddWithValue("c", c);
        if (to is { } d) cmd.Parameters.AddWithValue("d", d);
        return (T)(await cmd.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    /// <summary>The computers list's checkpoints, in time order.</summary>
    private async Task<List<DateTime>> InstantsAsync()
    {
        await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("select distinct at from patch.computer_row_checkpoint order by at");
        await using var reader = await cmd.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var instants = new List<DateTime>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken)) instants.Add(reader.GetDateTime(0));
        return instants;
    }

    /// <summary>A run of the checkpoints task: no margin, a checkpoint at it after one version, none apart, never busy, thinned as the server does unless told.</summary>
    private static Patch.Application.ServerTasks.NameBucketCheckpoints.Plan Plan(int apart = 1_000_000, int most = 24, TimeSpan? every = null,
        TimeSpan? keepAll = null, TimeSpan? dense = null, int busy = int.MaxValue) =>
        new(TimeSpan.Zero, 1, apart, most, every ?? TimeSpan.Zero, keepAll ?? Patch.Application.ServerTasks.NameBucketCheckpoints.KeepAll, dense ?? TimeSpan.FromDays(35), busy);

    /// <summary>
    /// Numbered pages in name order filtered by operating system and agent version start from the name bucket of their
    /// first row, by the buckets' counts per group (ADR 0038), and so do those by agent version inside one version's run
    /// (ADR 0037); every computer by an indexed column descending is read from its index, then the rows without a value
    /// (ADR 0041): page by page, each filter's rows of one long page (itself the cursor walk's rows, checked below).
    /// </summary>
    private async Task<List<string>> NumberedPagesAsync(string at = "")
    {
        var every = new List<string>();
        foreach (var filter in new[] { "", "os=windows%2011", "os=WINDOWS", "os=10%20pro", "agentVersion=1.0.0", "agentVersion=1.1.0", "os=windows%2011&agentVersion=1.1.0" })
            foreach (var sort in new[] { "name", "-name", "agentVersion", "-agentVersion", "operatingSystem", "-operatingSystem", "-lastInventoryAt" })
            {
                var url = $"/api/computers?{at}sort={sort}&{filter}";
                var all = await GetJsonAsync($"{url}&pageSize=500");
                var expected = all.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()).ToList();
                every.Add($"{filter} {sort}: {string.Join(", ", expected)}");
                foreach (var size in new[] { 1, 3 })
                {
                    var numbered = new List<string>();
                    for (var page = 1; page <= (expected.Count + size - 1) / size + 1; page++)
                    {
                        var answer = await GetJsonAsync($"{url}&pageSize={size}&page={page}");
                        Assert.True(expected.Count == answer.GetProperty("total").GetInt64(), $"{url}: total {answer.GetProperty("total")} for {expected.Count} rows");
                        numbered.AddRange(answer.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()));
                        // A page followed by rows gives the next one's cursor, also when it ends at a bucket's end.
                        var hasNext = answer.TryGetProperty("next", out var next) && next.ValueKind == JsonValueKind.String;
                        Assert.True(page * size < expected.Count == hasNext, $"{url}&pageSize={size}&page={page}: next {next} with {expected.Count} rows");
                    }
                    Assert.True(expected.SequenceEqual(numbered), $"{url}, pageSize={size}");
                }
            }
        return every;
    }

    /// <summary>
    /// The descending walk of some groups' computers from the index (ADR 0041; the list takes it near the groups' start
    /// only, a few rows here): every page of it — rows with a value, across to the rows without one, past those — against
    /// one long page.
    /// </summary>
    private async Task AssertGroupWalkAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var ids = (await GetJsonAsync("/api/computers?sort=-lastInventoryAt&os=windows%2011&pageSize=500")).GetProperty("items").EnumerateArray()
            .Select(i => i.GetProperty("id").GetString()!).ToList();
        var computers = $"{Patch.Application.Common.ReadSql.At(Patch.Projections.PatchProjections.ComputerRowTable, null)} c";
        await using var conn = await App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().OpenConnectionAsync(ct);
        for (var offset = 0; offset <= ids.Count; offset++)
        {
            await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
            var (pageIds, parameter) = await Patch.Application.Computers.ValuePages.LocateAsync(conn, tx, computers, "true and operating_system_lower like @os",
                "last_inventory_at", [new("os", "%windows 11%")], offset, 2, ct);
            await using var read = new Npgsql.NpgsqlCommand(pageIds, conn, tx);
            read.Parameters.Add(parameter);
            var page = new List<string>();
            await using (var reader = await read.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) page.Add(reader.GetString(0));
            Assert.Equal(ids.Skip(offset).Take(2), page);
        }
        Assert.Contains(ids, id => id.StartsWith("computer:e"));
    }

    /// <summary>Each filter's total against the rows of its one long page, and the kept counts against a recount of the rows.</summary>
    private async Task<Dictionary<string, long>> AssertTotalsAsync(int computers)
    {
        var totals = new Dictionary<string, long>();
        foreach (var filter in new[] { "", "os=windows%2011", "os=WINDOWS", "os=server", "os=10%20pro", "agentVersion=1.0.0", "agentVersion=1.1.0",
                     "os=windows%2011&agentVersion=1.1.0", "os=nothing-like-this", "q=a&os=windows" })
        {
            var page = await GetJsonAsync($"/api/computers?pageSize=500&{filter}");
            Assert.Equal(page.GetProperty("items").GetArrayLength(), page.GetProperty("total").GetInt64());
            totals[filter] = page.GetProperty("total").GetInt64();
        }
        Assert.Equal(computers, totals[""]);

        // The name search finds every name holding the text, in any case — by the names' trigram index from three
        // characters on, over the rows below that (ADR 0042) — and takes the like wildcards as text.
        var names = (await GetJsonAsync("/api/computers?pageSize=500")).GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()!).ToList();
        foreach (var text in new[] { "e", "E1", "e01", "E01", "d4", "a1", "_", "%", "nothing" })
        {
            var found = (await GetJsonAsync($"/api/computers?pageSize=500&q={Uri.EscapeDataString(text)}")).GetProperty("items").EnumerateArray()
                .Select(i => i.GetProperty("name").GetString()!).ToList();
            Assert.Equal(names.Where(n => n.Contains(text, StringComparison.OrdinalIgnoreCase)), found);
        }
        await using (var index = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("select to_regclass('patch.ix_computer_row_name_trgm') is not null"))
            Assert.True((bool)(await index.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);

        await using var check = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("""
            select count(*) from
              (select coalesce(operating_system_lower, '') os, coalesce(agent_version, '') v, count(*) n, count(*) filter (where agent_installed) a
               from patch.mt_doc_computer_row group by 1, 2) r
              full join (select os, agent_version v, sum(computers) n, sum(agents) a from patch.computer_counts group by 1, 2
                         having sum(computers) <> 0 or sum(agents) <> 0) k on k.os = r.os and k.v = r.v
            where (r.n, r.a) is distinct from (k.n, k.a)
            """);
        Assert.Equal(0L, (long)(await check.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);

        // Every order, page after page by cursor, gives the rows of one long page — computers without an operating system,
        // agent or inventory (no sort value) last either way — filtered or not.
        foreach (var sort in new[] { "name", "-name", "operatingSystem", "-operatingSystem", "agentVersion", "-agentVersion", "lastInventoryAt", "-lastInventoryAt", "enrolledAt", "-enrolledAt" })
            foreach (var filter in new[] { "", "&os=windows" })
            {
                var all = (await GetJsonAsync($"/api/computers?sort={sort}&pageSize=500{filter}")).GetProperty("items").EnumerateArray().Select(i => i.GetRawText()).ToList();
                foreach (var size in new[] { 1, 3 })
                    Assert.True(all.SequenceEqual(await WalkByCursorAsync($"/api/computers?sort={sort}{filter}", size, all.Count)), $"sort={sort}{filter}, pageSize={size}");
            }

        // By enrolment (its own indexed column): the instants in order, ties by id the same way, computers never enrolled last
        // either way; numbered pages are the long page's slices.
        foreach (var descending in new[] { false, true })
        {
            var url = $"/api/computers?sort={(descending ? "-" : "")}enrolledAt";
            var rows = (await GetJsonAsync($"{url}&pageSize=500")).GetProperty("items").EnumerateArray()
                .Select(i => (Id: i.GetProperty("id").GetString()!, At: i.GetProperty("enrolledAt").ValueKind == JsonValueKind.Null ? (DateTimeOffset?)null : i.GetProperty("enrolledAt").GetDateTimeOffset(), Raw: i.GetRawText()))
                .ToList();
            Assert.Contains(rows, r => r.At is null);
            var enrolled = rows.Where(r => r.At is not null);
            var ordered = (descending ? enrolled.OrderByDescending(r => r.At).ThenByDescending(r => r.Id, StringComparer.Ordinal)
                    : enrolled.OrderBy(r => r.At).ThenBy(r => r.Id, StringComparer.Ordinal))
                .Concat(descending ? rows.Where(r => r.At is null).OrderByDescending(r => r.Id, StringComparer.Ordinal) : rows.Where(r => r.At is null).OrderBy(r => r.Id, StringComparer.Ordinal));
            Assert.Equal(ordered.Select(r => r.Id), rows.Select(r => r.Id));
            var numbered = new List<string>();
            for (var page = 1; page <= rows.Count / 3 + 1; page++)
                numbered.AddRange((await GetJsonAsync($"{url}&pageSize=3&page={page}")).GetProperty("items").EnumerateArray().Select(i => i.GetRawText()));
            Assert.Equal(rows.Select(r => r.Raw), numbered);
        }
        return totals;
    }
}
