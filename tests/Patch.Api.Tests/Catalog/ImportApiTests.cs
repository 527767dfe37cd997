using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Marten;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Catalog;

namespace Patch.Api.Tests.Catalog;

public class when_importing_catalogs_through_the_api(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task the_2023_cvrf_document_imports_39_bulletins_and_111_updates_then_is_unchanged()
    {
        var first = await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        Assert.Equal("completed", first.GetProperty("status").GetString());
        Assert.Equal(39, first.GetProperty("bulletinsAdded").GetInt32());
        Assert.Equal(111, first.GetProperty("updatesAdded").GetInt32());
        Assert.Equal(0, first.GetProperty("bulletinsRevised").GetInt32());
        Assert.Contains(first.GetProperty("skipped").EnumerateArray(), s => s.GetProperty("item").GetString() == "CBL-Mariner Releases");
        // The non-KB fixes of Windows products (Click to Run, Release Notes) are 54 vulnerability facts, not bulletins.
        Assert.Equal(54, first.GetProperty("vulnerabilitiesAdded").GetInt32());
        var events = await App.CatalogEventCountAsync();
        Assert.Equal(39 + 111 + 54, events);

        var again = await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        Assert.Equal("unchanged", again.GetProperty("status").GetString());
        Assert.Equal(39, again.GetProperty("bulletinsUnchanged").GetInt32());
        Assert.Equal(0, again.GetProperty("bulletinsAdded").GetInt32());
        Assert.Equal(54, again.GetProperty("vulnerabilitiesUnchanged").GetInt32());
        Assert.Equal(events, await App.CatalogEventCountAsync());
    }

    /// <summary>The MSRC API's default JSON form of a month: the same catalog as its XML, so the XML afterwards appends nothing.</summary>
    [Fact]
    public async Task a_cvrf_document_in_json_imports_the_catalog_its_xml_gives()
    {
        using var stream = SharedData.Open(SharedData.Cvrf2023);
        var json = CvrfJsonTwin.Of(stream);

        var first = await App.ImportAsync("cvrf", json);

        Assert.Equal("completed", first.GetProperty("status").GetString());
        Assert.Equal((39, 111, 54), (first.GetProperty("bulletinsAdded").GetInt32(), first.GetProperty("updatesAdded").GetInt32(), first.GetProperty("vulnerabilitiesAdded").GetInt32()));
        var events = await App.CatalogEventCountAsync();
        var xml = await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        Assert.Equal((0, 0, 39), (xml.GetProperty("bulletinsAdded").GetInt32(), xml.GetProperty("bulletinsRevised").GetInt32(), xml.GetProperty("bulletinsUnchanged").GetInt32()));
        Assert.Equal(events, await App.CatalogEventCountAsync());

        // A control character in a JSON text (an escaped NUL) is refused like any other catalog's.
        var node = JsonNode.Parse(json)!;
        foreach (var v in node["Vulnerability"]!.AsArray()) v!["Title"]!["Value"] = "Windows\u0000 Kernel";
        var refused = await App.ImportAsync("cvrf", Encoding.UTF8.GetBytes(node.ToJsonString()), HttpStatusCodeExpectation.Any);
        Assert.Equal((400, "Control character in text"), (refused.GetProperty("status").GetInt32(), refused.GetProperty("title").GetString()));
        Assert.Contains("U+0000", refused.GetProperty("detail").GetString());
        Assert.Equal(events, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task a_revised_cvrf_copy_yields_exactly_the_revision_events()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        var doc = XDocument.Load(SharedData.PathOf(SharedData.Cvrf2023));
        XNamespace vuln = "http://www.icasi.org/CVRF/schema/vuln/1.1";
        var remediations = doc.Descendants(vuln + "Remediation").Where(r => r.Element(vuln + "Description")?.Value == "5022282").ToList();
        foreach (var r in remediations) r.SetElementValue(vuln + "FixedBuild", "10.0.17763.9999");
        var before = await App.CatalogEventCountAsync();

        var result = await App.ImportAsync("cvrf", Encoding.UTF8.GetBytes(doc.ToString()));

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal(1, result.GetProperty("bulletinsRevised").GetInt32());
        Assert.Equal(38, result.GetProperty("bulletinsUnchanged").GetInt32());
        Assert.Equal(8, result.GetProperty("updatesRevised").GetInt32());
        Assert.Equal(before + 8, await App.CatalogEventCountAsync());
        await using var session = App.Store.QuerySession();
        var events = await session.Events.FetchStreamAsync("microsoft:KB5022282");
        var revisions = events.Select(e => e.Data).OfType<SoftwareUpdateRevised>().ToList();
        Assert.Equal(8, revisions.Count);
        Assert.All(revisions, r => Assert.Equal(["fixedBuild"], r.Changes.Select(c => c.Field)));
        Assert.All(revisions, r => Assert.Equal("10.0.17763.9999", r.Update.FixedBuild));
    }

    [Fact]
    public async Task a_changed_bulletin_field_in_a_patch_catalog_appends_one_revision_saying_what_changed()
    {
        var demo = File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json"));
        await App.ImportAsync("patch", demo);
        var node = JsonNode.Parse(demo)!;
        node["bulletins"]![0]!["title"] = "Renamed by the vendor";
        node["bulletins"]![0]!["updates"]![0]!["commandLine"] = "wusa.exe x.msu /quiet";

        var result = await App.ImportAsync("patch", Encoding.UTF8.GetBytes(node.ToJsonString()));

        Assert.Equal(1, result.GetProperty("bulletinsRevised").GetInt32());
        Assert.Equal(1, result.GetProperty("updatesRevised").GetInt32());
        Assert.Equal(2, result.GetProperty("eventsAppended").GetInt32());
        var history = await GetJsonAsync("/api/bulletins/KB5022282/history");
        var revised = history.EnumerateArray().Single(e => e.GetProperty("type").GetString() == "bulletin_revised");
        var change = revised.GetProperty("data").GetProperty("changes")[0];
        Assert.Equal("title", change.GetProperty("field").GetString());
        Assert.Equal("Renamed by the vendor", change.GetProperty("after").GetString());
    }

    /// <summary>
    /// The import's session takes the catalog's lock while the document is still being read: a document refused after that
    /// (malformed at its end) leaves no transaction open and nothing locked — the next import goes through at once.
    /// </summary>
    [Fact]
    public async Task a_document_refused_while_its_session_waited_leaves_nothing_locked()
    {
        var ct = TestContext.Current.CancellationToken;
        var text = Encoding.UTF8.GetString(SharedData.Bytes(SharedData.Cvrf2024));
        var refused = await App.ImportAsync("cvrf", Encoding.UTF8.GetBytes(text[..^40]), HttpStatusCodeExpectation.Any);
        Assert.Equal("Malformed XML", refused.GetProperty("title").GetString());
        await using (var open = Db.CreateCommand("select count(*) from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'"))
            Assert.Equal(0L, (long)(await open.ExecuteScalarAsync(ct))!);
        var imported = await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024)).WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.Equal(37, imported.GetProperty("bulletinsAdded").GetInt32());
    }

    [Fact]
    public async Task the_mssecure_datastore_imports_231_bulletins()
    {
        var result = await App.ImportAsync("mssecure", SharedData.Bytes(SharedData.Mssecure));
        Assert.Equal(231, result.GetProperty("bulletinsAdded").GetInt32());
        Assert.Equal(815, result.GetProperty("updatesAdded").GetInt32());
        var superseded = await GetJsonAsync("/api/bulletins/MS00-090");
        Assert.Contains("MS01-029", superseded.GetProperty("supersededBy").EnumerateArray().Select(s => s.GetString()));
    }

    [Fact]
    public async Task supersedence_is_a_chain_across_imports_and_is_derived()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        Assert.Empty((await GetJsonAsync("/api/bulletins/KB5022282")).GetProperty("supersededBy").EnumerateArray());

        // A later catalog says KB5022999 supersedes KB5022282, which was imported long before.
        var later = $$"""
            { "schemaVersion": "1.0", "catalogId": "later", "vendors": [{ "id": "ms", "name": "Microsoft" }], "products": [],
              "bulletins": [{ "id": "KB5022999", "vendor": "ms", "title": "Later", "severity": "Important", "supersedes": ["KB5022282"] }] }
            """;
        await App.ImportAsync("patch", Encoding.UTF8.GetBytes(later));

        var old = await GetJsonAsync("/api/bulletins/KB5022282");
        Assert.Equal(["KB5022999"], old.GetProperty("supersededBy").EnumerateArray().Select(s => s.GetString()));
        var list = await GetJsonAsync("/api/bulletins?superseded=true&pageSize=100");
        Assert.Contains(list.GetProperty("items").EnumerateArray(), i => i.GetProperty("bulletin").GetString() == "KB5022282");
        Assert.DoesNotContain(list.GetProperty("items").EnumerateArray(), i => i.GetProperty("bulletin").GetString() == "KB5022999");
    }

    [Fact]
    public async Task updates_of_unmanaged_cultures_and_excluded_releases_are_recorded_as_excluded()
    {
        using var client = App.Client();
        var put = await client.PutAsync("/api/settings/core", Json(new { managedCultures = new[] { "en-US" }, excludedSoftwareReleases = new[] { "Windows 10 Version 21H2 for x64-based Systems" } }));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var catalog = $$"""
            { "schemaVersion": "1.0", "catalogId": "cultures", "vendors": [{ "id": "ms", "name": "Microsoft" }],
              "products": [{ "id": "w22", "name": "Windows 10 Version 22H2 for x64-based Systems", "vendor": "ms" },
                           { "id": "w21", "name": "Windows 10 Version 21H2 for x64-based Systems", "vendor": "ms" }],
              "bulletins": [{ "id": "KB5000001", "vendor": "ms", "title": "Language pack fix", "updates": [
                { "id": "u-en", "product": "w22", "culture": "en-US" }, { "id": "u-de", "product": "w22", "culture": "de-DE" },
                { "id": "u-neutral", "product": "w22" }, { "id": "u-21h2", "product": "w21" } ] }] }
            """;
        var result = await App.ImportAsync("patch", Encoding.UTF8.GetBytes(catalog));
        Assert.Equal(4, result.GetProperty("updatesAdded").GetInt32());
        Assert.Equal(2, result.GetProperty("updatesExcluded").GetInt32());

        var bulletin = await GetJsonAsync("/api/bulletins/KB5000001");
        var reasons = bulletin.GetProperty("updates").EnumerateArray().ToDictionary(u => u.GetProperty("updateId").GetString()!, u => u.GetProperty("excluded").GetString());
        Assert.Null(reasons["u-en"]);
        Assert.Null(reasons["u-neutral"]);
        Assert.Equal("culture 'de-DE' is not a managed language", reasons["u-de"]);
        Assert.Contains("is excluded in core settings", reasons["u-21h2"]);
        var row = (await GetJsonAsync("/api/bulletins?q=KB5000001")).GetProperty("items")[0];
        Assert.Equal(2, row.GetProperty("updates").GetInt32());
        Assert.Equal(2, row.GetProperty("excludedUpdates").GetInt32());

        // Managing German later and importing again turns the exclusion into a revision, never a silent change.
        await client.PutAsync("/api/settings/core", Json(new { managedCultures = new[] { "en-US", "de-DE" }, excludedSoftwareReleases = Array.Empty<string>() }));
        var again = await App.ImportAsync("patch", Encoding.UTF8.GetBytes(catalog));
        Assert.Equal(2, again.GetProperty("updatesRevised").GetInt32());
        row = (await GetJsonAsync("/api/bulletins?q=KB5000001")).GetProperty("items")[0];
        Assert.Equal(4, row.GetProperty("updates").GetInt32());
    }

    [Theory]
    [InlineData("cvrf", "<cvrfdoc xmlns=\"http://www.icasi.org/CVRF/schema/cvrf/1.1\"><oops></cvrfdoc>", "Malformed XML", "line 1")]
    [InlineData("cvrf", "<BulletinDatastore/>", "Not a CVRF 1.1 document", "line 1, column 2")]
    [InlineData("mssecure", "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><BulletinDatastore>&e;</BulletinDatastore>", "XML with a DTD is refused", "line 1")]
    [InlineData("patch", "{\"schemaVersion\":\"9.9\",\"catalogId\":\"x\",\"bulletins\":[]}", "Invalid Patch catalog", "$.schemaVersion")]
    [InlineData("kev", "{\"catalogVersion\":\"2024.01.01\",\"vulnerabilities\":[{}]}", "Invalid KEV catalog", "$.vulnerabilities[0].cveID")]
    [InlineData("cvrf", "{\"DocumentTitle\":{\"Value\":\"January 2023 Security Updates\"}}", "Missing field", "$")]
    [InlineData("cvrf", "{\"document\":{\"category\":\"csaf_vex\"},\"vulnerabilities\":[]}", "Not a CVRF document", "$.document")]
    [InlineData("mssecure", " {\"DocumentTitle\":{}}", "Not XML", "line 1, column 2")]
    [InlineData("kev", "\n  <BulletinDatastore/>", "Not JSON", "line 2, byte 3")]
    public async Task bad_input_is_a_400_problem_naming_the_place_and_imports_nothing(string format, string content, string title, string place)
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        var before = await App.CatalogEventCountAsync();

        var problem = await App.ImportAsync(format, Encoding.UTF8.GetBytes(content), HttpStatusCodeExpectation.Any);

        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Equal("failed", problem.GetProperty("result").GetString());
        Assert.Equal(title, problem.GetProperty("title").GetString());
        Assert.StartsWith(place, problem.GetProperty("place").GetString());
        Assert.Equal(before, await App.CatalogEventCountAsync());
        var runs = await GetJsonAsync("/api/catalog/imports");
        var failed = runs.GetProperty("items")[0];
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Contains(title, failed.GetProperty("error").GetString());
    }

    /// <summary>A format Patch does not read is a request it cannot carry out, refused before any import begins: no run is recorded.</summary>
    [Fact]
    public async Task an_unknown_format_is_refused_before_any_run()
    {
        var runs = (await GetJsonAsync("/api/catalog/imports")).GetProperty("total").GetInt64();
        var problem = await App.ImportAsync("csaf", Encoding.UTF8.GetBytes("{}"), HttpStatusCodeExpectation.Any);
        Assert.Equal((400, "Invalid query parameter"), (problem.GetProperty("status").GetInt32(), problem.GetProperty("title").GetString()));
        Assert.Contains("'format': 'csaf' is not one of cvrf, mssecure, patch, kev", problem.GetProperty("detail").GetString());
        Assert.Equal(runs, (await GetJsonAsync("/api/catalog/imports")).GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task a_bad_bulletin_late_in_a_file_imports_nothing_of_the_file()
    {
        var node = JsonNode.Parse(File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")))!;
        node["bulletins"]![6]!["updates"]![0]!["sha256"] = "not-a-hash";
        var problem = await App.ImportAsync("patch", Encoding.UTF8.GetBytes(node.ToJsonString()), HttpStatusCodeExpectation.Any);
        Assert.Equal("$.bulletins[6].updates[0].sha256", problem.GetProperty("place").GetString());
        Assert.Equal(0, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task an_import_whose_follow_up_cannot_start_answers_its_own_result()
    {
        // The revision of policies after the import cannot be recorded (the database refuses its run): the import is
        // committed, so its answer is its result — not a 503 "nothing was saved" that would have it sent again as "unchanged".
        await SqlScalarAsync("""
            create or replace function patch.test_no_revision() returns trigger language plpgsql as $$
            begin raise exception 'could not extend file: No space left on device' using errcode = '53100'; end $$;
            create trigger test_no_revision before insert on patch.mt_events for each row
              when (new.type = 'server_task_started' and new.data ->> 'task' = 'revise-software-updates') execute function patch.test_no_revision();
            """);
        try
        {
            var result = await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
            Assert.Equal("completed", result.GetProperty("status").GetString());
            Assert.True(result.GetProperty("eventsAppended").GetInt32() > 0, result.ToString());
            Assert.Equal(0, (long)(await SqlScalarAsync("select count(*) from patch.mt_events where type = 'server_task_started' and data ->> 'task' = 'revise-software-updates'"))!);
        }
        finally
        {
            await SqlScalarAsync("drop trigger if exists test_no_revision on patch.mt_events; drop function if exists patch.test_no_revision();");
        }
        Assert.True(await App.CatalogEventCountAsync() > 0);
    }

    [Fact]
    public async Task a_body_over_the_configured_size_is_refused()
    {
        var big = new byte[AppFixture.MaxImportBytes + 10];
        var problem = await App.ImportAsync("cvrf", big, HttpStatusCodeExpectation.Any);
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Equal("Catalog file too large", problem.GetProperty("title").GetString());
        Assert.Equal(0, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task a_multipart_upload_and_the_kev_catalog_mark_known_exploited_bulletins()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        using var client = App.Client();
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(SharedData.Bytes(SharedData.Kev));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        form.Add(file, "file", "known_exploited_vulnerabilities.json");
        var response = await client.PostAsync("/api/catalog/imports?format=kev", form);
        var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1404, result.GetProperty("vulnerabilitiesAdded").GetInt32());

        var kb = await GetJsonAsync("/api/bulletins/KB5022282");
        var alpc = kb.GetProperty("cves").EnumerateArray().Single(c => c.GetProperty("cve").GetString() == "CVE-2023-21674");
        Assert.True(alpc.GetProperty("knownExploited").GetBoolean());
        Assert.Equal("2023-01-31", alpc.GetProperty("dueDate").GetString());
        var exploited = await GetJsonAsync("/api/bulletins?knownExploited=true&pageSize=100");
        Assert.Contains(exploited.GetProperty("items").EnumerateArray(), i => i.GetProperty("bulletin").GetString() == "KB5022282");
        Assert.All(exploited.GetProperty("items").EnumerateArray(), i => Assert.True(i.GetProperty("knownExploited").GetBoolean()));

        var again = await App.ImportAsync("kev", SharedData.Bytes(SharedData.Kev));
        Assert.Equal("unchanged", again.GetProperty("status").GetString());
        Assert.Equal(1404, again.GetProperty("vulnerabilitiesUnchanged").GetInt32());

        // CISA's CSV twin of the same day says the same: nothing appended.
        var csv = await App.ImportAsync("kev", SharedData.Bytes(SharedData.KevCsv));
        Assert.Equal("unchanged", csv.GetProperty("status").GetString());
        Assert.Equal("2025.08.25", csv.GetProperty("documentId").GetString());
        Assert.Equal(1404, csv.GetProperty("vulnerabilitiesUnchanged").GetInt32());
    }

    [Fact]
    public async Task a_multipart_upload_of_one_file_and_nothing_else_nothing_dropped_in_silence()
    {
        using var client = App.Client();
        async Task<string> Upload(Action<MultipartFormDataContent> fill)
        {
            using var form = new MultipartFormDataContent();
            fill(form);
            var response = await client.PostAsync("/api/catalog/imports?format=kev", form);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            return await response.Content.ReadAsStringAsync();
        }
        var kev = SharedData.Bytes(SharedData.Kev);
        var withField = await Upload(f => { f.Add(new ByteArrayContent(kev), "file", "kev.json"); f.Add(new StringContent("cvrf"), "format"); });
        Assert.Contains("the form field 'format', which this operation does not read", withField);
        var twoFiles = await Upload(f => { f.Add(new ByteArrayContent(kev), "file", "kev.json"); f.Add(new ByteArrayContent(kev), "second", "again.json"); });
        Assert.Contains("it holds 2 files ('file', 'second')", twoFiles);
        Assert.Equal(0, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task a_month_of_the_msrc_archive_is_imported_as_it_is_stored_gzip_compressed()
    {
        var packed = SharedData.Bytes("msrc-cvrf/archive/2016-Oct.xml.gz");
        var first = await App.ImportAsync("cvrf", packed);
        Assert.Equal("completed", first.GetProperty("status").GetString());
        Assert.Equal("2016-Oct", first.GetProperty("documentId").GetString());
        Assert.True(first.GetProperty("bulletinsAdded").GetInt32() > 0);

        // The same document uncompressed says the same.
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(packed), System.IO.Compression.CompressionMode.Decompress);
        using var xml = new MemoryStream();
        await gzip.CopyToAsync(xml, TestContext.Current.CancellationToken);
        var again = await App.ImportAsync("cvrf", xml.ToArray());
        Assert.Equal("unchanged", again.GetProperty("status").GetString());
        Assert.Equal(first.GetProperty("bulletinsAdded").GetInt32(), again.GetProperty("bulletinsUnchanged").GetInt32());

        var cab = await App.ImportAsync("mssecure", "MSCF\0\0\0\0mssecure.xml"u8.ToArray(), HttpStatusCodeExpectation.Any);
        Assert.Equal("Cabinet file", cab.GetProperty("title").GetString());
        Assert.Equal("failed", cab.GetProperty("result").GetString());
    }

    [Fact]
    public async Task a_later_mssecure_datastore_brings_microsofts_ratings_and_cves_that_kev_marks_known_exploited()
    {
        await App.ImportAsync("mssecure", Encoding.UTF8.GetBytes(when_reading_a_later_mssecure_datastore.Xml.TrimStart()));
        await App.ImportAsync("kev", SharedData.Bytes(SharedData.Kev));

        // CVE-2004-0210 (written CAN-2004-0210 in the datastore) is in CISA's list.
        var posix = await GetJsonAsync("/api/bulletins/MS04-020");
        Assert.Equal("Important", posix.GetProperty("severity").GetString());
        var posixCve = posix.GetProperty("cves").EnumerateArray().Single();
        Assert.Equal("CVE-2004-0210", posixCve.GetProperty("cve").GetString());
        Assert.True(posixCve.GetProperty("knownExploited").GetBoolean());
        var exploited = await GetJsonAsync("/api/bulletins?knownExploited=true&vendor=Microsoft&pageSize=100");
        Assert.Equal(["MS04-020"], exploited.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("bulletin").GetString()).ToArray());
        var critical = await GetJsonAsync("/api/bulletins?severity=Critical&vendor=Microsoft&pageSize=100");
        Assert.Equal(["MS03-026"], critical.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("bulletin").GetString()).ToArray());
        var rpc = await GetJsonAsync("/api/bulletins?q=CVE-2003-0528");
        Assert.Equal("MS03-026", rpc.GetProperty("items")[0].GetProperty("bulletin").GetString());
    }

    private static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");
}

public class when_two_imports_race(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task each_is_decided_against_the_others_writes_and_the_store_holds_each_fact_once()
    {
        var content = SharedData.Bytes(SharedData.Cvrf2023);
        async Task<int> Import()
        {
            using var client = App.Client();
            var response = await client.PostAsync("/api/catalog/imports?format=cvrf", new ByteArrayContent(content));
            return (int)response.StatusCode;
        }

        var statuses = await Task.WhenAll(Import(), Import(), Import());

        // The later commits find the streams the first wrote and are decided again against them: no 409 for the administrator.
        Assert.All(statuses, s => Assert.Equal(200, s));
        Assert.Equal(39 + 111 + 54, await App.CatalogEventCountAsync());
        Assert.Equal(39, (await GetJsonAsync("/api/bulletins")).GetProperty("total").GetInt32());
    }
}

/// <summary>An unchanged document is recognised by its content hash — only when nothing was imported since and the core settings are the same.</summary>
public class when_the_same_document_is_imported_again(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task it_is_recognised_by_its_hash_only_when_it_was_the_last_import()
    {
        var jan23 = SharedData.Bytes(SharedData.Cvrf2023);
        await App.ImportAsync("cvrf", jan23);
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var events = await App.CatalogEventCountAsync();

        // Another document came in between: decided in full (and unchanged all the same).
        var full = await App.ImportAsync("cvrf", jan23);
        Assert.Equal("unchanged", full.GetProperty("status").GetString());
        var fullRun = await GetJsonAsync($"/api/server-tasks/runs/{full.GetProperty("runId").GetString()}");
        Assert.False(fullRun.GetProperty("counts").TryGetProperty("sameContent", out _));

        // Now it was the last import: the hash says it all, with the same counts.
        var same = await App.ImportAsync("cvrf", jan23);
        Assert.Equal("unchanged", same.GetProperty("status").GetString());
        Assert.Equal(full.GetProperty("bulletinsUnchanged").GetInt32(), same.GetProperty("bulletinsUnchanged").GetInt32());
        Assert.Equal(full.GetProperty("vulnerabilitiesUnchanged").GetInt32(), same.GetProperty("vulnerabilitiesUnchanged").GetInt32());
        var sameRun = await GetJsonAsync($"/api/server-tasks/runs/{same.GetProperty("runId").GetString()}");
        Assert.Equal(1, sameRun.GetProperty("counts").GetProperty("sameContent").GetInt32());
        Assert.Equal(64, sameRun.GetProperty("parameters").GetProperty("sha256").GetString()!.Length);
        Assert.Equal(events, await App.CatalogEventCountAsync());

        // As many bytes but not the same ones: the "unchanged" record written while hashing is rolled back, the document
        // is decided in full, and its run is the only one recorded.
        var revised = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(jan23)
            .Replace("<cvrf:DocumentTitle>January 2023 Security Updates<", "<cvrf:DocumentTitle>January 2023 Security Update!<"));
        Assert.Equal(jan23.Length, revised.Length);
        var runsBefore = (await GetJsonAsync("/api/catalog/imports")).GetProperty("total").GetInt32();
        var changed = await App.ImportAsync("cvrf", revised);
        Assert.Equal("completed", changed.GetProperty("status").GetString());
        Assert.Equal(39, changed.GetProperty("bulletinsRevised").GetInt32());
        var runs = await GetJsonAsync("/api/catalog/imports");
        Assert.Equal(runsBefore + 1, runs.GetProperty("total").GetInt32());
        Assert.Equal(changed.GetProperty("runId").GetString(), runs.GetProperty("items")[0].GetProperty("id").GetString());

        // The same bytes as another format are not the same import.
        var asPatch = await App.ImportAsync("patch", jan23, HttpStatusCodeExpectation.Any);
        Assert.Equal(400, asPatch.GetProperty("status").GetInt32());
    }
}

/// <summary>A control character in any text of a JSON catalog: a 400 naming the field, the failed run recorded, nothing imported.</summary>
public class when_a_catalog_text_holds_a_control_character(AppFixture app) : AppTest(app)
{
    [Theory]
    [InlineData("patch", "demo/patch-demo-catalog.json", "\"title\": \"January 10, 2023", "\"title\": \"January\\u0000 10, 2023", "title", "U+0000")]
    [InlineData("kev", "demo/kev-demo.json", "\"vulnerabilityName\": \"Microsoft Windows Internet Shortcut", "\"vulnerabilityName\": \"Microsoft\\u0007 Windows Internet Shortcut", "name", "U+0007")]
    public async Task the_import_is_refused_naming_the_field_and_its_run_is_kept(string format, string file, string find, string replace, string field, string character)
    {
        var text = (await File.ReadAllTextAsync(SharedData.RepoFile(file))).Replace(find, replace);
        Assert.Contains("\\u00", text);
        var before = await App.CatalogEventCountAsync();
        var result = await App.ImportAsync(format, System.Text.Encoding.UTF8.GetBytes(text), HttpStatusCodeExpectation.Any);
        Assert.Equal("Control character in text", result.GetProperty("title").GetString());
        Assert.Contains(character, result.GetProperty("detail").GetString());
        Assert.Contains(field, result.GetProperty("detail").GetString()!, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, await App.CatalogEventCountAsync());
        var runs = await GetJsonAsync("/api/catalog/imports");
        Assert.Equal("failed", runs.GetProperty("items")[0].GetProperty("status").GetString());
    }

    /// <summary>The place names the whole way down: the bulletin by index and number, its update by index, the field.</summary>
    [Fact]
    public async Task the_place_names_the_bulletin_the_update_and_the_field()
    {
        var catalog = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(SharedData.RepoFile("demo/patch-demo-catalog.json")))!;
        catalog["bulletins"]![2]!["updates"]![2]!["fileName"] = "windows10.0-kb5034122\u001F-x64.msu";
        var result = await App.ImportAsync("patch", System.Text.Encoding.UTF8.GetBytes(catalog.ToJsonString()), HttpStatusCodeExpectation.Any);
        Assert.Equal("Control character in text", result.GetProperty("title").GetString());
        Assert.Equal("bulletins[2] (KB5034122).updates[2].fileName", result.GetProperty("place").GetString());
        Assert.StartsWith("bulletins[2] (KB5034122).updates[2].fileName holds the control character U+001F at position 22;", result.GetProperty("detail").GetString());
    }

    /// <summary>
    /// A text Patch does not read (a KEV entry's notes) is still catalog text: a control
    /// character in it is refused by its JSON path and line, as one in a field it reads is.
    /// </summary>
    [Theory]
    [InlineData("kev", "demo/kev-demo.json", "\"notes\": \"", "\"notes\": \"see\\u0000", "$.vulnerabilities[0].notes", "U+0000")]
    [InlineData("kev", "demo/kev-demo.json", "\"notes\": \"", "\"notes\": \"bell\\b", "$.vulnerabilities[0].notes", "U+0008")]
    public async Task a_text_patch_does_not_read_is_refused_by_its_path(string format, string file, string find, string replace, string path, string character)
    {
        var original = await File.ReadAllTextAsync(SharedData.RepoFile(file));
        var at = original.IndexOf(find, StringComparison.Ordinal);
        Assert.True(at >= 0, $"{file} has no {find}");
        var text = original[..at] + replace + original[(at + find.Length)..];
        var before = await App.CatalogEventCountAsync();
        var result = await App.ImportAsync(format, System.Text.Encoding.UTF8.GetBytes(text), HttpStatusCodeExpectation.Any);
        Assert.Equal("Control character in text", result.GetProperty("title").GetString());
        Assert.StartsWith($"{path}: a control character ({character})", result.GetProperty("detail").GetString());
        Assert.StartsWith("line ", result.GetProperty("place").GetString());
        Assert.Equal(before, await App.CatalogEventCountAsync());
    }

    /// <summary>XML formats: a control character, as a character reference or a raw byte, is malformed XML (XML 1.0 allows only tab, CR and LF) — a 400 with the line and column.</summary>
    [Theory]
    [InlineData("mssecure", "mbsa-mssecure/mssecure.xml", "Title=\"Disabling Creation", "Title=\"Disabling&#x0; Creation")]
    [InlineData("mssecure", "mbsa-mssecure/mssecure.xml", "Title=\"Disabling Creation", "Title=\"Disabling\0 Creation")]
    [InlineData("mssecure", "mbsa-mssecure/mssecure.xml", "Title=\"Disabling Creation", "Title=\"Disabling&#x1B; Creation")]
    [InlineData("cvrf", "msrc-cvrf/2024-Jan.xml", "<vuln:Title>Kernel: information", "<vuln:Title>Kernel:&#x7; information")]
    [InlineData("cvrf", "msrc-cvrf/2024-Jan.xml", "<vuln:Title>Kernel: information", "<vuln:Title>Kernel:\u0001 information")]
    public async Task an_xml_catalog_with_a_control_character_is_refused_with_its_place_and_its_run_is_kept(string format, string file, string find, string replace)
    {
        var text = (await File.ReadAllTextAsync(SharedData.PathOf(file))).Replace(find, replace);
        Assert.Contains(replace, text);
        var before = await App.CatalogEventCountAsync();
        var result = await App.ImportAsync(format, System.Text.Encoding.UTF8.GetBytes(text), HttpStatusCodeExpectation.Any);
        Assert.Contains(result.GetProperty("title").GetString(), new[] { "Malformed XML", "Control character in text" });
        Assert.Matches("line [0-9]+|title", result.GetProperty("detail").GetString() + " " + result.GetProperty("place").GetString());
        Assert.Equal(before, await App.CatalogEventCountAsync());
        var runs = await GetJsonAsync("/api/catalog/imports");
        Assert.Equal("failed", runs.GetProperty("items")[0].GetProperty("status").GetString());
    }
}
