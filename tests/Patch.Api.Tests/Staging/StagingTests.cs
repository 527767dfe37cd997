using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Staging;

public class when_staging_bulletins(AppFixture app) : AppTest(app)
{
    private static object Update(string id, (string Url, string Sha256, long Size) file, string product = "w10", bool withHash = true, string? fileName = null) => new
    {
        id, product, fileName = fileName ?? id + ".msu", downloadUrl = file.Url, size = file.Size, sha256 = withHash ? file.Sha256 : null, restart = "required",
        commandLine = $"wusa.exe {id}.msu /quiet /norestart",
    };

    private static byte[] Catalog(params (string Id, object[] Updates)[] bulletins) => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
    {
        schemaVersion = "1.0", catalogId = "staging-test",
        vendors = new[] { new { id = "ms", name = "Microsoft" } },
        products = new[] { new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
        bulletins = bulletins.Select(b => new { id = b.Id, vendor = "ms", title = b.Id, severity = "Critical", updates = b.Updates }),
    }));

    private async Task<JsonElement> RowAsync(string bulletin) => (await GetJsonAsync($"/api/bulletins?q={bulletin}")).GetProperty("items")[0];

    private static JsonElement UpdateStatus(JsonElement status, string updateId) =>
        status.GetProperty("bulletins").EnumerateArray().SelectMany(b => b.GetProperty("updateStatus").EnumerateArray()).Single(u => u.GetProperty("updateId").GetString() == updateId);

    [Fact]
    public async Task good_large_missing_corrupt_and_interrupted_downloads_each_end_as_they_should()
    {
        await using var server = await ContentServer.StartAsync();
        var good = server.Add("good.msu", ContentServer.Bytes(300_000, 1));
        var large = server.Add("large.msu", ContentServer.Bytes(24 * 1024 * 1024, 2));
        var missing = ($"{server.BaseUrl}/files/missing.msu", ContentServer.Sha([1, 2, 3]), 3L);
        var wrong = server.Add("wrong.msu", ContentServer.Bytes(50_000, 3));
        var flaky = server.Add("flaky.msu", ContentServer.Bytes(2_000_000, 4), dropHalfwayOnce: true);
        await App.ImportAsync("patch", Catalog(
            ("KB9000001", [Update("good", good), Update("large", large)]),
            ("KB9000002", [Update("missing", missing)]),
            ("KB9000003", [Update("wrong", wrong with { Sha256 = ContentServer.Sha([9]) })]),
            ("KB9000004", [Update("flaky", flaky)])));
        Assert.Equal(0, (await RowAsync("KB9000001")).GetProperty("downloaded").GetInt32());

        var status = await StageAndWaitAsync("KB9000001", "KB9000002", "KB9000003", "KB9000004");

        var run = status.GetProperty("run");
        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal(3, run.GetProperty("counts").GetProperty("downloaded").GetInt32());
        Assert.Equal(2, run.GetProperty("counts").GetProperty("failed").GetInt32());

        var row1 = await RowAsync("KB9000001");
        Assert.Equal(2, row1.GetProperty("updates").GetInt32());
        Assert.Equal(2, row1.GetProperty("downloaded").GetInt32());
        Assert.True(row1.GetProperty("staged").GetBoolean());
        Assert.True(UpdateStatus(status, "large").GetProperty("verified").GetBoolean());
        Assert.Equal(large.Size, UpdateStatus(status, "large").GetProperty("size").GetInt64());

        var notFound = UpdateStatus(status, "missing");
        Assert.Equal("failed", notFound.GetProperty("state").GetString());
        Assert.StartsWith($"{missing.Item1}: HTTP 404", notFound.GetProperty("reason").GetString());
        var row2 = await RowAsync("KB9000002");
        Assert.False(row2.GetProperty("staged").GetBoolean());
        Assert.Equal(0, row2.GetProperty("downloaded").GetInt32());
        Assert.Equal(1, row2.GetProperty("failedDownloads").GetInt32());

        var corrupt = UpdateStatus(status, "wrong");
        Assert.StartsWith($"{wrong.Url}: hash mismatch", corrupt.GetProperty("reason").GetString());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(App.PackageDirectory, "sha256"), wrong.Sha256, SearchOption.AllDirectories));

        var resumed = UpdateStatus(status, "flaky");
        Assert.Equal("downloaded", resumed.GetProperty("state").GetString());
        Assert.Equal(2, resumed.GetProperty("attempts").GetInt32());
        Assert.True(server.RangeRequests >= 1, "the second attempt resumes with a Range request");
        Assert.True((await RowAsync("KB9000004")).GetProperty("staged").GetBoolean());

        // The packages are served by hash, with Range, to enrolled agents only.
        using var client = App.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"/agent/v1/packages/{good.Sha256}")).StatusCode);
        var token = JsonDocument.Parse(await (await client.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"pkg"}""", Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync())
            .RootElement.GetProperty("token").GetString();
        var enrolled = JsonDocument.Parse(await (await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token, computerName = "PKG-1", agentVersion = "0.1.0" }), Encoding.UTF8, "application/json")))
            .Content.ReadAsStringAsync()).RootElement;
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", enrolled.GetProperty("credential").GetString());
        var bytes = await client.GetByteArrayAsync($"/agent/v1/packages/{good.Sha256}");
        Assert.Equal(good.Sha256, ContentServer.Sha(bytes));
        var range = new HttpRequestMessage(HttpMethod.Get, $"/agent/v1/packages/{good.Sha256}");
        range.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(100, 199);
        var partial = await client.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(100, (await partial.Content.ReadAsByteArrayAsync()).Length);
        // The entity tag is the content's SHA-256: a copy the agent holds is not sent again; a resume checks it is the same file.
        var tag = new System.Net.Http.Headers.EntityTagHeaderValue($"\"{good.Sha256}\"");
        Assert.Equal(tag, partial.Headers.ETag);
        var held = new HttpRequestMessage(HttpMethod.Get, $"/agent/v1/packages/{good.Sha256}");
        held.Headers.IfNoneMatch.Add(tag);
        Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(held)).StatusCode);
        var resume = new HttpRequestMessage(HttpMethod.Get, $"/agent/v1/packages/{good.Sha256}");
        resume.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(100, 199);
        resume.Headers.IfRange = new System.Net.Http.Headers.RangeConditionHeaderValue(new System.Net.Http.Headers.EntityTagHeaderValue("\"another\""));
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(resume)).StatusCode);
        // As RFC 9110 says, not as the framework read it: a unit other than bytes, or an If-Range that is no tag of this
        // package (unreadable, a date: packages have no Last-Modified), sends the file whole; its own tag resumes it.
        foreach (var (rangeHeader, ifRange, expected) in new[] { ("items=0-5", null, HttpStatusCode.OK), ("bytes=0-9", "garbage", HttpStatusCode.OK),
                     ("bytes=0-9", "Wed, 21 Oct 2099 07:28:00 GMT", HttpStatusCode.OK), ("bytes=0-9", $"\"{good.Sha256}\"", HttpStatusCode.PartialContent) })
        {
            var odd = new HttpRequestMessage(HttpMethod.Get, $"/agent/v1/packages/{good.Sha256}");
            odd.Headers.TryAddWithoutValidation("Range", rangeHeader);
            if (ifRange is not null) odd.Headers.TryAddWithoutValidation("If-Range", ifRange);
            Assert.True((await client.SendAsync(odd)).StatusCode == expected, $"Range: {rangeHeader}, If-Range: {ifRange}");
        }
        var malformed = new HttpRequestMessage(HttpMethod.Get, $"/agent/v1/packages/{good.Sha256}");
        malformed.Headers.TryAddWithoutValidation("If-Match", good.Sha256);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.SendAsync(malformed)).StatusCode);
        // A name that is no SHA-256 (a path to climb out with) is refused as such, never looked up.
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/agent/v1/packages/..%2F..%2Fetc%2Fpasswd")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/agent/v1/packages/{missing.Item2}")).StatusCode);

        // Re-staging retries only what is missing: the vendor fixed the 404.
        var requestsBefore = server.Requests;
        server.Add("missing.msu", [1, 2, 3]);
        var again = await StageAndWaitAsync("KB9000001", "KB9000002");
        Assert.Equal(1, again.GetProperty("run").GetProperty("counts").GetProperty("downloaded").GetInt32());
        Assert.Equal(1, again.GetProperty("run").GetProperty("counts").GetProperty("alreadyStaged").GetInt32());
        Assert.Equal(requestsBefore + 1, server.Requests);
        Assert.True((await RowAsync("KB9000002")).GetProperty("staged").GetBoolean());

        var history = await GetJsonAsync("/api/bulletins/KB9000002/history");
        Assert.Equal(["bulletin_imported", "software_update_added", "update_download_failed", "update_downloaded"], history.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task an_update_without_a_hash_needs_verification_off_and_the_record_says_so()
    {
        await using var server = await ContentServer.StartAsync();
        var file = server.Add("nohash.msu", ContentServer.Bytes(10_000, 5));
        await App.ImportAsync("patch", Catalog(("KB9000005", [Update("nohash", file, withHash: false)])));

        var refused = UpdateStatus(await StageAndWaitAsync("KB9000005"), "nohash");
        Assert.Equal("failed", refused.GetProperty("state").GetString());
        Assert.Contains("Verify authenticity", refused.GetProperty("reason").GetString());
        Assert.Equal(0, server.Requests);

        using var client = App.Client();
        var settings = JsonNode.Parse((await GetJsonAsync("/api/settings/vendors/microsoft")).GetRawText())!;
        settings["verifyAuthenticity"] = false;
        var put = await client.PutAsync("/api/settings/vendors/microsoft", new StringContent(settings.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var staged = UpdateStatus(await StageAndWaitAsync("KB9000005"), "nohash");
        Assert.Equal("downloaded", staged.GetProperty("state").GetString());
        Assert.False(staged.GetProperty("verified").GetBoolean());
        Assert.Equal(file.Sha256, staged.GetProperty("sha256").GetString());
    }

    [Fact]
    public async Task the_staging_location_is_tried_before_the_vendor_and_finds_cvrf_files_by_kb_and_architecture()
    {
        // A CVRF update: no file name, no hash, the vendor URL is a Microsoft Update Catalog search page.
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var kb = await GetJsonAsync("/api/bulletins/KB5034129");
        var update = kb.GetProperty("updates")[0];
        Assert.Contains("catalog.update.microsoft.com", update.GetProperty("downloadUrl").GetString());
        Assert.Equal("Windows Server 2022", update.GetProperty("product").GetString());

        var noMirror = UpdateStatus(await StageAndWaitAsync("KB5034129"), update.GetProperty("updateId").GetString()!);
        Assert.StartsWith("no file is known for this update: its files have not been found in the Microsoft Update Catalog yet", noMirror.GetProperty("reason").GetString());

        using var client = App.Client();
        var settings = JsonNode.Parse((await GetJsonAsync("/api/settings/vendors/microsoft")).GetRawText())!;
        settings["verifyAuthenticity"] = false;
        await client.PutAsync("/api/settings/vendors/microsoft", new StringContent(settings.ToJsonString(), Encoding.UTF8, "application/json"));
        var content = ContentServer.Bytes(40_000, 6);
        File.WriteAllBytes(Path.Combine(App.MirrorDirectory, "windows10.0-kb5034129-x64_4a1b2c3d.msu"), content);
        File.WriteAllBytes(Path.Combine(App.MirrorDirectory, "windows10.0-kb5034129-arm64_9f8e7d6c.msu"), ContentServer.Bytes(10, 7));

        var status = await StageAndWaitAsync("KB5034129");
        var servers = status.GetProperty("bulletins")[0].GetProperty("updateStatus").EnumerateArray().ToList();
        Assert.All(servers, s => Assert.Equal("downloaded", s.GetProperty("state").GetString()));
        Assert.All(servers, s => Assert.EndsWith("windows10.0-kb5034129-x64_4a1b2c3d.msu", s.GetProperty("source").GetString()));
        Assert.Equal(ContentServer.Sha(content), servers[0].GetProperty("sha256").GetString());
        Assert.True((await RowAsync("KB5034129")).GetProperty("staged").GetBoolean());
        // Downloaded from the staging location, its updates have their files: none is "without files".
        Assert.Equal(0, (await RowAsync("KB5034129")).GetProperty("unresolvedUpdates").GetInt32());

        // The catalog names no file for a CVRF update: the policy runs the file by the name the mirror gave it.
        var (created, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB5034129" } });
        Assert.Equal(HttpStatusCode.Created, created);
        var distributed = policy.GetProperty("updates")[0];
        Assert.Equal("windows10.0-kb5034129-x64_4a1b2c3d.msu", distributed.GetProperty("fileName").GetString());
        Assert.Contains("\"windows10.0-kb5034129-x64_4a1b2c3d.msu\"", distributed.GetProperty("commandLine").GetString());
        Assert.True((await SendAsync(HttpMethod.Delete, $"/api/policies/{policy.GetProperty("id").GetString()}")).Status is HttpStatusCode.OK or HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task the_mirror_is_tried_first_by_file_name_and_the_vendor_is_the_fallback()
    {
        await using var server = await ContentServer.StartAsync();
        var vendorOnly = server.Add("vendor-only.msu", ContentServer.Bytes(5_000, 8));
        var mirrored = server.Add("mirrored.msu", ContentServer.Bytes(5_000, 9));
        File.WriteAllBytes(Path.Combine(App.MirrorDirectory, "mirrored.msu"), ContentServer.Bytes(5_000, 9));
        await App.ImportAsync("patch", Catalog(("KB9000007", [Update("vendor-only", vendorOnly), Update("mirrored", mirrored)])));

        var status = await StageAndWaitAsync("KB9000007");

        Assert.StartsWith("file://", UpdateStatus(status, "mirrored").GetProperty("source").GetString());
        Assert.StartsWith("http://127.0.0.1", UpdateStatus(status, "vendor-only").GetProperty("source").GetString());
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task a_file_larger_than_the_catalog_says_and_a_host_that_is_gone_are_recorded_failures()
    {
        await using var server = await ContentServer.StartAsync();
        var big = server.Add("big.msu", ContentServer.Bytes(100_000, 10));
        var closedPort = System.Net.Sockets.TcpListener.Create(0);
        closedPort.Start();
        var deadUrl = $"http://127.0.0.1:{((IPEndPoint)closedPort.LocalEndpoint).Port}/files/x.msu";
        closedPort.Stop();
        await App.ImportAsync("patch", Catalog(("KB9000009", [Update("big", big with { Size = 1_000 }), Update("dead", (deadUrl, ContentServer.Sha([1]), 1L))])));

        var status = await StageAndWaitAsync("KB9000009");

        Assert.Contains("too large: ", UpdateStatus(status, "big").GetProperty("reason").GetString());
        Assert.Contains("where the catalog says 1000", UpdateStatus(status, "big").GetProperty("reason").GetString());
        var dead = UpdateStatus(status, "dead");
        Assert.Equal("failed", dead.GetProperty("state").GetString());
        Assert.StartsWith($"{deadUrl}: gave up after 4 attempts", dead.GetProperty("reason").GetString());
        Assert.Equal(4 + 2, dead.GetProperty("attempts").GetInt32()); // four tries at the vendor after two mirror look-ups
        Assert.Equal(2, (await RowAsync("KB9000009")).GetProperty("failedDownloads").GetInt32());
    }

    [Fact]
    public async Task staging_an_unknown_bulletin_starts_nothing()
    {
        await App.ImportAsync("patch", Catalog(("KB9000008", [])));
        using var client = App.Client();
        var response = await client.PostAsync("/api/bulletins/stage", new StringContent("""{"bulletinIds":["KB9000008","KB0000000"]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(0, (await GetJsonAsync("/api/server-tasks/runs?task=staging")).GetProperty("total").GetInt32());
    }
}
