using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.RemediationCenter;

/// <summary>
/// The Remediation Center's list keeps its cross-bulletin columns (superseded by, known exploited) as their facts change
/// (ADR 0029): they equal what a derivation of the whole list from the documents gives, and what the same list asked
/// <c>asOf</c> now derives from the versions of the documents.
/// </summary>
public class when_the_facts_behind_the_remediation_center_change(AppFixture app) : AppTest(app)
{
    private static byte[] Catalog(string id, params object[] bulletins) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        schemaVersion = "1.0", catalogId = id, vendors = new[] { new { id = "ms", name = "Microsoft" } }, products = Array.Empty<object>(), bulletins,
    });

    private static object Bulletin(string id, string revised, string[] supersedes, string[]? cves = null) => new
    {
        id, vendor = "ms", title = $"Bulletin {id}", severity = "Important", released = "2025-01-14", revised, supersedes, cves = cves ?? [],
    };

    private static byte[] Kev(params (string Cve, string Due)[] entries) => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
    {
        catalogVersion = "2025.01.20", vulnerabilities = entries.Select(e => new
        {
            cveID = e.Cve, vendorProject = "Microsoft", product = "Windows", vulnerabilityName = "Test", dateAdded = "2025-01-15", dueDate = e.Due,
        }),
    }));

    private async Task<Dictionary<string, JsonElement>> RowsAsync(string query = "")
    {
        var page = await GetJsonAsync($"/api/bulletins?pageSize=1000&sort=bulletin{query}");
        return page.GetProperty("items").EnumerateArray().ToDictionary(i => i.GetProperty("bulletin").GetString()!, i => i.Clone());
    }

    private static string[] SupersededBy(JsonElement row) => row.GetProperty("supersededBy").EnumerateArray().Select(s => s.GetString()!).ToArray();

    [Fact]
    public async Task supersedence_and_known_exploited_follow_revisions_and_equal_a_derivation_from_scratch()
    {
        // KEV first: bulletins imported later that fix a listed CVE are known exploited at once.
        await App.ImportAsync("kev", Kev(("CVE-2025-0001", "2025-02-05"), ("CVE-2025-0002", "2025-02-01")));
        await App.ImportAsync("patch", Catalog("first",
            Bulletin("KB9700001", "2025-01-14", []),
            Bulletin("KB9700002", "2025-01-14", [], ["cve-2025-0001"]),
            Bulletin("KB9700003", "2025-01-14", ["KB9700001", "KB9600000"], ["CVE-2025-0001", "CVE-2025-0002"]),
            Bulletin("KB9700004", "2025-01-14", ["KB9700001"])));
        var rows = await RowsAsync();
        Assert.Equal(["KB9700003", "KB9700004"], SupersededBy(rows["KB9700001"]));
        Assert.True(rows["KB9700001"].GetProperty("knownExploited").GetBoolean() is false);
        Assert.True(rows["KB9700002"].GetProperty("knownExploited").GetBoolean(), "a CVE written in lower case is the same CVE");
        Assert.Equal("2025-02-01", rows["KB9700003"].GetProperty("knownExploitedDueDate").GetString());
        Assert.Equal(["KB9700001"], (await RowsAsync("&superseded=true")).Keys);

        // A revision drops KB9700001 from KB9700003's list and names KB9700002 instead.
        await App.ImportAsync("patch", Catalog("revision", Bulletin("KB9700003", "2025-02-11", ["KB9700002"], ["CVE-2025-0002"])));
        rows = await RowsAsync();
        Assert.Equal(["KB9700004"], SupersededBy(rows["KB9700001"]));
        Assert.Equal(["KB9700003"], SupersededBy(rows["KB9700002"]));
        Assert.Equal(["KB9700001", "KB9700002"], (await RowsAsync("&superseded=true")).Keys);

        // A later KEV entry for a CVE already in the catalog.
        await App.ImportAsync("kev", Kev(("CVE-2025-0001", "2025-02-05"), ("CVE-2025-0002", "2025-02-01"), ("CVE-2025-0003", "2025-03-01")));
        await App.ImportAsync("patch", Catalog("third", Bulletin("KB9700005", "2025-03-11", ["KB9700004"], ["CVE-2025-0003"])));
        rows = await RowsAsync();
        Assert.True(rows["KB9700005"].GetProperty("knownExploited").GetBoolean());
        Assert.Equal(["KB9700005"], SupersededBy(rows["KB9700004"]));
        var home = (await GetJsonAsync("/api/home")).GetProperty("bulletins");
        Assert.Equal(5, home.GetProperty("available").GetInt32());
        Assert.Equal(3, home.GetProperty("superseded").GetInt32());
        Assert.Equal(3, home.GetProperty("knownExploited").GetInt32());
        Assert.Equal(["KB9700003"], (await GetJsonAsync("/api/bulletins/KB9700002")).GetProperty("supersededBy").EnumerateArray().Select(s => s.GetString()));

        // The same list derived from the versions of the documents (asOf now), and derived again from scratch.
        using var client = App.Client();
        var live = await client.GetStringAsync("/api/bulletins?pageSize=1000&sort=bulletin", TestContext.Current.CancellationToken);
        var at = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddSeconds(1).ToString("O"));
        await Task.Delay(1100, TestContext.Current.CancellationToken);
        Assert.Equal(live, await client.GetStringAsync($"/api/bulletins?pageSize=1000&sort=bulletin&asOf={at}", TestContext.Current.CancellationToken));
        var db = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>();
        await using (var empty = db.CreateCommand($"delete from patch.{Patch.Projections.Catalog.BulletinList.Table}")) await empty.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        await Patch.Projections.Catalog.BulletinList.EnsureAsync(db, TestContext.Current.CancellationToken);
        Assert.Equal(live, await client.GetStringAsync("/api/bulletins?pageSize=1000&sort=bulletin", TestContext.Current.CancellationToken));
    }
}
