using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog;

namespace Patch.Api.Tests.Catalog;

/// <summary>
/// Microsoft updates without files (as CVRF gives them) find them in a loopback Microsoft Update Catalog that reproduces
/// its structure: Search.aspx's result rows and DownloadDialog.aspx's downloadInformation assignments with base64 digests.
/// </summary>
public class when_microsoft_updates_are_resolved_in_the_update_catalog(AppFixture app) : AppTest(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class FakeCatalog
    {
        public readonly Dictionary<string, string> Searches = new(StringComparer.OrdinalIgnoreCase);
        public readonly Dictionary<string, List<(string Name, byte[] Content)>> Dialogs = new(StringComparer.OrdinalIgnoreCase);
        public readonly Dictionary<string, byte[]> Files = new();
        public string BaseUrl = "";
        public int Requests;
        /// <summary>A file sent half, then held until released (a download in progress).</summary>
        public (string Name, TaskCompletionSource Sent, TaskCompletionSource Release)? HeldHalfway;

        public static string Row(string guid, string title, string products, long size) => $"""
            <tr id="{guid}_R1">
              <td class="resultsbottomBorder resultspadding" id="{guid}_C0_R1"><input id="{guid}" class="flatBlueButtonDownload" type="button" value="Download" /></td>
              <td class="resultsbottomBorder resultspadding" id="{guid}_C1_R1"><a id="{guid}_link" href="javascript:void(0);" onclick='goToDetails("{guid}");'>
                   {WebUtility.HtmlEncode(title)}
                 </a></td>
              <td class="resultsbottomBorder resultspadding" id="{guid}_C2_R1">{products}</td>
              <td class="resultsbottomBorder resultspadding" id="{guid}_C3_R1">Security Updates</td>
              <td class="resultsbottomBorder resultspadding" id="{guid}_C4_R1">1/9/2024</td>
              <td class="resultsbottomBorder resultspadding" id="{guid}_C5_R1">n/a</td>
              <td class="resultsbottomBorder resultspadding" id="{guid}_C6_R1"><span id="{guid}_size">{size / 1024} KB</span><span class="noDisplay" id="{guid}_originalSize">{size}</span></td>
            </tr>
            """;

        public static string Page(params string[] rows) => rows.Length == 0
            ? """<html><body><span id="ctl00_catalogBody_noResultText">We did not find any results for "KB".</span></body></html>"""
            : $"""<html><body><table class="resultsBorder" id="ctl00_catalogBody_updateMatches">{string.Concat(rows)}</table></body></html>""";

        public void Dialog(string guid, params (string Name, byte[] Content)[] files)
        {
            Dialogs[guid] = files.ToList();
            foreach (var f in files) Files[f.Name] = f.Content;
        }

        public async Task Serve(HttpContext http)
        {
            Interlocked.Increment(ref Requests);
            var path = http.Request.Path.Value!;
            if (path == "/Search.aspx")
            {
                await http.Response.WriteAsync(Searches.GetValueOrDefault(http.Request.Query["q"].ToString()) ?? Page());
                return;
            }
            if (path == "/DownloadDialog.aspx" && http.Request.Method == "POST")
            {
                var ids = JsonDocument.Parse((await http.Request.ReadFormAsync())["updateIDs"].ToString()).RootElement;
                var guid = ids[0].GetProperty("updateID").GetString()!;
                var script = new StringBuilder("<html><head><script type=\"text/javascript\">var downloadInformation = new Array();\n");
                var i = 0;
                foreach (var (name, content) in Dialogs[guid])
                {
                    script.Append($"downloadInformation[0].files[{i}] = new Object();\n");
                    script.Append($"downloadInformation[0].files[{i}].url = '{BaseUrl}/d/msdownload/update/software/secu/2024/01/{name}';\n");
                    script.Append($"downloadInformation[0].files[{i}].digest = '{Convert.ToBase64String(SHA1.HashData(content))}';\n");
                    script.Append($"downloadInformation[0].files[{i}].fileName = '{name}';\n");
                    i++;
                }
                await http.Response.WriteAsync(script.Append("</script></head><body></body></html>").ToString());
                return;
            }
            if (path.StartsWith("/d/", StringComparison.Ordinal) && Files.TryGetValue(Path.GetFileName(path), out var bytes))
            {
                if (HeldHalfway is { } held && held.Name == Path.GetFileName(path))
                {
                    await http.Response.Body.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
                    await http.Response.Body.FlushAsync();
                    held.Sent.TrySetResult();
                    await held.Release.Task.WaitAsync(http.RequestAborted);
                    await http.Response.Body.WriteAsync(bytes.AsMemory(bytes.Length / 2));
                    return;
                }
                await http.Response.Body.WriteAsync(bytes);
                return;
            }
            http.Response.StatusCode = 404;
        }
    }

    private static byte[] Content(string text) => Encoding.UTF8.GetBytes(text + new string('x', 3000));

    private const string X64 = "11111111-2222-3333-4444-555555555555";
    private const string Arm = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    private async Task<(FakeCatalog Fake, WebApplication Server)> StartAsync()
    {
        var fake = new FakeCatalog();
        fake.Searches["KB5034123"] = FakeCatalog.Page(
            FakeCatalog.Row(X64, "2024-01 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5034123)", "Windows 11", 6000),
            FakeCatalog.Row(Arm, "2024-01 Cumulative Update for Windows 11 Version 23H2 for arm64-based Systems (KB5034123)", "Windows 11", 3100),
            FakeCatalog.Row("99999999-2222-3333-4444-555555555555", "2024-01 Dynamic Update for Windows 11 Version 23H2 for x64-based Systems (KB5034123)", "Windows 11 Dynamic Update", 10));
        fake.Dialog(X64, ("windows11.0-kb5031455-x64_checkpoint.msu", Content("checkpoint")), ("windows11.0-kb5034123-x64_cu.msu", Content("x64 cumulative")));
        fake.Dialog(Arm, ("windows11.0-kb5034123-arm64_cu.msu", Content("arm64 cumulative")));
        fake.Searches["KB5034122"] = FakeCatalog.Page(
            FakeCatalog.Row("0000000a-2222-3333-4444-555555555555", "2024-01 Cumulative Update for Windows 10 Version 22H2 for x64-based Systems (KB5034122)", "Windows 10", 10),
            FakeCatalog.Row("0000000b-2222-3333-4444-555555555555", "2024-01 Cumulative Update for Windows 10 Version 22H2 for x64-based Systems (KB5034122) [Hotpatch]", "Windows 10", 10));
        fake.Searches["KB5088888"] = "<html><body><div class=\"newLayout\">Something else entirely</div></body></html>";
        var server = await Loopback.StartAsync(fake.Serve);
        fake.BaseUrl = server.Urls.First();
        return (fake, server);
    }

    /// <summary>The test's catalog; <paramref name="revised"/>: KB5034123 revised then (its title changed), as Microsoft dated it.</summary>
    private async Task ImportAsync(DateTimeOffset? revised = null)
    {
        object Update(string id, string product, string kb) => new { id, product, kb };
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "cvrf-like", vendors = new[] { new { id = "microsoft", name = "Microsoft" } },
            products = new[]
            {
                new { id = "w11x64", name = "Windows 11 Version 23H2 for x64-based Systems", vendor = "microsoft" },
                new { id = "w11arm", name = "Windows 11 Version 23H2 for ARM64-based Systems", vendor = "microsoft" },
                new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "microsoft" },
            },
            bulletins = new object[]
            {
                new { id = "KB5034123", vendor = "microsoft", title = revised is null ? "January 2024 cumulative" : "January 2024 cumulative (revised)", severity = "Critical",
                      released = DateTimeOffset.UtcNow.AddMonths(-1), revised, updates = new[] { Update("KB5034123-x64", "w11x64", "KB5034123"), Update("KB5034123-arm", "w11arm", "KB5034123") } },
                new { id = "KB5034122", vendor = "microsoft", title = "Windows 10", severity = "Critical", released = DateTimeOffset.UtcNow.AddMonths(-1),
                      updates = new[] { Update("KB5034122-w10", "w10", "KB5034122") } },
                new { id = "KB5099999", vendor = "microsoft", title = "Not in the catalog", severity = "Low", released = DateTimeOffset.UtcNow.AddMonths(-1),
                      updates = new[] { Update("KB5099999-w10", "w10", "KB5099999") } },
                new { id = "KB5088888", vendor = "microsoft", title = "Changed page", severity = "Low", released = DateTimeOffset.UtcNow.AddMonths(-1),
                      updates = new[] { Update("KB5088888-w10", "w10", "KB5088888") } },
            },
        };
        await App.ImportAsync("patch", JsonSerializer.SerializeToUtf8Bytes(catalog));
    }

    private async Task<Patch.Application.Common.TaskOutcome> ResolveAsync(WebApplication server, int recheckDays = 7)
    {
        await using var scope = App.Host.Services.CreateAsyncScope();
        var options = new MicrosoftFeedOptions { UpdateCatalogBaseUrl = server.Urls.First() + "/", ResolveRecheckDays = recheckDays };
        var resolver = ActivatorUtilities.CreateInstance<UpdateFileResolver>(scope.ServiceProvider, options);
        return await resolver.RunAsync(Patch.Application.Common.Actor.ServerTask(UpdateFileResolver.TaskName), "task-run:test", Ct);
    }

    [Fact]
    public async Task each_update_gets_its_files_or_the_reason_and_a_rerun_appends_nothing()
    {
        var (fake, server) = await StartAsync();
        await using var _ = server;
        await ImportAsync();
        // Before any lookup, a CVRF-like update names no file: "without files" already.
        Assert.Equal(2, (await GetJsonAsync("/api/bulletins?q=KB5034123")).GetProperty("items")[0].GetProperty("unresolvedUpdates").GetInt32());

        var first = await ResolveAsync(server);
        Assert.Equal(0, (await GetJsonAsync("/api/bulletins?q=KB5034123")).GetProperty("items")[0].GetProperty("unresolvedUpdates").GetInt32());
        Assert.Equal(5, first.Counts["updates"]);
        Assert.Equal(2, first.Counts["resolved"]);
        Assert.Equal(3, first.Counts["unresolved"]);
        var bulletin = await GetJsonAsync("/api/bulletins/KB5034123");
        var x64 = bulletin.GetProperty("fileResolutions").GetProperty("KB5034123-x64");
        Assert.True(x64.GetProperty("resolved").GetBoolean());
        Assert.Equal(X64, x64.GetProperty("catalogUpdateId").GetString());
        var names = x64.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("fileName").GetString()).ToList();
        Assert.Equal(["windows11.0-kb5031455-x64_checkpoint.msu", "windows11.0-kb5034123-x64_cu.msu"], names);
        Assert.Equal(Convert.ToHexStringLower(SHA1.HashData(Content("x64 cumulative"))), x64.GetProperty("files")[1].GetProperty("sha1").GetString());
        Assert.Equal(Arm, bulletin.GetProperty("fileResolutions").GetProperty("KB5034123-arm").GetProperty("catalogUpdateId").GetString());

        string Reason(JsonElement b, string update) => b.GetProperty("fileResolutions").GetProperty(update).GetProperty("reason").GetString()!;
        Assert.Contains("several rows", Reason(await GetJsonAsync("/api/bulletins/KB5034122"), "KB5034122-w10"));
        Assert.Contains("finds nothing for KB5099999", Reason(await GetJsonAsync("/api/bulletins/KB5099999"), "KB5099999-w10"));
        Assert.Contains("shape changed", Reason(await GetJsonAsync("/api/bulletins/KB5088888"), "KB5088888-w10"));
        var row = (await GetJsonAsync("/api/bulletins?q=KB5034122")).GetProperty("items")[0];
        Assert.Equal(1, row.GetProperty("unresolvedUpdates").GetInt32());

        // Again: the unresolved are asked again (same answer: nothing appended), the found ones are not due for a week.
        var events = await App.CatalogEventCountAsync();
        var requests = fake.Requests;
        var again = await ResolveAsync(server);
        Assert.Equal(3, again.Counts["unchanged"]);
        Assert.Equal(2, again.Counts["notDue"]);
        Assert.Equal("unchanged", again.Status);
        Assert.Equal(events, await App.CatalogEventCountAsync());
        Assert.Equal(3, fake.Requests - requests);
        // Asked every time (recheck after 0 days), the found ones give the same files: still nothing appended.
        var always = await ResolveAsync(server, recheckDays: 0);
        Assert.Equal(5, always.Counts["unchanged"]);
        Assert.Equal(events, await App.CatalogEventCountAsync());
        // A revision imported late — Microsoft dated it two days before these lookups — has its found files looked up again.
        await ImportAsync(revised: DateTimeOffset.UtcNow.AddDays(-2));
        var afterRevision = await ResolveAsync(server);
        Assert.Equal(2, afterRevision.Counts["resolved"]);
        Assert.Equal(0, afterRevision.Counts["notDue"]);
        Assert.Equal(2, (await ResolveAsync(server)).Counts["notDue"]);
        events = await App.CatalogEventCountAsync();

        // Staged from Microsoft (the loopback catalog) with verification on: each file checked against its SHA-1, kept by its SHA-256.
        var staged = await StageAndWaitAsync("KB5034123");
        var updates = staged.GetProperty("bulletins")[0].GetProperty("updateStatus").EnumerateArray().ToDictionary(u => u.GetProperty("updateId").GetString()!);
        Assert.Equal("downloaded", updates["KB5034123-x64"].GetProperty("state").GetString());
        Assert.True(updates["KB5034123-x64"].GetProperty("verified").GetBoolean());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Content("x64 cumulative"))), updates["KB5034123-x64"].GetProperty("sha256").GetString());
        Assert.Equal("downloaded", updates["KB5034123-arm"].GetProperty("state").GetString());
        // An update the Update Catalog could not name has no file: staging says so and why, not to switch verification off.
        var none = (await StageAndWaitAsync("KB5034122")).GetProperty("bulletins")[0].GetProperty("updateStatus")[0];
        Assert.Equal("failed", none.GetProperty("state").GetString());
        Assert.StartsWith("no file is known for this update: the Microsoft Update Catalog's lookup found none (", none.GetProperty("reason").GetString());
        Assert.Contains("several rows", none.GetProperty("reason").GetString());

        // The policy distributes the update with its checkpoint before it, added with DISM.
        var (status, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB5034123" } });
        Assert.Equal(HttpStatusCode.Created, status);
        var distributed = policy.GetProperty("updates").EnumerateArray().Single(u => u.GetProperty("updateId").GetString() == "KB5034123-x64");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Content("checkpoint"))), distributed.GetProperty("prerequisites")[0].GetProperty("sha256").GetString());
        Assert.StartsWith("dism.exe /online /add-package /packagepath:\"windows11.0-kb5034123-x64_cu.msu\"", distributed.GetProperty("commandLine").GetString());
    }

    [Fact]
    public async Task a_file_that_does_not_match_the_catalogs_sha1_is_refused()
    {
        var (fake, server) = await StartAsync();
        await using var _ = server;
        await ImportAsync();
        await ResolveAsync(server);
        fake.Files["windows11.0-kb5034123-arm64_cu.msu"] = Content("tampered");
        var staged = await StageAndWaitAsync("KB5034123");
        var arm = staged.GetProperty("bulletins")[0].GetProperty("updateStatus").EnumerateArray().Single(u => u.GetProperty("updateId").GetString() == "KB5034123-arm");
        Assert.Equal("failed", arm.GetProperty("state").GetString());
        Assert.Contains("SHA-1", arm.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task an_update_of_several_files_shows_its_progress_over_all_of_them_and_leaves_no_partial_file()
    {
        var (fake, server) = await StartAsync();
        await using var _ = server;
        await ImportAsync();
        await ResolveAsync(server);
        var held = (Name: "windows11.0-kb5034123-x64_cu.msu", Sent: new TaskCompletionSource(), Release: new TaskCompletionSource());
        fake.HeldHalfway = held;
        using var client = App.Client();
        var started = await client.PostAsync("/api/bulletins/KB5034123/stage", null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        await held.Sent.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        try
        {
            // The checkpoint is in, half the cumulative update is: the update's progress counts both (the catalog gives no sizes: no total).
            var expected = Content("checkpoint").Length + Content("x64 cumulative").Length / 2;
            JsonElement x64 = default;
            for (var i = 0; i < 100; i++)
            {
                x64 = (await GetJsonAsync("/api/bulletins/KB5034123/staging")).GetProperty("updateStatus").EnumerateArray()
                    .Single(u => u.GetProperty("updateId").GetString() == "KB5034123-x64");
                if (x64.GetProperty("bytesReceived").ValueKind == JsonValueKind.Number && x64.GetProperty("bytesReceived").GetInt64() == expected) break;
                await Task.Delay(50, Ct);
            }
            Assert.Equal("downloading", x64.GetProperty("state").GetString());
            Assert.Equal(expected, x64.GetProperty("bytesReceived").GetInt64());
            Assert.Equal(JsonValueKind.Null, x64.GetProperty("bytesTotal").ValueKind);
        }
        finally
        {
            held.Release.TrySetResult();
        }
        var status = await WaitForStagingAsync(started);
        Assert.Equal("downloaded", status.GetProperty("bulletins")[0].GetProperty("updateStatus").EnumerateArray()
            .Single(u => u.GetProperty("updateId").GetString() == "KB5034123-x64").GetProperty("state").GetString());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(App.Host.Services.GetRequiredService<Patch.Application.Staging.PackageStore>().Root, "partial")));
    }

    [Fact]
    public void the_pages_parser_names_a_changed_shape()
    {
        Assert.Contains("shape changed", Assert.Throws<FormatException>(() => UpdateCatalogPages.ParseSearch("<html>maintenance</html>")).Message);
        Assert.Empty(UpdateCatalogPages.ParseSearch(FakeCatalog.Page()));
        Assert.Contains("shape changed", Assert.Throws<FormatException>(() => UpdateCatalogPages.ParseDownloadDialog("<html></html>")).Message);
        Assert.Contains("not base64", Assert.Throws<FormatException>(() =>
            UpdateCatalogPages.ParseDownloadDialog("downloadInformation[0].files[0].url = 'https://x/y.msu';\ndownloadInformation[0].files[0].digest = '***';")).Message);
        // A file name is saved and installed as given (wusa.exe "name"): a path or a character Windows forbids is a changed shape, never taken.
        foreach (var (name, problem) in new[] { (@"..\\..\\Windows\\System32\\kb-evil.msu", "bare file name"), ("kb5071546:x86*21h2?.msu", "bare file name"), ("kb*.msu", "forbids") })
            Assert.Contains(problem, Assert.Throws<FormatException>(() => UpdateCatalogPages.ParseDownloadDialog(
                $"downloadInformation[0].files[0].url = 'https://x/y.msu';\ndownloadInformation[0].files[0].fileName = '{name}';")).Message);
        // The script's escapes are the browser's (\\ is one backslash, \x41 an A); a name from the address is unescaped.
        var file = Assert.Single(UpdateCatalogPages.ParseDownloadDialog("downloadInformation[0].files[0].url = 'https://x/windows10.0-kb1-arm64%20own\\x2emsu';"));
        Assert.Equal("windows10.0-kb1-arm64 own.msu", file.FileName);
        Assert.Equal("https://x/windows10.0-kb1-arm64%20own.msu", file.Url);
    }
}
