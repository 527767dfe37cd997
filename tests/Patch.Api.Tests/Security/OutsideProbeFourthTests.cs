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

    // The fifth sweep (stop 54).

    [Theory]
    [InlineData("""{"name":"Empty pattern","include":[{"namePattern":""}]}""", "namePattern, operatingSystemContains, product: empty")]
    [InlineData("""{"name":"Empty list","include":[{"computers":[]}]}""", "computers: an empty list names no computer")]
    public async Task a_target_rule_with_an_empty_criterion_is_refused(string body, string detail)
    {
        var (status, said) = await RawAsync(HttpMethod.Post, "/api/targets", Utf8(body), "application/json");

        Assert.True(status == HttpStatusCode.BadRequest, said);
        Assert.Contains(detail, said);
    }

    [Fact]
    public async Task a_computer_registered_again_by_name_alone_keeps_what_it_had()
    {
        var (created, _) = await SendAsync(HttpMethod.Post, "/api/computers",
            new { name = "KEEP-001", domain = "corp.example", operatingSystem = "Windows 11 Enterprise", macAddress = "00:1A:2B:3C:4D:5E" });
        Assert.True(created is HttpStatusCode.OK or HttpStatusCode.Created, created.ToString());

        var (again, _) = await SendAsync(HttpMethod.Post, "/api/computers", new { name = "KEEP-001" });

        Assert.True(again is HttpStatusCode.OK or HttpStatusCode.Created, again.ToString());
        var computer = (await GetJsonAsync("/api/computers?q=KEEP-001")).GetProperty("items")[0];
        Assert.Equal("corp.example", computer.GetProperty("domain").GetString());
        Assert.Equal("Windows 11 Enterprise", computer.GetProperty("operatingSystem").GetString());
    }

    [Fact]
    public async Task an_event_id_received_before_as_another_event_is_refused_and_the_same_event_again_is_a_duplicate()
    {
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "reused-id", maxUses = 1 });
        var (_, enrolled) = await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = token.GetProperty("token").GetString(), computerName = "REUSED-ID-1", agentVersion = "0.1.0" });
        using var agent = App.AnonymousClient();
        var credential = enrolled.GetProperty("credential").GetString();
        var id = Guid.NewGuid();
        var at = DateTimeOffset.UtcNow.AddMinutes(-5);
        var first = new { id, occurredAt = at, kind = "restartPending", at = at.AddHours(1) };
        Assert.Equal(HttpStatusCode.OK, (await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new[] { first } }, credential)).Status);

        var (same, sameAnswer) = await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new[] { first } }, credential);
        var other = new { id, occurredAt = at.AddMinutes(1), kind = "restarted" };
        var fresh = new { id = Guid.NewGuid(), occurredAt = at.AddMinutes(2), kind = "restarted" };
        var (reused, reusedAnswer) = await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new object[] { fresh, other } }, credential);

        Assert.Equal(HttpStatusCode.OK, same);
        Assert.Equal(1, sameAnswer.GetProperty("duplicates").GetInt32());
        Assert.True(reused == HttpStatusCode.Conflict, reusedAnswer.ToString());
        Assert.Contains($"events[1].id: {id} was received before as another event", reusedAnswer.GetProperty("detail").GetString());
        // Refused whole: the batch's new event was not kept either (the agent sends it again, without the reused id).
        var (again, againAnswer) = await Send(agent, HttpMethod.Post, "/agent/v1/events", new { events = new[] { fresh } }, credential);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(1, againAnswer.GetProperty("new").GetInt32());
    }

    [Theory]
    [InlineData("U1\u0085")]
    [InlineData("u7\u2003")]
    public async Task a_user_name_with_a_character_around_it_that_is_no_space_is_refused_not_trimmed(string name)
    {
        var (status, said) = await RawAsync(HttpMethod.Post, "/api/users",
            Utf8($$"""{"userName":"{{name}}","displayName":"U","role":"operator","password":"{{Password}}","mustChangePassword":false}"""), "application/json");

        Assert.True(status == HttpStatusCode.BadRequest, said);
        Assert.Contains("may only hold ASCII letters", said);
    }

    [Theory]
    [InlineData("xx-NOPE")]
    [InlineData("qq")]
    public async Task a_managed_culture_this_server_does_not_know_is_refused(string culture)
    {
        var (status, said) = await RawAsync(HttpMethod.Put, "/api/settings/core",
            Utf8($$"""{"managedCultures":["en-US","{{culture}}"],"excludedSoftwareReleases":[]}"""), "application/json");

        Assert.True(status == HttpStatusCode.BadRequest, said);
        Assert.Contains($"'{culture}'", said);
    }

    [Fact]
    public async Task a_value_with_a_default_is_optional_in_the_openapi_document_as_on_the_server()
    {
        var doc = JsonDocument.Parse(await File.ReadAllTextAsync(SharedData.RepoFile("docs/openapi.json"), Ct)).RootElement;
        var schemas = doc.GetProperty("components").GetProperty("schemas");

        var recurrence = schemas.GetProperty("Recurrence").GetProperty("required").EnumerateArray().Select(r => r.GetString()).ToList();
        var options = schemas.GetProperty("PackageOptions").GetProperty("required").EnumerateArray().Select(r => r.GetString()).ToList();

        Assert.Contains("kind", recurrence);
        Assert.DoesNotContain("offsetDays", recurrence);
        Assert.Contains("multicast", options);
        Assert.DoesNotContain("distributeNewUpdates", options);
    }

    [Theory]
    [InlineData("22:00:00.5", "03:00:00", "Daily", "has a fraction of a second")]
    [InlineData("22:00:00", "1.01:00:00", "Daily", "a daily window lasts at most 24 hours")]
    public async Task a_window_that_starts_within_a_second_or_overlaps_itself_is_refused(string start, string duration, string kind, string detail)
    {
        var (status, said) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Probe window", targets = new[] { "builtin:all-with-agent" },
            schedule = new { timeZone = "Europe/Berlin", start, duration, recurrence = new { kind } },
        });

        Assert.True(status == HttpStatusCode.BadRequest, said.ToString());
        Assert.Contains(detail, said.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task a_sign_in_form_without_its_antiforgery_token_shows_the_form_again_and_says_why()
    {
        using var browser = Browser();
        using (await browser.GetAsync("/sign-in", Ct)) { }
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "sign-in", ["Input.UserName"] = "dana", ["Input.Password"] = Password,
        });

        using var response = await browser.PostAsync("/sign-in", form, Ct);
        var html = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("This sign-in form has expired or came from another page", html);
        Assert.Contains("name=\"Input.UserName\"", html);
        Assert.DoesNotContain(response.Headers, h => h.Key == "Set-Cookie" && h.Value.Any(v => v.StartsWith("patch.session")));
    }

    [Fact]
    public async Task a_window_deleted_twice_is_said_to_be_deleted_as_a_change_to_it_is()
    {
        var (created, window) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Deleted twice", targets = new[] { "builtin:all-with-agent" },
            schedule = new { timeZone = "UTC", start = "02:00:00", duration = "02:00:00", recurrence = new { kind = "Daily" } },
        });
        Assert.True(created == HttpStatusCode.Created, window.ToString());
        var id = window.GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/maintenance-windows/{id}")).Status);

        var (again, said) = await SendAsync(HttpMethod.Delete, $"/api/maintenance-windows/{id}");

        Assert.Equal(HttpStatusCode.NotFound, again);
        Assert.Equal("Maintenance window deleted", said.GetProperty("title").GetString());
    }

    [Theory]
    [InlineData("GET", "/health/live?x=1", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/health/ready", HttpStatusCode.MethodNotAllowed)]
    [InlineData("DELETE", "/health/live", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "/health/live", HttpStatusCode.OK)]
    [InlineData("HEAD", "/health/ready", HttpStatusCode.OK)]
    public async Task a_probe_is_read_with_get_and_takes_no_parameter(string method, string url, HttpStatusCode expected)
    {
        // Signed in, so that a method the probe does not take is answered 405 (anonymous, any such request is a 401 first).
        using var client = App.Client("dana");
        using var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), url), Ct);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task the_windows_page_sends_each_windows_tag_with_its_change_and_its_delete()
    {
        var (_, window) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Tagged window", targets = new[] { "builtin:all-with-agent" },
            schedule = new { timeZone = "UTC", start = "03:00:00", duration = "01:00:00", recurrence = new { kind = "Daily" } },
        });
        var segment = Uri.EscapeDataString(window.GetProperty("id").GetString()!);
        await CreateUserAsync("wanda", Roles.Administrator);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "wanda"));

        var html = await browser.GetStringAsync("/maintenance-windows", Ct);

        Assert.Matches($"data-api=\"PUT /api/maintenance-windows/{System.Text.RegularExpressions.Regex.Escape(segment)}\"[^>]*data-if-match=\"&quot;1&quot;\"", html);
        Assert.Matches($"data-action=\"DELETE /api/maintenance-windows/{System.Text.RegularExpressions.Regex.Escape(segment)}\" data-if-match=\"&quot;1&quot;\"", html);
    }

    [Theory]
    [InlineData("application/merge-patch+json")]
    [InlineData("application/json-patch+json")]
    public async Task a_patch_document_is_refused_not_read_as_the_whole_resource(string type)
    {
        var (status, said) = await RawAsync(HttpMethod.Post, "/api/targets", Utf8("""{"name":"Patched","include":[{"namePattern":"x"}]}"""), type);

        Assert.True(status == HttpStatusCode.UnsupportedMediaType, said);
        Assert.Contains("asks for a partial change", said);
    }
}
