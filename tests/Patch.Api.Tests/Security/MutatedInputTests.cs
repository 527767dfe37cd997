using System.Net;
using System.Text;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Security;

/// <summary>
/// Inputs an outside checker mutates: half a character in a JSON catalog, a byte order mark before a body with an escaped
/// NUL, a date at the calendar's start, a name given twice in a bulk file, a format with a stray space, a forged cursor —
/// each a 4xx naming the problem (or the answer asked for), never a 500, nothing written.
/// </summary>
public class when_inputs_are_mutated(AppFixture app) : SecurityTestBase(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string url, byte[] body, string contentType, string role = Domain.Users.Roles.Administrator)
    {
        using var client = App.Client("dana", role);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var response = await client.PostAsync(url, content, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    [Theory]
    [InlineData("patch", """{"schemaVersion":"1.0","catalogId":"s","vendors":[{"id":"v","name":"V"}],"products":[{"id":"p","name":"P","vendor":"v"}],"bulletins":[{"id":"B-1","vendor":"v","title":"x\ud800y","severity":"Low","updates":[{"id":"u","product":"p"}]}]}""")]
    [InlineData("kev", """{"catalogVersion":"2025.01.01","vulnerabilities":[{"cveID":"CVE-2025-0001","vendorProject":"x","product":"\udc00","vulnerabilityName":"n","dateAdded":"2025-01-01"}]}""")]
    public async Task half_a_character_in_a_json_catalog_is_a_400_naming_its_place(string format, string json)
    {
        var events = await App.CatalogEventCountAsync();
        var (status, body) = await PostAsync($"/api/catalog/imports?format={format}", Encoding.UTF8.GetBytes(json), "application/json");
        Assert.True(status == HttpStatusCode.BadRequest, body);
        Assert.Contains("surrogate", body);
        Assert.Equal(events, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task a_kev_catalog_version_that_is_no_date_is_refused()
    {
        var (status, body) = await PostAsync("/api/catalog/imports?format=kev", Encoding.UTF8.GetBytes(
            """{"catalogVersion":"zzz","vulnerabilities":[{"cveID":"CVE-2025-0001","vendorProject":"x","product":"p","vulnerabilityName":"n","dateAdded":"2025-01-01"}]}"""),
            "application/json");
        Assert.True(status == HttpStatusCode.BadRequest, body);
        Assert.Contains("catalogVersion", body);
    }

    /// <summary>A UTF-8 byte order mark before a body (which the model binder skips) no longer hides its escaped NUL from the check.</summary>
    [Fact]
    public async Task a_byte_order_mark_does_not_hide_an_escaped_nul_in_a_body()
    {
        var body = Encoding.UTF8.Preamble.ToArray().Concat(Encoding.UTF8.GetBytes("""{"name":"t","include":[{"product":"a\u0000"}]}""")).ToArray();
        var (preview, answer) = await PostAsync("/api/targets/preview", body, "application/json");
        Assert.True(preview == HttpStatusCode.BadRequest, answer);
        Assert.Contains("control character", answer);
        var computer = Encoding.UTF8.Preamble.ToArray().Concat(Encoding.UTF8.GetBytes("""{"name":"BOM-1","domain":"a\u0000b"}""")).ToArray();
        var (created, why) = await PostAsync("/api/computers", computer, "application/json");
        Assert.True(created == HttpStatusCode.BadRequest, why);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/api/computers/BOM-1")).Status);
    }

    [Theory]
    [InlineData("/api/reports/compliance/trend?to=0001-01-01")]
    [InlineData("/api/reports/compliance/time-to-remediate?to=0001-03-01")]
    [InlineData("/api/reports/seat-usage?to=0001-01-10")]
    public async Task a_range_at_the_calendars_start_is_answered_not_a_500(string url)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, url);
        Assert.True(status is HttpStatusCode.OK or HttpStatusCode.BadRequest, body.ToString());
    }

    [Fact]
    public async Task a_bulk_inventory_line_with_a_name_given_twice_is_refused()
    {
        var inventory = new Patch.Agent.Inventory.FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/10_22H2_x64_enterprise_en-us_systeminfo.txt")).Read();
        var line = "{\"name\":\"DUP-1\",\"name\":\"DUP-2\",\"inventory\":" + System.Text.Json.JsonSerializer.Serialize(inventory, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)) + "}";
        var (status, body) = await PostAsync("/api/computers/inventories", Encoding.UTF8.GetBytes(line + "\n"), "application/x-ndjson", Domain.Users.Roles.Operator);
        Assert.True(status == HttpStatusCode.BadRequest, body);
        Assert.Contains("line 1", body);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/api/computers/DUP-2")).Status);
    }

    [Fact]
    public async Task the_format_parameter_is_read_as_its_check_reads_it_and_decides_over_accept()
    {
        using var client = App.Client("dana");
        using var spaced = await client.GetAsync("/api/computers?format=csv%20", Ct);
        Assert.Equal("text/csv", spaced.Content.Headers.ContentType?.MediaType);
        var json = new HttpRequestMessage(HttpMethod.Get, "/api/computers?format=json");
        json.Headers.Accept.ParseAdd("text/csv");
        using var answered = await client.SendAsync(json, Ct);
        Assert.Equal("application/json", answered.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>A CSV cut at its page size says so: every row's count, and the next page's address.</summary>
    [Fact]
    public async Task a_csv_page_gives_the_total_and_the_next_page()
    {
        await ComputersAsync("CSV-1", "CSV-2", "CSV-3");
        using var client = App.Client("dana");
        using var computers = await client.GetAsync("/api/computers?format=csv&pageSize=2&q=CSV-", Ct);
        Assert.Equal("3", computers.Headers.GetValues("X-Total-Count").Single());
        var next = computers.Headers.GetValues("Link").Single();
        Assert.Contains("rel=\"next\"", next);
        var url = next[1..next.IndexOf('>')];
        using var rest = await client.GetAsync(url, Ct);
        var lines = (await rest.Content.ReadAsStringAsync(Ct)).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length); // the header and the third computer
        Assert.False(rest.Headers.Contains("Link"));
    }

    [Fact]
    public async Task a_forged_cursor_holding_a_nul_is_a_400()
    {
        var forged = Convert.ToBase64String(Encoding.UTF8.GetBytes("v1\u001fcomputers\u001f50\u001f2\u001fname\u001fna\0me\u001fx")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var (status, body) = await SendAsync(HttpMethod.Get, $"/api/computers?sort=name&pageSize=50&after={forged}");
        Assert.True(status == HttpStatusCode.BadRequest, body.ToString());
    }

    [Fact]
    public void a_csv_cell_with_a_semicolon_or_a_tab_is_quoted()
    {
        Assert.Equal("\"x;=HYPERLINK(\"\"http://evil\"\",\"\"a\"\")\"", Patch.Application.Common.Csv.Cell("x;=HYPERLINK(\"http://evil\",\"a\")"));
        Assert.Equal("\"a\tb\"", Patch.Application.Common.Csv.Cell("a\tb"));
        Assert.Equal("plain", Patch.Application.Common.Csv.Cell("plain"));
    }
}
