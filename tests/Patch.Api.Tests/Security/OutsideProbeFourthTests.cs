using System.Net;
using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Notifications;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

/// <summary>
/// The fourth black-box sweep (stop 54): values taken where they should have been refused — a script address in a real
/// month, a misspelt audit type, a sort with two signs, a host's own zone file as a time zone — and answers that named
/// the wrong thing. (The catalog formats' own refusals are in Catalog/BadInputTests and Catalog/CvrfReaderTests.)
/// </summary>
public class when_a_fourth_probe_sends_what_no_client_should(AppFixture app) : SecurityTestBase(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task a_real_month_with_a_script_address_is_refused_whole_and_nothing_of_it_is_stored()
    {
        var xml = Encoding.UTF8.GetString(SharedData.Bytes("msrc-cvrf/2024-Jan.xml"));
        var kb = System.Text.RegularExpressions.Regex.Match(xml, @"Type=""Vendor Fix"">\s*<vuln:Description>(\d{7})</vuln:Description>\s*<vuln:URL>[^<]+").Groups[1].Value;
        var mutated = new System.Text.RegularExpressions.Regex(@"(Type=""Vendor Fix"">\s*<vuln:Description>\d{7}</vuln:Description>\s*<vuln:URL>)[^<]+")
            .Replace(xml, "${1}javascript:alert(1)", 1).Replace("2024-Jan", "2024-JanProbe");

        var refused = await App.ImportAsync("cvrf", Encoding.UTF8.GetBytes(mutated), HttpStatusCodeExpectation.Any);

        Assert.Equal("Invalid vulnerability", refused.GetProperty("title").GetString());
        Assert.Contains("the URL 'javascript:alert(1)' is no http, https, file or ms-windows-store address", refused.GetProperty("detail").GetString());
        Assert.StartsWith("line ", refused.GetProperty("place").GetString());
        Assert.False(string.IsNullOrEmpty(refused.GetProperty("runId").GetString()));
        var (status, bulletin) = await RawAsync(HttpMethod.Get, $"/api/bulletins/microsoft:KB{kb}");
        Assert.True(status is HttpStatusCode.OK or HttpStatusCode.NotFound, bulletin);
        Assert.DoesNotContain("javascript:", bulletin);
        Assert.DoesNotContain("2024-JanProbe", bulletin);
    }

    [Fact]
    public async Task an_upload_that_brings_no_file_is_a_failed_import_run()
    {
        using var form = new MultipartFormDataContent { { new ByteArrayContent("{}"u8.ToArray()), "upload", "catalog.json" } };
        using var client = App.Client("dana");
        using var response = await client.PostAsync("/api/catalog/imports?format=patch", form, Ct);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Unreadable upload", problem.GetProperty("title").GetString());
        var runId = problem.GetProperty("runId").GetString()!;
        var run = await GetJsonAsync($"/api/server-tasks/runs/{runId}");
        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Contains("Unreadable upload", run.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/api/bulletins?sort=--severity", "sort: '-severity' is not one of")]
    [InlineData("/api/bulletins?sort=-", "sort: '' is not one of")]
    [InlineData("/api/computers?sort=--name", "sort: '-name' is not one of")]
    [InlineData("/api/audit?sort=%2B-sequence", "sort: '-sequence' is not one of")]
    [InlineData("/api/audit?type=NoSuchEvent", "type: 'NoSuchEvent' is no event type of this server")]
    [InlineData("/api/bulletins?asOf=%EF%BC%92026-12-07", "asOf: '２026-12-07' is not an ISO 8601 date")]
    [InlineData("/api/server-tasks/runs?pageSize=1e3", "pageSize: '1e3' is not a whole number.")]
    [InlineData("/api/server-tasks/runs?pageSize=2147483648", "pageSize: '2147483648' is too large a number.")]
    [InlineData("/api/bulletins?customSeverity=nope", "customSeverity: 'nope' is no custom severity level")]
    public async Task a_question_asked_wrong_is_refused_naming_what_is_wrong(string url, string detail)
    {
        var (status, body) = await RawAsync(HttpMethod.Get, url);

        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains(detail, body);
    }

    [Theory]
    [InlineData("bulletin_imported")]
    [InlineData("BulletinImported")]
    [InlineData("server_task_schedule_set")]
    public async Task an_event_type_of_this_server_is_a_filter_whether_or_not_one_was_appended(string type) =>
        Assert.Equal(HttpStatusCode.OK, (await RawAsync(HttpMethod.Get, $"/api/audit?type={type}&pageSize=1")).Status);

    [Theory]
    [InlineData("localtime")]
    [InlineData("posixrules")]
    [InlineData("Factory")]
    [InlineData("posix/Europe/Berlin")]
    public async Task a_zone_file_that_is_no_zone_is_no_schedule_time_zone(string zone)
    {
        var (status, body) = await SendAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", new { cron = "0 3 * * *", timeZone = zone, enabled = true });

        Assert.True(status == HttpStatusCode.BadRequest, body.ToString());
        Assert.Contains("is not a known IANA or Windows time zone id", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task the_same_schedule_again_appends_nothing()
    {
        var schedule = new { cron = "17 4 * * 6", timeZone = "Europe/Berlin", enabled = true };
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/server-tasks/wake-on-lan/schedule", schedule)).Status);
        var before = await HistoryAsync("server-task:wake-on-lan");

        var (status, again) = await SendAsync(HttpMethod.Put, "/api/server-tasks/wake-on-lan/schedule", schedule);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("17 4 * * 6", again.GetProperty("cron").GetString());
        Assert.Equal(before.Length, (await HistoryAsync("server-task:wake-on-lan")).Length);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/server-tasks/wake-on-lan/schedule", new { cron = (string?)null, enabled = false })).Status);
    }

    [Theory]
    [InlineData("http://LOCALHOST./x", "'localhost.' is this server itself")]
    [InlineData("http://localhost./x", "is this server itself")]
    [InlineData("https://receiver.example:0/x", "port 0 is no port a receiver listens on")]
    public void a_webhook_to_this_server_by_its_fully_qualified_name_or_to_port_0_is_refused(string url, string detail) =>
        Assert.Contains(detail, WebhookAddresses.Problem(url, allowPrivate: false));

    [Fact]
    public async Task a_request_with_two_authorization_headers_is_told_so()
    {
        using var client = App.AnonymousClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/computers");
        request.Headers.TryAddWithoutValidation("Authorization", ["Bearer one", "Bearer two"]);
        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("carries the Authorization header more than once", await response.Content.ReadAsStringAsync(Ct));
    }

    [Theory]
    [InlineData("q=%00", "Control character in text")]
    [InlineData("q=%FF", "Not UTF-8")]
    public async Task a_console_page_refuses_a_query_that_is_no_text_as_a_page(string query, string title)
    {
        var user = query.EndsWith("00") ? "petra" : "pavel";
        await CreateUserAsync(user, Roles.Operator);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, user));

        using var page = await browser.GetAsync($"/remediation-center?{query}", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.BadRequest, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains(title, html);
    }

    [Theory]
    [InlineData("\"count\": 5,", "\"count\": 6,", "$.count", "the catalog says it holds 6 entries, its list holds 5: a cut or edited file")]
    [InlineData("\"knownRansomwareCampaignUse\": \"Known\"", "\"knownRansomwareCampaignUse\": \"Perhaps\"", "knownRansomwareCampaignUse", "'Perhaps' is neither Known nor Unknown")]
    public async Task a_kev_list_whose_count_or_ransomware_answer_is_none_cisa_gives_is_refused(string find, string replace, string place, string detail)
    {
        var json = await File.ReadAllTextAsync(SharedData.RepoFile("demo/kev-demo.json"), Ct);
        Assert.Contains(find, json);

        var refused = await App.ImportAsync("kev", Encoding.UTF8.GetBytes(json.Replace(find, replace)), HttpStatusCodeExpectation.Any);

        Assert.Equal("Invalid KEV catalog", refused.GetProperty("title").GetString());
        Assert.Contains(place, refused.GetProperty("place").GetString());
        Assert.Contains(detail, refused.GetProperty("detail").GetString());
    }

    [Fact]
    public void a_property_given_twice_is_refused_where_the_second_one_starts()
    {
        var json = "{\n  \"DocumentTitle\": { \"Value\": \"a\" },\n  \"DocumentTitle\": { \"Value\": \"b\" }\n}";

        var e = Assert.Throws<Patch.Application.Catalog.Formats.CatalogFormatException>(() => Patch.Application.Catalog.Formats.CvrfCatalogReader.Read(Encoding.UTF8.GetBytes(json)));

        Assert.Equal("Malformed JSON", e.Title);
        Assert.Equal("line 3, byte 3", e.Place);
    }

    [Fact]
    public void a_gzip_file_whose_trailer_is_damaged_is_not_said_to_use_another_compression_method()
    {
        var gz = Gzip(SharedData.Bytes("msrc-cvrf/2024-Jan.xml"));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(gz.AsSpan(gz.Length - 4), 12345);

        var e = Assert.Throws<Patch.Application.Catalog.Formats.CatalogFormatException>(() => Patch.Application.Catalog.Formats.CatalogContainer.Open(gz, 64L << 20));

        Assert.Equal("Malformed gzip", e.Title);
        Assert.DoesNotContain("compression method", e.Detail);
        Assert.Contains("is damaged", e.Detail);
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest)) gzip.Write(bytes);
        return output.ToArray();
    }
}
