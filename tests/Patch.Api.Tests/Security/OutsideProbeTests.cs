using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Notifications;

namespace Patch.Api.Tests.Security;

/// <summary>
/// What a black-box sweep of a running server found (stop 52): answers of 500, values stored that no vendor or client
/// could mean, parameters read loosely or not at all. Each is now a 4xx that names the problem, and nothing is written.
/// </summary>
public class when_an_outside_probe_sends_what_no_client_should(AppFixture app) : SecurityTestBase(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("/api/maintenance-windows/check?computer=SRV-001&at=0001-01-01T00:00:00Z", "outside the years")]
    [InlineData("/api/maintenance-windows/check?computer=SRV-001&at=9999-12-31T23:59:59Z", "outside the years")]
    [InlineData("/api/catalog/imports?page=2147483647", "page must be from 1 to 2147483")]
    [InlineData("/api/server-tasks/runs?page=3000000&pageSize=1000", "page must be from 1 to 2147483")]
    [InlineData("/api/bulletins?format=xml", "format: 'xml' is not one of csv, json")]
    [InlineData("/api/bulletins?releasedFrom=1.5", "releasedFrom: '1.5' is not an ISO 8601 date")]
    [InlineData("/api/audit?from=1/2/3", "from: '1/2/3' is not an ISO 8601 date")]
    [InlineData("/api/reports/delivery-summary?from=1.5", "from: '1.5' is not an ISO 8601 date")]
    [InlineData("/api/maintenance-windows/check?computer=SRV-001&at=1.5", "at: '1.5' is not an ISO 8601 date")]
    [InlineData("/api/policies?status=0", "status: '0' is not one of")]
    [InlineData("/api/policies?asOf=9999-12-31T23:59:59-14:00", "is no instant there is")]
    [InlineData("/api/policies?asOf=2026-02-30", "is no instant there is")]
    [InlineData("/api/bulletins?page=&sort=", "is given without a value")]
    [InlineData("/api/bulletins?pageSize=1%20", "pageSize: '1 ' must be a whole number")]
    [InlineData("/api/reports/reboot-status?pendingOnly=%20true", "pendingOnly: ' true' is not true or false")]
    public async Task a_query_value_out_of_its_kind_is_a_400_naming_it(string url, string detail)
    {
        var (status, body) = await RawAsync(HttpMethod.Get, url);
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains(detail, body);
    }

    [Fact]
    public async Task a_range_from_the_calendars_first_day_is_read_as_that_day()
    {
        var (status, body) = await RawAsync(HttpMethod.Get, "/api/reports/delivery-summary?from=0001-01-01&to=2026-01-01");
        Assert.True(status == HttpStatusCode.OK, $"{status}: {body}");
    }

    /// <summary>Dates no vendor gives: a document revised in 2099 would make every real revision after it look older, for good.</summary>
    [Theory]
    [InlineData("cvrf", "future", "Date out of range")]
    [InlineData("mssecure", "ancient", "Date out of range")]
    [InlineData("kev", "version", "catalogVersion is 9999-12-31")]
    public async Task a_catalog_date_no_vendor_gives_is_refused_and_nothing_is_written(string format, string mutation, string detail)
    {
        var bytes = (format, mutation) switch
        {
            ("cvrf", _) => Replace(SharedData.Cvrf2024, "<cvrf:CurrentReleaseDate>2026-", "<cvrf:CurrentReleaseDate>2099-"),
            ("mssecure", _) => Replace(SharedData.Mssecure, "DatePosted=\"1998/06/01\"", "DatePosted=\"0001/01/01\""),
            _ => Replace(SharedData.Kev, "\"catalogVersion\": \"2025.08.25\"", "\"catalogVersion\": \"9999.12.31\""),
        };
        var events = await App.CatalogEventCountAsync();
        var answer = await App.ImportAsync(format, bytes, HttpStatusCodeExpectation.Any);
        Assert.Equal("failed", answer.GetProperty("result").GetString());
        Assert.Contains(detail, answer.ToString());
        Assert.Equal(events, await App.CatalogEventCountAsync());
    }

    private static byte[] Replace(string file, string what, string with)
    {
        var text = Encoding.UTF8.GetString(SharedData.Bytes(file));
        Assert.Contains(what, text);
        return Encoding.UTF8.GetBytes(text.Replace(what, with));
    }

    private const string PatchCatalog = """
        { "schemaVersion": "1.0", "catalogId": "probe", "vendors": [{ "id": "v", "name": "Contoso" }],
          "products": [{ "id": "p", "name": "Contoso App", "vendor": "v" }],
          "bulletins": [{ "id": "CT-1", "vendor": "v", "title": "t", "updates": [{ "id": "u1", "product": "p" UPDATE }] }] }
        """;

    [Theory]
    [InlineData(""", "downloadUrl": "/etc/passwd" """, "not an absolute http, https or file URL")]
    [InlineData(""", "sha265": "x" """, "'sha265' is not a property of this object")]
    public async Task a_patch_catalog_with_a_bare_path_or_a_misspelt_property_is_refused(string update, string detail)
    {
        var answer = await App.ImportAsync("patch", Encoding.UTF8.GetBytes(PatchCatalog.Replace("UPDATE", update)), HttpStatusCodeExpectation.Any);
        Assert.Equal("failed", answer.GetProperty("result").GetString());
        Assert.Contains(detail, answer.ToString());
    }

    [Fact]
    public async Task a_kev_catalog_without_entries_a_twice_compressed_file_and_a_reboot_flag_that_is_no_flag_are_refused()
    {
        var empty = await App.ImportAsync("kev", """{"catalogVersion":"2025.01.01","vulnerabilities":[]}"""u8.ToArray(), HttpStatusCodeExpectation.Any);
        Assert.Contains("lists no entries", empty.ToString());
        var twice = await App.ImportAsync("cvrf", Gzip(Gzip(SharedData.Bytes(SharedData.Cvrf2024))), HttpStatusCodeExpectation.Any);
        Assert.Contains("Compressed twice", twice.ToString());
        var flag = await App.ImportAsync("mssecure", Replace(SharedData.Mssecure, "NoReboot=\"1\"", "NoReboot=\"maybe\""), HttpStatusCodeExpectation.Any);
        Assert.Contains("NoReboot='maybe' is not 0 or 1", flag.ToString());
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest)) gzip.Write(bytes);
        return output.ToArray();
    }

    [Theory]
    [InlineData("/api/maintenance-windows", """{"name":"w","schedule":{"timeZone":"UTC","start":"01:00:00","duration":"01:00:00","recurrence":{"kind":"Daily","days":["Monday"]}}}""", "recurrence.days: only for a Weekly window")]
    [InlineData("/api/maintenance-windows", """{"name":"w","schedule":{"timeZone":"UTC","start":"01:00:00","duration":"01:00:00","recurrence":{"kind":"Weekly","days":["Monday","Monday"]}}}""", "a day is given twice")]
    [InlineData("/api/targets", """{"name":"t","include":[{"computers":["bad name!"]}]}""", "'bad name!' is not a computer name")]
    public async Task a_definition_that_would_be_stored_and_never_used_is_refused(string url, string json, string detail)
    {
        var (status, body) = await RawAsync(HttpMethod.Post, url, Encoding.UTF8.GetBytes(json), "application/json");
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains(detail, body);
    }

    [Fact]
    public async Task a_schedule_that_never_comes_and_a_culture_that_is_none_are_refused()
    {
        var (cron, never) = await RawAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule",
            """{"cron":"0 0 31 2 *","timeZone":"UTC","enabled":true}"""u8.ToArray(), "application/json");
        Assert.True(cron == HttpStatusCode.BadRequest, never);
        Assert.Contains("never comes", never);
        var (culture, none) = await RawAsync(HttpMethod.Put, "/api/settings/core",
            """{"managedCultures":["xx-YY-ZZ-123"],"excludedSoftwareReleases":[]}"""u8.ToArray(), "application/json");
        Assert.True(culture == HttpStatusCode.BadRequest, none);
        Assert.Contains("xx-YY-ZZ-123", none);
    }

    [Fact]
    public async Task a_body_in_a_type_no_operation_takes_is_a_415_that_names_it_for_an_agent_too()
    {
        var (user, said) = await RawAsync(HttpMethod.Post, "/api/targets", "name=t"u8.ToArray(), "text/plain");
        Assert.True(user == HttpStatusCode.UnsupportedMediaType, said);
        Assert.Contains("'text/plain'", said);
        var (token, issued) = await Send(App.Client(), HttpMethod.Post, "/api/enrolment-tokens", new { name = "probe", maxUses = 1 });
        Assert.Equal(HttpStatusCode.Created, token);
        var (_, enrolled) = await Send(App.Client(), HttpMethod.Post, "/agent/v1/enrol",
            new { token = issued.GetProperty("token").GetString(), computerName = "PROBE-1", agentVersion = "0.1.0" });
        using var agent = App.AnonymousClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/inventory") { Content = new StringContent("<inventory/>", Encoding.UTF8, "application/xml") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", enrolled.GetProperty("credential").GetString());
        using var response = await agent.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.UnsupportedMediaType, $"{response.StatusCode}: {text}");
        Assert.Contains("application/xml", text);

        // And what it reports is checked as a report from an agent can be: no restart planned in year 1, no culture that is none.
        var credential = enrolled.GetProperty("credential").GetString();
        var restart = new { id = Guid.NewGuid(), occurredAt = DateTimeOffset.UtcNow, kind = "restartPending", at = "0001-01-01T00:00:00Z" };
        var (pending, year1) = await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new[] { restart } }, credential);
        Assert.True(pending == HttpStatusCode.BadRequest, year1.ToString());
        Assert.Contains("events[0].at: from 2000", year1.GetProperty("detail").GetString());
        var (culture, none) = await Send(agent, HttpMethod.Post, "/agent/v1/inventory", new
        {
            osCaption = "Microsoft Windows 11 Enterprise", osVersion = "10.0.22631", architecture = "x64", servicePack = 0, isServer = false,
            cultures = new[] { "not a culture" }, softwareReleases = Array.Empty<string>(), installedKbs = new[] { "KB5034441", "KB12x" }, agentVersion = "0.1.0",
        }, credential);
        Assert.True(culture == HttpStatusCode.BadRequest, none.ToString());
        Assert.Contains("cultures: 'not a culture' is not a culture name", none.GetProperty("detail").GetString());
        Assert.Contains("installedKbs[1]: 'KB12x'", none.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task an_upload_compressed_by_its_header_in_a_charset_not_read_or_in_another_field_is_refused()
    {
        var kev = SharedData.Bytes(SharedData.Kev);
        var (encoded, why) = await RawAsync(HttpMethod.Post, "/api/catalog/imports?format=kev", Gzip(kev), "application/json", headers: h => h.ContentEncoding.Add("gzip"));
        Assert.True(encoded == HttpStatusCode.UnsupportedMediaType, why);
        Assert.Contains("Content-Encoding 'gzip'", why);
        var (latin, said) = await RawAsync(HttpMethod.Post, "/api/catalog/imports?format=kev", kev, "application/json; charset=iso-8859-1");
        Assert.True(latin == HttpStatusCode.BadRequest, said);
        Assert.Contains("charset=iso-8859-1", said);

        using var client = App.Client("dana");
        using var form = new MultipartFormDataContent { { new ByteArrayContent(kev), "upload", "kev.json" } };
        using var response = await client.PostAsync("/api/catalog/imports?format=kev", form, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Contains("send it in the field 'file'", text);
        Assert.Equal(0, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task a_bulk_inventory_line_is_refused_in_the_apis_words_and_utf16_without_its_mark_is_named()
    {
        var (unknown, said) = await RawAsync(HttpMethod.Post, "/api/computers/inventories", "{\"name\":\"N-1\",\"colour\":\"red\"}\n"u8.ToArray(), "application/x-ndjson");
        Assert.True(unknown == HttpStatusCode.BadRequest, said);
        Assert.Contains("line 1 has a property this operation does not take", said);
        Assert.DoesNotContain("InventoryImportLine", said);
        var (utf16, named) = await RawAsync(HttpMethod.Post, "/api/computers/inventories", Encoding.Unicode.GetBytes("{\"name\":\"N-1\"}\n"), "application/x-ndjson");
        Assert.True(utf16 == HttpStatusCode.BadRequest, named);
        Assert.Contains("UTF-16 without its byte order mark", named);
    }

    [Theory]
    [InlineData("http://127.0.0.1:9/hook", "127.0.0.1 is a loopback address")]
    [InlineData("http://[::ffff:10.1.2.3]/hook", "10.1.2.3 is a private or link-local address")]
    [InlineData("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a private or link-local address")]
    [InlineData("http://2130706433/hook", "127.0.0.1 is a loopback address")]
    [InlineData("http://localhost:8080/hook", "'localhost' is this server itself")]
    public void a_webhook_to_this_servers_network_is_refused_unless_allowed(string url, string detail)
    {
        Assert.Contains(detail, WebhookAddresses.Problem(url, allowPrivate: false));
        Assert.Null(WebhookAddresses.Problem(url, allowPrivate: true));
        Assert.Null(WebhookAddresses.Problem("https://hooks.example.com/patch", allowPrivate: false));
    }

    /// <summary>A host name that resolves inside the network is refused when the delivery connects (the URL named no address).</summary>
    [Fact]
    public async Task a_delivery_to_a_name_that_resolves_inside_is_refused_when_it_connects()
    {
        using var receiver = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        receiver.Start();
        var port = ((IPEndPoint)receiver.LocalEndpoint).Port;
        using var guarded = new HttpClient(WebhookAddresses.Handler(allowPrivate: false));
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => guarded.GetAsync($"http://localhost:{port}/", Ct));
        Assert.Contains("inside this server's network", refused.Message);
        Assert.False(receiver.Pending());
    }
}
