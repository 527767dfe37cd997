using System.Net;
using System.Text.Json;
using Marten;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;

namespace Patch.Api.Tests.RemediationCenter;

public class when_browsing_the_patch_remediation_center(AppFixture app) : AppTest(app)
{
    private static readonly Lazy<int> DistinctKbs = new(() =>
    {
        using var a = SharedData.Open(SharedData.Cvrf2023);
        using var b = SharedData.Open(SharedData.Cvrf2024);
        return CvrfCatalogReader.Read(a).Bulletins.Concat(CvrfCatalogReader.Read(b).Bulletins).Select(x => x.StreamId).Distinct().Count();
    });

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        await App.ImportAsync("kev", SharedData.Bytes(SharedData.Kev));
    }

    [Fact]
    public async Task the_list_has_every_column_and_filters_by_severity_vendor_and_keyword()
    {
        var all = await GetJsonAsync("/api/bulletins?pageSize=1000");
        Assert.Equal(DistinctKbs.Value, all.GetProperty("total").GetInt32());
        var row = all.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("bulletin").GetString() == "KB5022282");
        foreach (var column in new[] { "id", "bulletin", "vendor", "severity", "customSeverity", "staged", "policies", "updates", "downloaded", "released", "revised", "description", "title", "cveCount", "knownExploited", "supersededBy" })
            Assert.True(row.TryGetProperty(column, out _), $"missing column {column}");
        Assert.Equal("microsoft:KB5022282", row.GetProperty("id").GetString());
        Assert.Equal("Microsoft", row.GetProperty("vendor").GetString());
        Assert.Equal(64, row.GetProperty("cveCount").GetInt32());
        Assert.Equal(8, row.GetProperty("updates").GetInt32());
        Assert.False(row.GetProperty("staged").GetBoolean());
        Assert.True(row.GetProperty("knownExploited").GetBoolean());

        var critical = await GetJsonAsync("/api/bulletins?severity=Critical&pageSize=1000");
        Assert.Equal(30 + 14, critical.GetProperty("total").GetInt32());
        Assert.All(critical.GetProperty("items").EnumerateArray(), i => Assert.Equal("Critical", i.GetProperty("severity").GetString()));

        Assert.Equal(1, (await GetJsonAsync("/api/bulletins?q=KB5022282")).GetProperty("total").GetInt32());
        Assert.Equal(1, (await GetJsonAsync("/api/bulletins?q=5022282")).GetProperty("total").GetInt32());
        var byCve = await GetJsonAsync("/api/bulletins?q=CVE-2023-21674");
        Assert.Contains(byCve.GetProperty("items").EnumerateArray(), i => i.GetProperty("bulletin").GetString() == "KB5022282");
        Assert.Equal(0, (await GetJsonAsync("/api/bulletins?vendor=Contoso")).GetProperty("total").GetInt32());
        Assert.Equal(DistinctKbs.Value, (await GetJsonAsync("/api/bulletins?vendor=microsoft")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task the_keyword_matches_number_title_or_description_in_any_case_never_across_them_and_the_same_as_of()
    {
        var items = (await GetJsonAsync("/api/bulletins?pageSize=1000")).GetProperty("items").EnumerateArray()
            .Select(i => (Bulletin: i.GetProperty("bulletin").GetString()!, Title: i.GetProperty("title").GetString()!, Description: i.GetProperty("description").GetString() ?? ""))
            .ToList();
        var at = Uri.EscapeDataString(DateTimeOffset.UtcNow.ToString("O"));
        var withDescription = items.First(i => i.Description.Length > 40);
        var queries = new[]
        {
            "kERBEROS", "monthly ROLLUP", "remote code execution", "%", "_", "kb50", "x64-BASED",
            // The end of a title and the start of its description: in neither alone, so no match from that bulletin.
            withDescription.Title[^4..] + withDescription.Description[..4],
        };
        foreach (var q in queries)
        {
            var expected = items.Where(i => new[] { i.Bulletin, i.Title, i.Description }.Any(f => f.Contains(q, StringComparison.OrdinalIgnoreCase)))
                .Select(i => i.Bulletin).Order(StringComparer.Ordinal).ToList();
            foreach (var asOf in new[] { "", $"&asOf={at}" })
            {
                var found = (await GetJsonAsync($"/api/bulletins?pageSize=1000&sort=bulletin&q={Uri.EscapeDataString(q)}{asOf}")).GetProperty("items").EnumerateArray()
                    .Select(i => i.GetProperty("bulletin").GetString()!).ToList();
                // A CVE id typed whole also finds the bulletins that fix it; none of these is one.
                Assert.True(expected.SequenceEqual(found), $"q={q}{asOf}: expected {string.Join(",", expected)}; found {string.Join(",", found)}");
            }
        }
        Assert.Contains(items, i => i.Description.Contains("Kerberos", StringComparison.Ordinal));
        // The separator between the three is a control character, refused in any query.
        await GetJsonAsync($"/api/bulletins?q={Uri.EscapeDataString(withDescription.Title[^4..] + "\u001f" + withDescription.Description[..4])}", 400);
    }

    [Fact]
    public async Task sorting_and_paging_walk_the_same_rows_once()
    {
        var pages = new List<string>();
        for (var page = 1; page <= 4; page++)
        {
            var json = await GetJsonAsync($"/api/bulletins?sort=bulletin&page={page}&pageSize=25");
            pages.AddRange(json.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("bulletin").GetString()!));
        }
        Assert.Equal(DistinctKbs.Value, pages.Count);
        Assert.Equal(pages.Order(StringComparer.Ordinal), pages);

        var bySeverity = await GetJsonAsync("/api/bulletins?sort=-severity&pageSize=1000");
        var ranks = bySeverity.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("severity").GetString()).ToList();
        Assert.Equal("Critical", ranks[0]);
        Assert.True(ranks.IndexOf("Important") > ranks.LastIndexOf("Critical"));
    }

    [Fact]
    public async Task views_ranges_and_group_counts()
    {
        var latest = await GetJsonAsync("/api/bulletins?view=latest&pageSize=1000");
        Assert.Equal(37, latest.GetProperty("total").GetInt32());
        var y2023 = await GetJsonAsync("/api/bulletins?releasedFrom=2023-01-01&releasedTo=2023-12-31&groupBy=severity");
        Assert.Equal(39, y2023.GetProperty("total").GetInt32());
        var groups = y2023.GetProperty("groups").EnumerateArray().ToDictionary(g => g.GetProperty("key").GetString()!, g => g.GetProperty("count").GetInt32());
        Assert.Equal(30, groups["Critical"]);
        Assert.Equal(9, groups["Important"]);
        Assert.Equal(0, (await GetJsonAsync("/api/bulletins?view=lastMonth")).GetProperty("total").GetInt32());
        var staged = await GetJsonAsync("/api/bulletins?staged=false&groupBy=staged");
        Assert.Equal(DistinctKbs.Value, staged.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task save_as_csv_returns_the_same_rows()
    {
        using var client = App.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/bulletins?severity=Important&sort=bulletin");
        request.Headers.Accept.ParseAdd("text/csv");
        var response = await client.SendAsync(request);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("id,bulletin,vendor,severity,customSeverity,staged,policies,updates,downloaded,released,revised,title", lines[0]);
        var json = await GetJsonAsync("/api/bulletins?severity=Important&sort=bulletin&pageSize=1000");
        Assert.Equal(json.GetProperty("total").GetInt32(), lines.Length - 1);
        var bulletins = json.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("bulletin").GetString()).ToList();
        Assert.Equal(bulletins, lines.Skip(1).Select(l => l.Split(',')[1]));

        var byFormat = await client.GetStringAsync("/api/bulletins?format=csv&page=1&pageSize=5");
        Assert.Equal(6, byFormat.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Theory]
    [InlineData("severity=Urgent", "severity: 'Urgent'")]
    [InlineData("sort=color", "sort: 'color'")]
    [InlineData("pageSize=5000", "pageSize")]
    [InlineData("staged=maybe", "staged: 'maybe'")]
    [InlineData("releasedFrom=yesterday", "releasedFrom")]
    [InlineData("view=thisWeek", "view")]
    public async Task a_bad_query_is_a_400_problem_naming_the_parameter(string query, string detail)
    {
        var problem = await GetJsonAsync($"/api/bulletins?{query}", 400);
        Assert.Contains(detail, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task bulletin_details_show_updates_cves_and_supersedence_both_ways()
    {
        var details = await GetJsonAsync("/api/bulletins/microsoft:KB5022282");
        Assert.Equal(8, details.GetProperty("updates").GetArrayLength());
        Assert.Equal(64, details.GetProperty("cves").GetArrayLength());
        Assert.Equal(["KB5021233"], details.GetProperty("supersedes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("cvrf:2023-Jan", details.GetProperty("source").GetString());
        await GetJsonAsync("/api/bulletins/KB0000001", 404);
    }

    [Fact]
    public async Task rebuilding_the_remediation_center_from_the_event_log_gives_the_same_rows()
    {
        using var client = App.Client();
        var live = await client.GetStringAsync("/api/bulletins?pageSize=1000&sort=bulletin");
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            await daemon.RebuildProjectionAsync("BulletinRow", TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
            await daemon.RebuildProjectionAsync("Bulletin", TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        }
        var rebuilt = await client.GetStringAsync("/api/bulletins?pageSize=1000&sort=bulletin");
        Assert.Equal(live, rebuilt);
        Assert.Equal(DistinctKbs.Value, JsonDocument.Parse(rebuilt).RootElement.GetProperty("total").GetInt32());
    }
}
