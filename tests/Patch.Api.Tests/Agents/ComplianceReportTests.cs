using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Agents;

/// <summary>The compliance reports on a small fleet whose every number is known.</summary>
public class when_reporting_compliance_on_a_small_fleet(AppFixture app) : AppTest(app)
{
    private readonly Dictionary<string, string> _credentials = [];

    /// <summary>A computer enrols (once) and reports an inventory.</summary>
    private async Task ReportAsync(string token, string name, string version, string arch, bool server, string[] kbs)
    {
        using var client = App.Client();
        if (!_credentials.TryGetValue(name, out var credential))
        {
            var enrol = await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token, computerName = name, agentVersion = "0.1.0" }), Encoding.UTF8, "application/json"));
            credential = _credentials[name] = JsonDocument.Parse(await enrol.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString()!;
        }
        var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/inventory")
        {
            Content = new StringContent(JsonSerializer.Serialize(new
            {
                osCaption = "Microsoft Windows", osVersion = version, architecture = arch, servicePack = 0, isServer = server, cultures = new[] { "en-US" },
                softwareReleases = Array.Empty<string>(), installedKbs = kbs, agentVersion = "0.1.0",
            }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        Assert.True((await client.SendAsync(request)).IsSuccessStatusCode);
    }

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
        await App.ImportAsync("kev", File.ReadAllBytes(SharedData.RepoFile("demo/kev-demo.json")));
        using var client = App.Client();
        var response = await client.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"fleet","maxUses":10}""", Encoding.UTF8, "application/json"));
        var token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        await ReportAsync(token, "PC-A", "10.0.19045.3930", "x64", false, ["KB5034122"]);
        await ReportAsync(token, "PC-B", "10.0.19045", "x64", false, []);
        await ReportAsync(token, "SRV-C", "10.0.20348.2227", "x64", true, []);
        await ReportAsync(token, "PC-D", "10.0.22631.2861", "x64", false, []);
    }

    private static Dictionary<string, (int A, int I, int M, int S)> ByBulletin(JsonElement page) =>
        page.GetProperty("items").EnumerateArray().ToDictionary(i => i.GetProperty("bulletin").GetString()!, i =>
            (i.GetProperty("applicable").GetInt32(), i.GetProperty("installed").GetInt32(), i.GetProperty("missing").GetInt32(), i.GetProperty("superseded").GetInt32()));

    [Fact]
    public async Task by_bulletin_by_computer_and_by_update_with_exact_numbers_and_drill_down()
    {
        var bulletins = await GetJsonAsync("/api/reports/compliance/bulletins");
        Assert.Equal(6, bulletins.GetProperty("total").GetInt32());
        var counts = ByBulletin(bulletins);
        Assert.Equal((2, 0, 2, 0), counts["KB5034763"]);
        Assert.Equal((2, 0, 2, 0), counts["KB5034441"]);
        Assert.Equal((2, 1, 0, 1), counts["KB5034122"]);
        Assert.Equal((2, 1, 0, 1), counts["KB5033372"]);
        Assert.Equal((1, 1, 0, 0), counts["KB5034129"]);
        Assert.Equal((1, 0, 1, 0), counts["KB5034123"]);
        var feb = bulletins.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("bulletin").GetString() == "KB5034763");
        Assert.True(feb.GetProperty("knownExploited").GetBoolean());
        Assert.Equal("2024-03-05", feb.GetProperty("knownExploitedDueDate").GetString());
        Assert.Equal(0.0, feb.GetProperty("compliancePercent").GetDouble());
        // Superseded is compliant: a later update that is installed or applicable covers it.
        Assert.Equal(100.0, bulletins.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("bulletin").GetString() == "KB5034122").GetProperty("compliancePercent").GetDouble());
        Assert.Equal(1, (await GetJsonAsync("/api/reports/compliance/bulletins?knownExploited=true")).GetProperty("total").GetInt32());
        Assert.Equal(5, (await GetJsonAsync("/api/reports/compliance/bulletins?severity=Critical")).GetProperty("total").GetInt32());

        // Bulletin → the computers missing it → one computer's updates.
        var missingFeb = await GetJsonAsync("/api/reports/compliance/bulletins/KB5034763/computers?state=Missing");
        Assert.Equal(["PC-A", "PC-B"], missingFeb.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        var pcB = await GetJsonAsync("/api/reports/compliance/computers/PC-B/updates");
        Assert.Equal(["KB5033372:Superseded", "KB5034122:Superseded", "KB5034441:Missing", "KB5034763:Missing"],
            pcB.GetProperty("items").EnumerateArray().Select(i => $"{i.GetProperty("bulletinId").GetString()![10..]}:{i.GetProperty("state").GetString()}").Order());

        var computers = await GetJsonAsync("/api/reports/compliance/computers");
        Assert.Equal(["PC-A", "PC-B", "PC-D", "SRV-C"], computers.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        var a = computers.GetProperty("items")[0];
        Assert.Equal((4, 2, 2, 0), (a.GetProperty("applicable").GetInt32(), a.GetProperty("installed").GetInt32(), a.GetProperty("missing").GetInt32(), a.GetProperty("superseded").GetInt32()));
        Assert.Equal(1, a.GetProperty("missingCritical").GetInt32());
        Assert.Equal(1, a.GetProperty("missingImportant").GetInt32());

        var updates = await GetJsonAsync("/api/reports/compliance/updates?bulletin=KB5034763");
        var x64 = updates.GetProperty("items").EnumerateArray().Single();
        Assert.Equal("microsoft:KB5034763|KB5034763-win10-22h2-x64", x64.GetProperty("updateKey").GetString());
        Assert.Equal(2, x64.GetProperty("missing").GetInt32());
        var byUpdate = await GetJsonAsync($"/api/reports/compliance/updates/{Uri.EscapeDataString(x64.GetProperty("updateKey").GetString()!)}/computers");
        Assert.Equal(2, byUpdate.GetProperty("total").GetInt32());

        using var client = App.Client();
        var csv = await client.GetStringAsync("/api/reports/compliance/computers?format=csv");
        Assert.StartsWith("computerId,name,applicable,installed,missing,superseded,missingCritical,missingImportant,compliancePercent,analysedAt", csv);
        Assert.Equal(5, csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
        await GetJsonAsync("/api/reports/compliance/bulletins?sort=nonsense", 400);
        await GetJsonAsync("/api/reports/compliance/bulletins/KB5034763/computers?state=Broken", 400);
    }

    [Fact]
    public async Task vulnerabilities_not_reporting_agent_versions_and_the_home_page()
    {
        var vulnerabilities = (await GetJsonAsync("/api/reports/vulnerabilities")).EnumerateArray()
            .ToDictionary(v => v.GetProperty("severity").GetString()!, v => (v.GetProperty("bulletins").GetInt32(), v.GetProperty("missingInstalls").GetInt64(), v.GetProperty("computers").GetInt32()));
        Assert.Equal((2, 3L, 3), vulnerabilities["Critical"]);
        Assert.Equal((1, 2L, 2), vulnerabilities["Important"]);

        Assert.Equal(0, (await GetJsonAsync("/api/reports/computers-not-reporting?days=7")).GetProperty("total").GetInt32());
        App.Clock.Shift = TimeSpan.FromDays(10);
        Assert.Equal(4, (await GetJsonAsync("/api/reports/computers-not-reporting?days=7")).GetProperty("total").GetInt32());
        App.Clock.Shift = TimeSpan.Zero;
        await GetJsonAsync("/api/reports/computers-not-reporting?days=0", 400);

        // The dynamic target "computers requiring X" is filled by the analysis.
        Assert.Equal(["PC-A", "PC-B"], (await GetJsonAsync("/api/targets/builtin:requiring-update:KB5034763-win10-22h2-x64/members"))
            .GetProperty("computers").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(["PC-D"], (await GetJsonAsync("/api/targets/builtin:requiring-update:KB5034123-win11-23h2-x64/members"))
            .GetProperty("computers").EnumerateArray().Select(c => c.GetString()));

        var versions = await GetJsonAsync("/api/reports/agent-versions");
        Assert.Equal(4, versions.EnumerateArray().Single(v => v.GetProperty("version").GetString() == "0.1.0").GetProperty("computers").GetInt32());

        var home = await GetJsonAsync("/api/home");
        Assert.Equal(4, home.GetProperty("configuration").GetProperty("computersWithAgent").GetInt32());
        Assert.Equal("completed", home.GetProperty("configuration").GetProperty("lastCatalogImportResult").GetString());
        Assert.Equal(7, home.GetProperty("bulletins").GetProperty("available").GetInt32());
        Assert.Equal(2, home.GetProperty("bulletins").GetProperty("superseded").GetInt32());
        Assert.Equal(2, home.GetProperty("bulletins").GetProperty("knownExploited").GetInt32());
        Assert.Equal("KB5034441", home.GetProperty("topMissing")[0].GetProperty("bulletin").GetString());

        // The configuration summary's counts are kept as the computer rows are written (ADR 0037): they follow an agent
        // reset, the clock, and a rebuild of the rows, and always equal a count of the rows.
        async Task<(int, int, int, int)> ConfigurationAsync()
        {
            var c = (await GetJsonAsync("/api/home")).GetProperty("configuration");
            return (c.GetProperty("computers").GetInt32(), c.GetProperty("computersWithAgent").GetInt32(), c.GetProperty("computersWithoutAgent").GetInt32(),
                c.GetProperty("notReportingInventory").GetInt32());
        }
        Assert.Equal((4, 4, 0, 0), await ConfigurationAsync());
        App.Clock.Shift = TimeSpan.FromDays(10);
        Assert.Equal((4, 4, 0, 4), await ConfigurationAsync());
        App.Clock.Shift = TimeSpan.Zero;
        using (var client = App.Client()) Assert.Equal(204, (int)(await client.DeleteAsync("/api/computers/PC-B/agent")).StatusCode);
        Assert.Equal((4, 3, 1, 0), await ConfigurationAsync());
        await App.Host.Services.GetRequiredService<Marten.IDocumentStore>().Advanced.RebuildSingleStreamAsync<Patch.Projections.Computers.ComputerRow>(
            Patch.Domain.Computers.Computer.StreamId("PC-B"), TestContext.Current.CancellationToken);
        Assert.Equal((4, 3, 1, 0), await ConfigurationAsync());
    }

    [Fact]
    public async Task a_full_recomputation_equals_the_incremental_rows_and_a_new_catalog_is_analysed()
    {
        using var client = App.Client();
        string[] views = ["/api/reports/compliance/bulletins?pageSize=1000", "/api/reports/compliance/computers", "/api/reports/compliance/updates?pageSize=1000"];
        var live = new List<string>();
        foreach (var v in views) live.Add(await client.GetStringAsync(v));

        var run = JsonDocument.Parse(await (await client.PostAsync("/api/server-tasks/vulnerability-analysis/run?wait=true", null)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal(4, run.GetProperty("counts").GetProperty("computers").GetInt32());
        Assert.Equal(4 + 4 + 1 + 1, run.GetProperty("counts").GetProperty("rows").GetInt32());
        for (var i = 0; i < views.Length; i++)
            Assert.Equal(Strip(live[i]), Strip(await client.GetStringAsync(views[i])));

        // A new catalog changes the analysis: the import queues it for every computer. The real January 2024 document
        // adds its own updates of KB5034122 (per CVRF product id) for the same Windows 10 release as the demo's.
        var import = await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var triggered = false;
        for (var i = 0; i < 100 && !triggered; i++)
        {
            var runs = await GetJsonAsync("/api/server-tasks/runs?task=vulnerability-analysis");
            triggered = runs.GetProperty("items").EnumerateArray().Any(r => r.GetProperty("trigger").GetString() == $"catalog import {import.GetProperty("runId").GetString()}"
                                                                            && r.GetProperty("status").GetString() == "completed");
            if (!triggered) await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.True(triggered, "the import queued a vulnerability analysis");
        var after = ByBulletin(await GetJsonAsync("/api/reports/compliance/bulletins?pageSize=1000"));
        Assert.Equal((4, 2, 0, 2), after["KB5034122"]);
    }

    // analysedAt is the time of the analysis, not a fact about compliance.
    private static string Strip(string json) => System.Text.RegularExpressions.Regex.Replace(json, "\"(analysedAt|from|to)\":\"[^\"]*\"", "");

    [Fact]
    public async Task every_fleet_report_is_the_same_after_rebuilding_its_projections_and_the_analysis()
    {
        using var client = App.Client();
        string[] views =
        [
            "/api/reports/compliance/bulletins?pageSize=1000", "/api/reports/compliance/computers", "/api/reports/compliance/updates?pageSize=1000",
            "/api/reports/vulnerabilities", "/api/reports/computers-not-reporting?days=1", "/api/reports/agent-versions", "/api/home",
            "/api/computers", "/api/enrolment-tokens", "/api/reports/compliance/computers/PC-B/updates",
        ];
        var live = new List<string>();
        foreach (var v in views) live.Add(Strip(await client.GetStringAsync(v)));

        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            foreach (var projection in new[] { "Computer", "EnrolmentToken", "Bulletin", "BulletinRow", "KnownExploitedVulnerability", "ServerTaskRun" })
                await daemon.RebuildProjectionAsync(projection, TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        }
        await client.PostAsync("/api/server-tasks/vulnerability-analysis/run?wait=true", null);

        for (var i = 0; i < views.Length; i++)
        {
            Assert.Equal(live[i], Strip(await client.GetStringAsync(views[i])));
        }
        Assert.StartsWith("severity,bulletins,missingInstalls,computers", await client.GetStringAsync("/api/reports/vulnerabilities?format=csv"));
    }

    /// <summary>
    /// The drill-downs page by cursor in name order: following 'next' from page 1 gives every row once, in the order
    /// the numbered pages give them (names ascending or descending, a computer's updates in update order), and the last
    /// page has no 'next'. A cursor with another sort, beside page=, or not one a report gave, is a 400 naming it.
    /// </summary>
    [Fact]
    public async Task drill_downs_page_by_cursor_as_they_page_by_number()
    {
        static List<string> Rows(JsonElement page) => page.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()).ToList();
        foreach (var url in new[] { "/api/reports/compliance/computers/PC-B/updates", "/api/reports/compliance/bulletins/KB5034763/computers",
                     "/api/reports/compliance/bulletins/KB5034122/computers?sort=-name" })
        {
            var join = url.Contains('?') ? '&' : '?';
            var all = Rows(await GetJsonAsync($"{url}{join}pageSize=100"));
            Assert.True(all.Count >= 2, url);
            var numbered = new List<string>();
            for (var page = 1; page <= all.Count; page++) numbered.AddRange(Rows(await GetJsonAsync($"{url}{join}pageSize=1&page={page}")));
            Assert.Equal(all, numbered);

            Assert.Equal(all, await WalkByCursorAsync(url, 1, all.Count));
        }

        var first = await GetJsonAsync("/api/reports/compliance/computers/PC-B/updates?pageSize=1");
        var next = first.GetProperty("next").GetString();
        Assert.Contains("after:", (await GetJsonAsync($"/api/reports/compliance/computers/PC-B/updates?sort=state&after={next}", 400)).GetProperty("detail").GetString());
        Assert.Contains("after and page", (await GetJsonAsync($"/api/reports/compliance/computers/PC-B/updates?page=2&after={next}", 400)).GetProperty("detail").GetString());
        Assert.Contains("pageSize=1", (await GetJsonAsync($"/api/reports/compliance/computers/PC-B/updates?pageSize=2&after={next}", 400)).GetProperty("detail").GetString());
        Assert.Contains("not a cursor", (await GetJsonAsync("/api/reports/compliance/computers/PC-B/updates?after=bm90LWEtY3Vyc29y", 400)).GetProperty("detail").GetString());
        await GetJsonAsync("/api/reports/compliance/computers/PC-B/updates?after=%00", 400);

        // The computers list pages by cursor in name order too; a drill-down's cursor is not one of its cursors.
        var computers = await GetJsonAsync("/api/computers?pageSize=1");
        var after = computers.GetProperty("next").GetString();
        Assert.Contains("sorted by name; ask with sort=name", (await GetJsonAsync($"/api/computers?sort=agentVersion&pageSize=1&after={after}", 400)).GetProperty("detail").GetString());
        Assert.Contains("sort=name", (await GetJsonAsync($"/api/computers?sort=-name&pageSize=1&after={after}", 400)).GetProperty("detail").GetString());
        Assert.Contains("after and page", (await GetJsonAsync($"/api/computers?page=2&after={after}", 400)).GetProperty("detail").GetString());
        Assert.Contains("pageSize=1", (await GetJsonAsync($"/api/computers?pageSize=2&after={after}", 400)).GetProperty("detail").GetString());
        Assert.Contains("not a cursor", (await GetJsonAsync($"/api/computers?pageSize=1&after={next}", 400)).GetProperty("detail").GetString());
        Assert.Contains("not a cursor", (await GetJsonAsync($"/api/reports/compliance/computers/PC-B/updates?pageSize=1&after={after}", 400)).GetProperty("detail").GetString());
        Assert.Contains("'after' is given without a value", (await GetJsonAsync("/api/computers?after=", 400)).GetProperty("detail").GetString());
        var byVersion = (await GetJsonAsync("/api/computers?sort=agentVersion&pageSize=1")).GetProperty("next").GetString();
        Assert.Contains("sorted by agentVersion", (await GetJsonAsync($"/api/computers?pageSize=1&after={byVersion}", 400)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task computers_sorted_by_a_counter_page_through_their_shapes_in_order_then_by_name()
    {
        using (var client = App.Client())
        {
            var response = await client.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"more","maxUses":10}""", Encoding.UTF8, "application/json"));
            var token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
            // Computers of one inventory share a shape (ADR 0035): groups of several members, pages cutting through them.
            await ReportAsync(token, "PC-E", "10.0.19045", "x64", false, []);
            await ReportAsync(token, "AA-B2", "10.0.19045", "x64", false, []);
            await ReportAsync(token, "ZZ-A2", "10.0.19045.3930", "x64", false, ["KB5034122"]);
            await ReportAsync(token, "SRV-C2", "10.0.20348.2227", "x64", true, []);
        }
        var all = (await GetJsonAsync("/api/reports/compliance/computers?sort=name&pageSize=100")).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(8, all.Count);
        foreach (var (sort, field) in new[] { ("-missing", "missing"), ("missing", "missing"), ("applicable", "applicable"), ("-compliance", "compliancePercent"), ("installed", "installed"),
                     ("-missingCritical", "missingCritical") })
        {
            var descending = sort.StartsWith('-');
            var expected = (descending ? all.OrderByDescending(c => c.GetProperty(field).GetDouble()) : all.OrderBy(c => c.GetProperty(field).GetDouble()))
                .ThenBy(c => c.GetProperty("name").GetString(), StringComparer.Ordinal).Select(c => c.GetRawText()).ToList();
            foreach (var size in new[] { 1, 3, 5 })
            {
                var seen = new List<string>();
                for (var page = 1; page <= (8 + size - 1) / size; page++)
                {
                    var answer = await GetJsonAsync($"/api/reports/compliance/computers?sort={sort}&pageSize={size}&page={page}");
                    Assert.Equal(8, answer.GetProperty("total").GetInt64());
                    seen.AddRange(answer.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()));
                }
                Assert.Equal(expected, seen);
            }
        }
        Assert.Empty((await GetJsonAsync("/api/reports/compliance/computers?pageSize=5&page=3")).GetProperty("items").EnumerateArray());
    }

    /// <summary>
    /// A numbered page in name order starts from the name bucket its first row is in (ADR 0038; the tests cut buckets of
    /// two rows, split past four): every drill-down, the computers by a counter and the computers list give, page by page,
    /// exactly the rows of one long page — ascending, descending, filtered by state and family — before and after
    /// computers move between shapes, and the buckets count exactly the rows.
    /// </summary>
    [Fact]
    public async Task numbered_pages_start_from_their_name_bucket_and_give_the_rows_of_one_long_page()
    {
        using (var client = App.Client())
        {
            var response = await client.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"more","maxUses":40}""", Encoding.UTF8, "application/json"));
            var token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
            string[][] levels = [[], ["KB5034122"], ["KB5034763"], ["KB5034122", "KB5034763"]];
            for (var i = 0; i < 18; i++)
                await ReportAsync(token, $"{(char)('A' + i * 7 % 18)}{i % 3}-WS", i % 4 == 3 ? "10.0.22631.2861" : "10.0.19045.3930", "x64", false, levels[i % 4]);

            var first = await AssertPagesAsync();
            // Computers move between shapes (and buckets lose and gain members, and are cut again); the pages follow.
            for (var i = 0; i < 18; i += 3)
                await ReportAsync(token, $"{(char)('A' + i * 7 % 18)}{i % 3}-WS", "10.0.19045.4046", "x64", false, levels[(i + 1) % 4]);
            var before = await AssertPagesAsync();
            Assert.NotEqual(first, before);
            await Task.Delay(50, TestContext.Current.CancellationToken);
            var then = DateTimeOffset.UtcNow;
            await Task.Delay(50, TestContext.Current.CancellationToken);
            // The first computer by name moves once more and one more computer arrives (few versions since then: the buckets'
            // counts and the computers' number then are worked out from them).
            await ReportAsync(token, "A0-WS", "10.0.22631.2861", "x64", false, levels[2]);
            await ReportAsync(token, "AA9-WS", "10.0.19045.3930", "x64", false, levels[1]);
            Assert.NotEqual(before, await AssertPagesAsync());
            // Asked asOf the instant before it moved: the rows then, page by page (the buckets' counts then: ADR 0038).
            Assert.Equal(before, await AssertPagesAsync(then));

            // Checkpoints of both tables' buckets now (ADR 0040), then more computers move than a page could count from
            // today's counts: asked about the same instant, the pages count from the checkpoints instead of walking.
            await using (var take = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
                             "select patch.compliance_member_checkpoint_take(now()) and patch.computer_row_checkpoint_take(now())"))
                Assert.True((bool)(await take.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);
            for (var i = 1; i < 18; i += 2)
                await ReportAsync(token, $"{(char)('A' + i * 7 % 18)}{i % 3}-WS", "10.0.22631.2861", "x64", false, levels[(i + 2) % 4]);
            Assert.Equal(before, await AssertPagesAsync(then));
        }

        // The buckets hold exactly the rows: each bucket's count per shape, and its total, recounted from the rows.
        foreach (var buckets in new[] { Patch.Projections.NameBuckets.Members, Patch.Projections.NameBuckets.Computers })
        {
            var (table, name, shape) = ($"patch.{buckets.Table}", buckets.Name, buckets.Shape is { } template ? string.Format(template, "m") : "''::text");
            await using var check = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand($"""
                with b as (select lo_name, lead(lo_name) over (order by lo_name) hi from patch.{buckets.Bounds}),
                     recount as (select b.lo_name, {shape} shape, count(*) n from {table} m join b on m.{name} >= b.lo_name and (b.hi is null or m.{name} < b.hi) group by 1, 2)
                select (select count(*) from patch.{buckets.Bounds}),
                       (select count(*) from recount r full join patch.{buckets.Buckets} k on k.lo_name = r.lo_name and k.shape = r.shape where r.n is distinct from k.members),
                       (select count(*) from b join patch.{buckets.Bounds} x using (lo_name)
                        where x.members <> (select count(*) from {table} m where m.{name} >= b.lo_name and (b.hi is null or m.{name} < b.hi)))
                """);
            await using var reader = await check.ExecuteReaderAsync(TestContext.Current.CancellationToken);
            await reader.ReadAsync(TestContext.Current.CancellationToken);
            Assert.True(reader.GetInt64(0) >= 4, $"{buckets.Prefix}: {reader.GetInt64(0)} buckets, too few to cut pages");
            Assert.Equal(0, reader.GetInt64(1));
            Assert.Equal(0, reader.GetInt64(2));
        }
    }

    /// <summary>Checks every URL's numbered pages (now, or asOf the instant) against its long page; answers the long pages' rows.</summary>
    private async Task<List<string>> AssertPagesAsync(DateTimeOffset? asOf = null)
    {
        static List<string> Rows(JsonElement page) => page.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()).ToList();
        var every = new List<string>();
        var at = asOf is { } instant ? $"asOf={Uri.EscapeDataString(instant.ToString("O"))}&" : "";
        foreach (var url in new[]
                 {
                     "/api/reports/compliance/bulletins/KB5034763/computers", "/api/reports/compliance/bulletins/KB5034763/computers?sort=-name",
                     "/api/reports/compliance/bulletins/KB5034763/computers?state=Missing", "/api/reports/compliance/bulletins/KB5034763/computers?sort=-name&state=Installed",
                     "/api/reports/compliance/bulletins/KB5034122/computers?sort=-name",
                     "/api/reports/compliance/bulletins/KB5034763/computers?family=windows",
                     "/api/reports/compliance/updates/microsoft%3AKB5034763%7CKB5034763-win10-22h2-x64/computers?sort=-name",
                     "/api/reports/compliance/computers", "/api/reports/compliance/computers?sort=compliance",
                     "/api/computers", "/api/computers?sort=-name", "/api/computers?q=1-", "/api/computers?sort=-name&os=microsoft",
                     "/api/computers?sort=agentVersion", "/api/computers?sort=-lastInventoryAt&q=-ws", "/api/computers?sort=enrolledAt", "/api/computers?sort=-enrolledAt",
                 })
        {
            var join = (url.Contains('?') ? "&" : "?") + at;
            var all = await GetJsonAsync($"{url}{join}pageSize=500");
            var expected = Rows(all);
            every.AddRange(expected);
            Assert.True(expected.Count >= 4, $"{url}: {expected.Count} rows");
            foreach (var size in new[] { 1, 2, 3, 5 })
            {
                var numbered = new List<string>();
                for (var page = 1; page <= (expected.Count + size - 1) / size + 1; page++)
                {
                    var answer = await GetJsonAsync($"{url}{join}pageSize={size}&page={page}");
                    Assert.Equal(expected.Count, answer.GetProperty("total").GetInt64());
                    numbered.AddRange(Rows(answer));
                }
                Assert.Equal(expected, numbered);
                // Page after page by cursor (the drill-downs in name order, the computers list in any): the same rows (the
                // compliance by computer pages by number only).
                if (url.StartsWith("/api/reports/compliance/computers", StringComparison.Ordinal)) continue;
                var walkFrom = at.Length == 0 ? url : $"{url}{(url.Contains('?') ? '&' : '?')}{at.TrimEnd('&')}";
                Assert.Equal(expected, await WalkByCursorAsync(walkFrom, size, expected.Count));
            }
        }
        return every;
    }
}
