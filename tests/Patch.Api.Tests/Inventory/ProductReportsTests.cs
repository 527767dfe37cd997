using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Inventory;

namespace Patch.Api.Tests.Inventory;

/// <summary>Products beyond the OS through the API: a computer's products, the product family in every compliance report and the filters by family.</summary>
public class when_reports_show_product_families(AppFixture app) : AppTest(app)
{
    private async Task<(HttpStatusCode Status, JsonElement Body)> AgentAsync(string url, object body, string? bearer = null)
    {
        using var client = App.Client();
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<string> EnrolAsync(string name)
    {
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "products", maxUses = 5 });
        var (status, enrolled) = await AgentAsync("/agent/v1/enrol", new { token = token.GetProperty("token").GetString(), computerName = name, agentVersion = "0.1.0" });
        Assert.Equal(HttpStatusCode.OK, status);
        return enrolled.GetProperty("credential").GetString()!;
    }

    private static object Inventory(object[] products)
    {
        var os = SystemInfoParser.Parse(SharedData.Bytes("windows-inventory/wesng-validation/srv_2019_rtm_datacenter_en-us_systeminfo.txt"));
        return new
        {
            osCaption = os.Caption, osVersion = os.Version, architecture = os.Architecture, servicePack = os.ServicePack, isServer = os.IsServer,
            cultures = new[] { "en-US" }, softwareReleases = Array.Empty<string>(), installedKbs = os.InstalledKbs, agentVersion = "0.1.0", products,
        };
    }

    private static readonly object Sql = new
    {
        family = "sqlserver", name = "Microsoft SQL Server 2019 (MSSQLSERVER)", version = "15.0.2000.5", architecture = "x64",
        source = @"registry HKLM\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL15.MSSQLSERVER\Setup (PatchLevel 15.0.2000.5)",
    };

    [Fact]
    public async Task a_computer_lists_its_products_and_every_report_shows_and_filters_the_family()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var credential = await EnrolAsync("SRV-2019");
        Assert.Equal(HttpStatusCode.OK, (await AgentAsync("/agent/v1/inventory", Inventory([Sql]), credential)).Status);

        var products = (await GetJsonAsync("/api/computers/SRV-2019/products")).EnumerateArray().ToList();
        var netfx = Assert.Single(products, p => p.GetProperty("family").GetString() == "netfx");
        Assert.Equal("4.7.2", netfx.GetProperty("version").GetString());
        Assert.True(netfx.GetProperty("inferred").GetBoolean());
        Assert.Equal("inferred from Windows 10.0.17763", netfx.GetProperty("source").GetString());
        var sql = Assert.Single(products, p => p.GetProperty("family").GetString() == "sqlserver");
        Assert.False(sql.GetProperty("inferred").GetBoolean());
        Assert.StartsWith(@"registry HKLM\SOFTWARE\Microsoft\Microsoft SQL Server", sql.GetProperty("source").GetString(), StringComparison.Ordinal);

        var updates = (await GetJsonAsync("/api/reports/compliance/updates?family=netfx&pageSize=1000")).GetProperty("items").EnumerateArray().ToList();
        Assert.NotEmpty(updates);
        Assert.All(updates, u => Assert.Equal("netfx", u.GetProperty("family").GetString()));
        Assert.All(updates, u => Assert.Contains(".NET Framework", u.GetProperty("product").GetString(), StringComparison.Ordinal));
        var windows = (await GetJsonAsync("/api/reports/compliance/updates?family=windows&pageSize=1000")).GetProperty("items").EnumerateArray().ToList();
        Assert.All(windows, u => Assert.StartsWith("Windows Server 2019", u.GetProperty("product").GetString(), StringComparison.Ordinal));

        var bulletins = (await GetJsonAsync("/api/reports/compliance/bulletins?family=netfx")).GetProperty("items").EnumerateArray().ToList();
        Assert.NotEmpty(bulletins);
        Assert.All(bulletins, b => Assert.Contains("netfx", b.GetProperty("families").EnumerateArray().Select(f => f.GetString())));

        var all = (await GetJsonAsync("/api/reports/compliance/computers")).GetProperty("items")[0];
        var onlyNetfx = (await GetJsonAsync("/api/reports/compliance/computers?family=netfx")).GetProperty("items")[0];
        Assert.Equal(updates.Sum(u => u.GetProperty("applicable").GetInt32()), onlyNetfx.GetProperty("applicable").GetInt32());
        Assert.True(onlyNetfx.GetProperty("applicable").GetInt32() < all.GetProperty("applicable").GetInt32());
        Assert.Empty((await GetJsonAsync("/api/reports/compliance/computers?family=exchange")).GetProperty("items").EnumerateArray());

        var drill = (await GetJsonAsync("/api/reports/compliance/computers/SRV-2019/updates?family=netfx&pageSize=1000")).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(updates.Count, drill.Count);
        var mine = (await GetJsonAsync("/api/computers/SRV-2019/updates")).GetProperty("updates").EnumerateArray().ToList();
        Assert.Contains(mine, u => u.GetProperty("family").GetString() == "netfx");

        var families = (await GetJsonAsync("/api/reports/vulnerabilities/families")).EnumerateArray().ToList();
        Assert.Contains(families, f => f.GetProperty("family").GetString() == "netfx" && f.GetProperty("displayName").GetString() == ".NET Framework");
        var netfxSeverities = (await GetJsonAsync("/api/reports/vulnerabilities?family=netfx")).EnumerateArray().ToList();
        Assert.Equal(families.Single(f => f.GetProperty("family").GetString() == "netfx").GetProperty("missingInstalls").GetInt64(),
            netfxSeverities.Sum(s => s.GetProperty("missingInstalls").GetInt64()));

        var center = (await GetJsonAsync("/api/bulletins?family=netfx&pageSize=1000")).GetProperty("items").EnumerateArray().ToList();
        Assert.NotEmpty(center);
        Assert.All(center, b => Assert.Contains("netfx", b.GetProperty("families").EnumerateArray().Select(f => f.GetString())));
    }

    [Fact]
    public async Task a_store_analysed_per_computer_before_shapes_is_rebuilt_from_its_events_at_start()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        Assert.Equal(HttpStatusCode.OK, (await AgentAsync("/agent/v1/inventory", Inventory([Sql]), await EnrolAsync("SRV-OLD"))).Status);
        // The import queued a fleet analysis: let it finish first.
        for (var i = 0; i < 300; i++)
        {
            var runs = (await GetJsonAsync("/api/server-tasks/runs?task=vulnerability-analysis")).GetProperty("items").EnumerateArray().ToList();
            if (runs.Count > 0 && runs.All(r => r.TryGetProperty("ended", out var ended) && ended.ValueKind != JsonValueKind.Null)) break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        var before = (await GetJsonAsync("/api/reports/compliance/computers?family=netfx")).GetProperty("items")[0].GetRawText();
        var rows = await App.ComplianceRowsAsync();
        Assert.NotEqual("[]", rows);
        var source = (Npgsql.NpgsqlDataSource)App.Host.Services.GetService(typeof(Npgsql.NpgsqlDataSource))!;
        // A store of the previous schema: compliance_state was a table of rows per computer (ADR 0010), here empty.
        await using (var cmd = source.CreateCommand("""
            drop view patch.compliance_state cascade; create table patch.compliance_state (computer_id text not null, update_key text not null);
            truncate patch.compliance_member, patch.compliance_shape, patch.compliance_shape_state, patch.compliance_bulletin, patch.compliance_update;
            """))
            await cmd.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);

        await Patch.Projections.ReadModelSchema.EnsureAsync(source, App.Host.Services.GetRequiredService<Marten.IDocumentStore>(), TestContext.Current.CancellationToken);
        // Without a configuration of its own, the migration keeps the name bucket size the server set (the tests': 2).
        Assert.Equal(2, await Patch.Projections.NameBuckets.SizeAsync(source, null, TestContext.Current.CancellationToken));

        Assert.Equal(rows, await App.ComplianceRowsAsync());
        var after = (await GetJsonAsync("/api/reports/compliance/computers?family=netfx")).GetProperty("items")[0];
        var expected = JsonDocument.Parse(before).RootElement;
        foreach (var field in new[] { "computerId", "applicable", "installed", "missing", "superseded", "missingCritical", "missingImportant" })
            Assert.Equal(expected.GetProperty(field).ToString(), after.GetProperty(field).ToString());
    }

    [Theory]
    [InlineData("/api/reports/compliance/updates?family=dotnetfx")]
    [InlineData("/api/reports/compliance/bulletins?family=Windows")]
    [InlineData("/api/reports/compliance/computers?family=%7F")]
    [InlineData("/api/reports/vulnerabilities?family=sql")]
    [InlineData("/api/bulletins?family=office,nope")]
    public async Task an_unknown_family_is_refused_naming_it(string url)
    {
        var problem = await GetJsonAsync(url, 400);
        Assert.Contains("family: '", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("sqlserver", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_control_character_in_a_query_parameter_is_refused_naming_the_parameter()
    {
        var problem = await GetJsonAsync("/api/reports/compliance/computers?family=%00", 400);
        Assert.Equal("Control character in text", problem.GetProperty("title").GetString());
        Assert.StartsWith("query parameter 'family': a control character (U+0000) at position 1", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task a_malformed_product_in_an_inventory_is_refused_naming_it_and_nothing_is_stored()
    {
        var credential = await EnrolAsync("SRV-BAD");
        var bad = new { family = "databases", name = "", version = "1", source = "registry" };
        var (status, problem) = await AgentAsync("/agent/v1/inventory", Inventory([Sql, bad]), credential);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("products[1].family: 'databases'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("products[1].name", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty((await GetJsonAsync("/api/computers/SRV-BAD/products")).EnumerateArray());

        var nul = new { family = "edge", name = "Microsoft Edge\u0000", version = "1.0", source = "registry" };
        (status, problem) = await AgentAsync("/agent/v1/inventory", Inventory([nul]), credential);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("$.products[0].name: a control character (U+0000)", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
