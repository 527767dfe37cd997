using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog;
using Patch.Application.ServerTasks;

namespace Patch.Api.Tests.Catalog;

/// <summary>The MSRC CVRF API reproduced on loopback: the real updates index's entries and the real documents at {base}updates and {base}cvrf/{id}.</summary>
public class when_the_microsoft_feed_imports_the_security_update_guide(AppFixture app) : AppTest(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class FakeMsrc
    {
        public readonly Dictionary<string, JsonObject> Index = new();
        public readonly Dictionary<string, byte[]> Documents = new();
        public readonly HashSet<string> Failing = [];
        public readonly HashSet<string> Slow = [];
        public readonly List<string> Requests = [];
        /// <summary>Answer every document in JSON, the API's default form, whatever the request accepts.</summary>
        public bool Json;

        public void Add(string id, byte[] document)
        {
            var real = JsonNode.Parse(SharedData.Bytes("msrc-cvrf/updates-index.json"))!["value"]!.AsArray().Single(e => e!["ID"]!.GetValue<string>() == id)!;
            Index[id] = real.DeepClone().AsObject();
            Documents[id] = document;
        }

        public async Task Serve(HttpContext http)
        {
            var path = http.Request.Path.Value!;
            lock (Requests) Requests.Add(path);
            if (path == "/cvrf/v3.0/updates")
            {
                http.Response.ContentType = "application/json";
                await http.Response.WriteAsync(new JsonObject { ["value"] = new JsonArray(Index.Values.Select(v => (JsonNode)v.DeepClone()).ToArray()) }.ToJsonString());
                return;
            }
            var id = path["/cvrf/v3.0/cvrf/".Length..];
            if (Failing.Contains(id)) { http.Response.StatusCode = 500; return; }
            if (Slow.Contains(id)) await Task.Delay(TimeSpan.FromSeconds(5), http.RequestAborted);
            if (Json)
            {
                http.Response.ContentType = "application/json; charset=utf-8";
                await http.Response.Body.WriteAsync(CvrfJsonTwin.Of(new MemoryStream(Documents[id])));
                return;
            }
            if (http.Request.Headers.Accept.ToString() != "application/xml") { http.Response.StatusCode = 406; return; }
            http.Response.ContentType = "text/xml; charset=utf-8"; // not what was asked for exactly: read whatever comes back
            await http.Response.Body.WriteAsync(Documents[id]);
        }
    }

    private static byte[] Archive(string month)
    {
        using var gz = new GZipStream(SharedData.Open($"msrc-cvrf/archive/{month}.xml.gz"), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gz.CopyTo(buffer);
        return buffer.ToArray();
    }

    private async Task<(Patch.Application.Common.TaskOutcome Outcome, long Events)> RunAsync(WebApplication server)
    {
        await using var scope = App.Host.Services.CreateAsyncScope();
        var options = new MicrosoftFeedOptions
        {
            CvrfApiBaseUrl = $"{server.Urls.First()}/cvrf/v3.0/", CvrfSince = DateTimeOffset.Parse("2024-01-01T00:00:00Z"), DocumentTimeout = TimeSpan.FromSeconds(1),
        };
        var feed = ActivatorUtilities.CreateInstance<MicrosoftCvrfFeed>(scope.ServiceProvider, options);
        var outcome = await feed.RunAsync("task-run:test", Ct);
        return (outcome, await App.CatalogEventCountAsync());
    }

    [Fact]
    public async Task new_documents_import_once_revised_ones_again_and_failures_are_retried()
    {
        var msrc = new FakeMsrc();
        msrc.Add("2023-Jan", SharedData.Bytes(SharedData.Cvrf2023));    // first released before CvrfSince: not taken on the first run
        msrc.Add("2024-Jan", SharedData.Bytes(SharedData.Cvrf2024));
        msrc.Add("2024-Feb", Archive("2024-Feb"));
        msrc.Add("2024-Mar", Archive("2024-Mar"));
        msrc.Add("2024-Apr", Archive("2024-Apr"));
        msrc.Failing.Add("2024-Mar");
        msrc.Slow.Add("2024-Apr");
        await using var server = await StartServerAsync(msrc.Serve);
        // A subscriber to failed imports (its receiver need not answer: the deliveries queued are what is looked at).
        var (subscribed, webhook) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "Feed failures", url = "http://127.0.0.1:9/hooks", events = new[] { "import-failed" } });
        Assert.Equal(System.Net.HttpStatusCode.Created, subscribed);
        var webhookId = webhook.GetProperty("webhook").GetProperty("id").GetString()!;

        var (first, events) = await RunAsync(server);
        // A document that could not be fetched is a failed import for the subscribers too, as a document that could not be read.
        var notified = (await GetJsonAsync($"/api/webhooks/{webhookId}/deliveries?pageSize=100")).GetProperty("items").EnumerateArray()
            .Select(d => System.Text.Json.JsonDocument.Parse(d.GetProperty("body").GetString()!).RootElement.GetProperty("data")).ToList();
        Assert.Contains(notified, d => d.GetProperty("documentId").GetString() == "2024-Mar" && d.GetProperty("error").GetString()!.Contains("500"));
        Assert.Contains(notified, d => d.GetProperty("documentId").GetString() == "2024-Apr");
        Assert.Equal(System.Net.HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/webhooks/{webhookId}")).Status);
        Assert.Equal(5, first.Counts["indexed"]);
        Assert.Equal(4, first.Counts["selected"]);
        Assert.Equal(2, first.Counts["imported"]);
        Assert.Equal(2, first.Counts["failed"]);
        Assert.True(events > 0);
        Assert.DoesNotContain("/cvrf/v3.0/cvrf/2023-Jan", msrc.Requests);
        var runs = await GetJsonAsync("/api/catalog/imports?pageSize=100");
        var failed = runs.GetProperty("items").EnumerateArray().Where(r => r.GetProperty("status").GetString() == "failed").ToList();
        Assert.Contains(failed, r => r.GetProperty("parameters").GetProperty("msrcId").GetString() == "2024-Mar" && r.GetProperty("error").GetString()!.Contains("500"));
        Assert.Contains(failed, r => r.GetProperty("parameters").GetProperty("msrcId").GetString() == "2024-Apr" && r.GetProperty("error").GetString()!.Contains("no answer within"));
        // Oldest first: January before February.
        var imported = runs.GetProperty("items").EnumerateArray().Where(r => r.GetProperty("status").GetString() == "completed")
            .OrderBy(r => r.GetProperty("started").GetDateTimeOffset()).Select(r => r.GetProperty("parameters").GetProperty("msrcId").GetString()).ToList();
        Assert.Equal(["2024-Jan", "2024-Feb"], imported);

        // Unchanged index, the failures still failing: nothing appended to the catalog; only the failed ones are asked again.
        msrc.Requests.Clear();
        var (second, eventsAfterSecond) = await RunAsync(server);
        Assert.Equal(events, eventsAfterSecond);
        Assert.Equal(0, second.Counts["imported"]);
        Assert.Equal(2, second.Counts["selected"]);
        Assert.DoesNotContain("/cvrf/v3.0/cvrf/2024-Jan", msrc.Requests);

        // Microsoft revises January (a new CurrentReleaseDate and a changed fixed build); March comes back; April answers in time.
        msrc.Index["2024-Jan"]["CurrentReleaseDate"] = "2026-11-30T08:00:00Z";
        msrc.Documents["2024-Jan"] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(msrc.Documents["2024-Jan"])
            .Replace("<vuln:FixedBuild>10.0.22621.3007</vuln:FixedBuild>", "<vuln:FixedBuild>10.0.22621.3008</vuln:FixedBuild>"));
        msrc.Failing.Clear();
        msrc.Slow.Clear();
        var (third, eventsAfterThird) = await RunAsync(server);
        Assert.Equal(3, third.Counts["selected"]);
        Assert.Equal(3, third.Counts["imported"]);
        Assert.Equal(0, third.Counts["failed"]);
        Assert.True(eventsAfterThird > eventsAfterSecond);
        var january = (await GetJsonAsync("/api/catalog/imports?pageSize=100")).GetProperty("items").EnumerateArray()
            .First(r => r.GetProperty("parameters").GetProperty("msrcId").GetString() == "2024-Jan");
        Assert.True(january.GetProperty("counts").GetProperty("updatesRevised").GetInt32() > 0);

        // The same index once more: nothing to do at all.
        var (fourth, eventsAfterFourth) = await RunAsync(server);
        Assert.Equal(0, fourth.Counts["selected"]);
        Assert.Equal("unchanged", fourth.Status);
        Assert.Equal(eventsAfterThird, eventsAfterFourth);
    }

    [Fact]
    public async Task a_revised_date_with_the_same_content_appends_nothing_and_a_malformed_document_is_a_failed_run()
    {
        var msrc = new FakeMsrc();
        msrc.Add("2024-Jan", SharedData.Bytes(SharedData.Cvrf2024));
        msrc.Add("2024-Feb", Encoding.UTF8.GetBytes("<cvrfdoc><unclosed></cvrfdoc>"));
        await using var server = await StartServerAsync(msrc.Serve);
        var (first, events) = await RunAsync(server);
        Assert.Equal(1, first.Counts["imported"]);
        Assert.Equal(1, first.Counts["failed"]);

        msrc.Index["2024-Jan"]["CurrentReleaseDate"] = "2026-12-01T00:00:00Z";
        var (second, after) = await RunAsync(server);
        Assert.Equal(events, after);
        Assert.Equal(1, second.Counts["unchanged"]);
        Assert.Equal(1, second.Counts["failed"]);
    }

    /// <summary>
    /// An index with entries that name no document, one named twice, a document answered for another id, and an HTML page
    /// answered with 200: the entries are skipped unfetched, the other answers are failed runs that say what came back.
    /// </summary>
    [Fact]
    public async Task entries_that_name_no_document_are_skipped_and_another_document_or_a_web_page_is_a_failed_run()
    {
        var msrc = new FakeMsrc();
        msrc.Add("2024-Jan", SharedData.Bytes(SharedData.Cvrf2024));
        msrc.Add("2024-Feb", SharedData.Bytes(SharedData.Cvrf2024));       // January's document again, for February
        msrc.Add("2024-Mar", "<!DOCTYPE html><html><body>Service unavailable</body></html>"u8.ToArray());
        foreach (var bogus in new[] { "", "updates", "../../kev", "ctl\u0001", "20245-Jan", "2024-Jan-" })
            msrc.Index[bogus] = new JsonObject { ["ID"] = bogus, ["InitialReleaseDate"] = "2024-06-01T00:00:00Z", ["CurrentReleaseDate"] = "2024-06-01T00:00:00Z" };
        var twice = msrc.Index["2024-Jan"].DeepClone().AsObject();
        twice["ID"] = "2024-JAN";
        twice["CurrentReleaseDate"] = "2020-01-01T00:00:00Z";
        msrc.Index["2024-JAN"] = twice;
        await using var server = await StartServerAsync(msrc.Serve);

        var (outcome, _) = await RunAsync(server);
        Assert.Equal(7, outcome.Counts["skipped"]);
        Assert.Equal(3, outcome.Counts["selected"]);
        Assert.Equal(1, outcome.Counts["imported"]);
        Assert.Equal(2, outcome.Counts["failed"]);
        Assert.All(msrc.Requests, r => Assert.Matches("^/cvrf/v3.0/(updates|cvrf/2024-(Jan|Feb|Mar))$", r));
        var runs = (await GetJsonAsync("/api/catalog/imports?pageSize=100")).GetProperty("items").EnumerateArray().ToList();
        string Error(string id) => runs.Single(r => r.GetProperty("parameters").GetProperty("msrcId").GetString() == id).GetProperty("error").GetString()!;
        Assert.Contains("The MSRC API answered document '2024-Jan' for '2024-Feb'", Error("2024-Feb"));
        Assert.Contains("an HTML page", Error("2024-Mar"));
    }

    /// <summary>
    /// A proxy or a later API version that answers JSON whatever is asked: the documents are read all the same, and the
    /// XML of the same months afterwards (Microsoft's revision dates moved) is the same catalog — nothing appended.
    /// </summary>
    [Fact]
    public async Task documents_answered_in_json_import_as_their_xml_would()
    {
        var msrc = new FakeMsrc { Json = true };
        msrc.Add("2024-Jan", SharedData.Bytes(SharedData.Cvrf2024));
        msrc.Add("2024-Feb", Archive("2024-Feb"));
        await using var server = await StartServerAsync(msrc.Serve);
        var (first, events) = await RunAsync(server);
        Assert.Equal((2, 0), (first.Counts["imported"], first.Counts["failed"]));
        Assert.Equal(37, (await GetJsonAsync("/api/catalog/imports?pageSize=100")).GetProperty("items").EnumerateArray()
            .First(r => r.GetProperty("parameters").GetProperty("msrcId").GetString() == "2024-Jan").GetProperty("counts").GetProperty("bulletinsAdded").GetInt32());

        msrc.Json = false;
        msrc.Index["2024-Jan"]["CurrentReleaseDate"] = "2026-12-01T00:00:00Z";
        msrc.Index["2024-Feb"]["CurrentReleaseDate"] = "2026-12-01T00:00:00Z";
        var (second, after) = await RunAsync(server);
        Assert.Equal((2, 0), (second.Counts["selected"], second.Counts["failed"]));
        Assert.Equal(events, after);
    }

    [Fact]
    public async Task the_kev_feed_imports_once_and_then_finds_it_unchanged()
    {
        var kev = SharedData.Bytes(SharedData.Kev);
        await using var server = await StartServerAsync(async http => { http.Response.ContentType = "application/json"; await http.Response.Body.WriteAsync(kev); });
        await using var scope = App.Host.Services.CreateAsyncScope();
        var poller = scope.ServiceProvider.GetRequiredService<CatalogSourcePoller>();
        var source = new CatalogSource { Url = $"{server.Urls.First()}/feeds/known_exploited_vulnerabilities.json", Format = "kev" };
        Assert.Equal("completed", (await poller.RunOneAsync(source, KevFeed.TaskName, Ct)).Status);
        var events = await App.CatalogEventCountAsync();
        var again = await poller.RunOneAsync(source, KevFeed.TaskName, Ct);
        Assert.Equal("unchanged", again.Status);
        Assert.Equal(events, await App.CatalogEventCountAsync());
        Assert.Equal(KevFeed.TaskName, (await GetJsonAsync($"/api/server-tasks/runs/{again.RunId}")).GetProperty("trigger").GetString());
    }

    [Fact]
    public void the_index_reader_names_what_is_wrong()
    {
        Assert.Contains("'value'", Assert.Throws<FormatException>(() => CvrfFeedSelection.ParseIndex("{}"u8.ToArray())).Message);
        Assert.Contains("not JSON", Assert.Throws<FormatException>(() => CvrfFeedSelection.ParseIndex("<xml/>"u8.ToArray())).Message);
        var index = CvrfFeedSelection.ParseIndex(SharedData.Bytes("msrc-cvrf/updates-index.json"));
        Assert.True(index.Count > 150);
        var selected = CvrfFeedSelection.Select(index, new Dictionary<string, CvrfDocumentState>(), DateTimeOffset.Parse("2025-01-01T00:00:00Z"));
        Assert.All(selected, e => Assert.True(e.InitialReleaseDate >= DateTimeOffset.Parse("2025-01-01T00:00:00Z")));
        Assert.Equal(selected.OrderBy(e => e.InitialReleaseDate).Select(e => e.Id), selected.Select(e => e.Id));
    }

    private static Task<WebApplication> StartServerAsync(RequestDelegate handler) => Loopback.StartAsync(handler);
}
