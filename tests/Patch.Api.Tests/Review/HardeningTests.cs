using System.Net;
using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Staging;

namespace Patch.Api.Tests.Review;

/// <summary>Sad paths found in review: each must be a clear 4xx or a kept rule, never a 500 or a silent change.</summary>
public class when_requests_are_incomplete_or_hostile(AppFixture app) : AppTest(app)
{
    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string url, string? json = null)
    {
        using var client = App.Client();
        var request = new HttpRequestMessage(method, url) { Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json") };
        var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("PUT", "/api/settings/vendors/microsoft", """{"verifyAuthenticity":true}""", "what has no default: agentEvents (required)")]
    [InlineData("PUT", "/api/settings/vendors/microsoft", """{"verifyAuthenticity":true,"agentEvents":false}""", "resourceExclusions: required")]
    [InlineData("POST", "/api/maintenance-windows", """{"name":"x","schedule":{"timeZone":"UTC","start":"01:00:00","duration":"01:00:00"}}""", "schedule.recurrence: required")]
    [InlineData("POST", "/api/maintenance-windows", """{"name":"x","targets":[null],"schedule":{"timeZone":"UTC","start":"01:00:00","duration":"01:00:00","recurrence":{"kind":"Daily"}}}""", "targets: an entry is null")]
    [InlineData("POST", "/api/targets", """{"name":"x","include":[null]}""", "a rule needs at least one criterion")]
    [InlineData("POST", "/api/targets", """{"name":"x","include":[{"namePattern":"(a+)+$"}]}""", "namePattern")]
    [InlineData("POST", "/api/bulletins/stage", """{"bulletinIds":[null]}""", "none empty")]
    [InlineData("POST", "/api/bulletins/custom-severity", """{"bulletinIds":[""],"levelId":null}""", "none empty")]
    [InlineData("POST", "/api/policies", """{"bulletinIds":[null]}""", "empty entries")]
    public async Task a_missing_or_null_part_is_a_400_naming_it(string method, string url, string json, string detail)
    {
        var (status, body) = await SendAsync(new HttpMethod(method), url, json);
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains(detail, body);
    }

    /// <summary>
    /// Found probing a running server: values too long to be meant, numbers given as text, query values out of their kind,
    /// filters naming nothing that exists, ranges backwards, settings for a vendor no catalog has — each a 4xx naming it.
    /// </summary>
    [Theory]
    [InlineData("POST", "/api/webhooks", "{\"name\":\"w\",\"url\":\"http://127.0.0.1:9/LONG\",\"events\":[\"import-failed\"],\"secret\":\"0123456789abcdef0123\"}", 400, "url: at most 2048")]
    [InlineData("POST", "/api/targets", "{\"name\":\"t\",\"include\":[{\"operatingSystemContains\":\"LONG\"}]}", 400, "at most 256 characters")]
    [InlineData("PUT", "/api/settings/core", "{\"managedCultures\":[\"en-US\"],\"excludedSoftwareReleases\":[\"HUGE\"]}", 400, "$.excludedSoftwareReleases[0]: 70000 characters")]
    [InlineData("POST", "/api/enrolment-tokens", "{\"name\":\"n\",\"maxUses\":\"5\"}", 400, "maxUses")]
    [InlineData("GET", "/api/reports/compliance/bulletins?format=xml", null, 400, "'format': 'xml' is not one of csv, json")]
    [InlineData("GET", "/api/reports/compliance/bulletins?page=", null, 400, "'page' is given without a value")]
    [InlineData("GET", "/api/audit?actorKind=robot", null, 400, "actorKind: 'robot' is not one of")]
    [InlineData("GET", "/api/server-tasks/runs?task=no-such-task", null, 400, "task: 'no-such-task' is not one of")]
    [InlineData("GET", "/api/bulletins?releasedFrom=2025-01-01&releasedTo=2024-01-01", null, 400, "releasedFrom is after releasedTo")]
    [InlineData("GET", "/api/settings/vendors/nosuchvendor", null, 404, "No vendor 'nosuchvendor'")]
    [InlineData("GET", "/api/bulletins?q=%C3%28", null, 400, "not UTF-8 once its %-escapes are decoded")]
    [InlineData("POST", "/api/server-tasks/wake-on-lan/run?policy=policy:nosuch", null, 404, "No active policy 'policy:nosuch'")]
    public async Task a_value_out_of_its_kind_is_refused_naming_it(string method, string url, string? json, int expected, string detail)
    {
        var (status, body) = await SendAsync(new HttpMethod(method), url, json?.Replace("LONG", new string('x', 3000)).Replace("HUGE", new string('y', 70_000)));
        Assert.True((int)status == expected, $"{status}: {body}");
        Assert.Contains(detail, body);
        Assert.True(body.Length < 2000, "the refusal does not carry the value back");
    }

    [Fact]
    public async Task only_bulletin_streams_have_a_bulletin_history()
    {
        using var client = App.Client();
        await client.PutAsync("/api/settings/core", new StringContent("""{"managedCultures":["en-US","de-DE"],"excludedSoftwareReleases":[]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/api/bulletins/settings:core/history")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/history/settings:core")).Status);
    }

    [Fact]
    public async Task the_json_list_is_paged_by_default_and_csv_exports_everything()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var page = await GetJsonAsync("/api/bulletins");
        Assert.Equal(37, page.GetProperty("total").GetInt32());
        Assert.Equal(37, page.GetProperty("items").GetArrayLength());
        Assert.Equal(50, page.GetProperty("pageSize").GetInt32());
        Assert.Equal(10, (await GetJsonAsync("/api/bulletins?pageSize=10")).GetProperty("items").GetArrayLength());
        using var client = App.Client();
        Assert.Equal(38, (await client.GetStringAsync("/api/bulletins?format=csv")).Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task an_older_document_never_rolls_a_bulletin_back_and_counts_no_phantom_exclusions()
    {
        static string Catalog(string title, string revised, string culture) => $$"""
            { "schemaVersion": "1.0", "catalogId": "c", "vendors": [{ "id": "ms", "name": "Microsoft" }],
              "products": [{ "id": "p", "name": "Windows 10 Version 22H2 for x64-based Systems", "vendor": "ms" }],
              "bulletins": [{ "id": "kb5000009", "vendor": "ms", "title": "{{title}}", "revised": "{{revised}}", "supersedes": ["kb5000001"],
                "updates": [{ "id": "u", "product": "p", "culture": "{{culture}}" }] }] }
            """;
        await App.ImportAsync("patch", Encoding.UTF8.GetBytes(Catalog("Second edition", "2024-02-01T00:00:00Z", "fr-FR")));
        var again = await App.ImportAsync("patch", Encoding.UTF8.GetBytes(Catalog("Second edition", "2024-02-01T00:00:00Z", "fr-FR")));
        Assert.Equal("unchanged", again.GetProperty("status").GetString());
        Assert.Equal(0, again.GetProperty("updatesExcluded").GetInt32());

        var older = await App.ImportAsync("patch", Encoding.UTF8.GetBytes(Catalog("First edition", "2024-01-01T00:00:00Z", "fr-FR")));
        Assert.Equal("unchanged", older.GetProperty("status").GetString());
        Assert.Contains(older.GetProperty("skipped").EnumerateArray(), s => s.GetProperty("item").GetString() == "older bulletin facts");
        var bulletin = await GetJsonAsync("/api/bulletins/KB5000009");
        Assert.Equal("Second edition", bulletin.GetProperty("title").GetString());
        // Numbers are upper case whatever the file says: the lower-case supersedence reaches KB5000001.
        Assert.Equal(["KB5000001"], bulletin.GetProperty("supersedes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/bulletins/microsoft:kb5000009")).Status);
    }

    [Fact]
    public async Task a_catalog_cannot_make_the_server_read_its_own_files()
    {
        var secret = Path.Combine(Path.GetTempPath(), $"patch-secret-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(secret, "not for agents", TestContext.Current.CancellationToken);
        try
        {
            var catalog = JsonSerializer.Serialize(new
            {
                schemaVersion = "1.0", catalogId = "evil", vendors = new[] { new { id = "ms", name = "Microsoft" } },
                products = new[] { new { id = "p", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
                bulletins = new[] { new { id = "KB9999990", vendor = "ms", title = "t", updates = new[] { new { id = "u", product = "p", downloadUrl = new Uri(secret).AbsoluteUri, sha256 = ContentServer.Sha(Encoding.UTF8.GetBytes("not for agents")) } } } },
            });
            await App.ImportAsync("patch", Encoding.UTF8.GetBytes(catalog));
            var status = await StageAndWaitAsync("KB9999990");
            var update = status.GetProperty("bulletins")[0].GetProperty("updateStatus")[0];
            Assert.Equal("failed", update.GetProperty("state").GetString());
            Assert.Contains("outside the staging location", update.GetProperty("reason").GetString());
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(App.PackageDirectory, "sha256"), "*", SearchOption.AllDirectories));
        }
        finally
        {
            File.Delete(secret);
        }
    }

    [Fact]
    public async Task a_target_or_window_that_the_vendor_settings_use_cannot_be_deleted()
    {
        var target = JsonDocument.Parse((await SendAsync(HttpMethod.Post, "/api/targets", """{"name":"All","include":[{"namePattern":"*"}]}""")).Body).RootElement.GetProperty("id").GetString();
        var window = JsonDocument.Parse((await SendAsync(HttpMethod.Post, "/api/maintenance-windows",
            """{"name":"Nights","schedule":{"timeZone":"UTC","start":"01:00:00","duration":"01:00:00","recurrence":{"kind":"Daily"}}}""")).Body).RootElement.GetProperty("id").GetString();
        var vendor = System.Text.Json.Nodes.JsonNode.Parse((await GetJsonAsync("/api/settings/vendors/microsoft")).GetRawText())!;
        vendor["defaultTargetId"] = target;
        vendor["defaultMaintenanceWindowId"] = window;
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/settings/vendors/microsoft", vendor.ToJsonString())).Status);

        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(HttpMethod.Delete, $"/api/targets/{target}")).Status);
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(HttpMethod.Delete, $"/api/maintenance-windows/{window}")).Status);
        vendor["defaultMaintenanceWindowId"] = "window:nope";
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Put, "/api/settings/vendors/microsoft", vendor.ToJsonString())).Status);
    }

    [Fact]
    public async Task a_broken_multipart_upload_is_a_400()
    {
        using var client = App.Client();
        var content = new StringContent("--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.xml\"\r\n\r\n<a/>", Encoding.UTF8);
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");
        var response = await client.PostAsync("/api/catalog/imports?format=cvrf", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
