using System.Diagnostics;
using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Alba;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// The seed's migration: the whole store exported to an archive by the server's own command, imported into a new empty
/// server — every stream, its history and every report the same there; damaged, newer or misplaced archives refused
/// with the reason and nothing written.
/// </summary>
public class when_the_store_moves_to_another_server(AppFixture app) : AppTest(app)
{
    private static async Task<(int Exit, string Output, string Error)> CommandAsync(string connectionString, string packages, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Patch.Api.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["ConnectionStrings__Patch"] = connectionString;
        psi.Environment["Patch__Staging__PackageDirectory"] = packages;
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, output, error);
    }

    private static async Task<string> GetAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {url}: {(int)response.StatusCode} {text}");
        return text;
    }

    private static void Rewrite(string from, string to, Func<List<string>, List<string>> change)
    {
        List<string> lines;
        using (var reader = new StreamReader(new GZipStream(File.OpenRead(from), CompressionMode.Decompress))) lines = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        using var writer = new GZipStream(File.Create(to), CompressionLevel.Fastest);
        writer.Write(Encoding.UTF8.GetBytes(string.Join("\n", change(lines)) + "\n"));
    }

    /// <summary>
    /// The archive's lines changed and its manifest made to fit them again (counts and SHA-256, as <c>export</c> writes them):
    /// what is left to refuse is what the lines say, not how they hash.
    /// </summary>
    private static void Reseal(string from, string to, Func<List<string>, List<string>> change) => Rewrite(from, to, lines =>
    {
        var body = change(lines[..^1]);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(lines[^1])!;
        manifest["events"] = body.Count(l => l.StartsWith("{\"kind\":\"event\"", StringComparison.Ordinal));
        manifest["sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(string.Concat(body.Select(l => l + "\n")))));
        return [.. body, manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = false }).Replace(",\"", ", \"")];
    });

    /// <summary>The archive's line of the first event of <paramref name="type"/>, changed by <paramref name="change"/>.</summary>
    private static List<string> ChangeEvent(List<string> lines, string type, Func<System.Text.Json.Nodes.JsonObject, System.Text.Json.Nodes.JsonObject?> change)
    {
        var at = lines.FindIndex(l => l.StartsWith("{\"kind\":\"event\"", StringComparison.Ordinal) && l.Contains($"\"type\":\"{type}\"", StringComparison.Ordinal));
        Assert.True(at > 0, $"no {type} event in the archive");
        var line = System.Text.Json.Nodes.JsonNode.Parse(lines[at])!.AsObject();
        var row = change(line["row"]!.AsObject());
        if (row is null) lines.RemoveAt(at);
        else lines[at] = line.ToJsonString();
        return lines;
    }

    [Fact]
    public async Task an_exported_store_imports_whole_into_an_empty_server_and_a_bad_archive_is_refused()
    {
        await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
        await App.ImportAsync("kev", File.ReadAllBytes(SharedData.RepoFile("demo/kev-demo.json")));
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "move", maxUses = 5 });
        using (var client = App.Client())
            foreach (var (name, version, kbs) in new[] { ("PC-A", "10.0.19045.3930", new[] { "KB5034122" }), ("PC-B", "10.0.19045", Array.Empty<string>()) })
            {
                var enrol = await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token = issued.GetProperty("token").GetString(), computerName = name, agentVersion = "0.1.0" }),
                    Encoding.UTF8, "application/json"));
                var credential = JsonDocument.Parse(await enrol.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString();
                var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/inventory")
                {
                    Content = new StringContent(JsonSerializer.Serialize(new { osCaption = "Microsoft Windows", osVersion = version, architecture = "x64", servicePack = 0, isServer = false,
                        cultures = new[] { "en-US" }, softwareReleases = Array.Empty<string>(), installedKbs = kbs, agentVersion = "0.1.0" }), Encoding.UTF8, "application/json"),
                };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
                Assert.True((await client.SendAsync(request)).IsSuccessStatusCode);
            }
        var (_, levels) = await SendAsync(HttpMethod.Post, "/api/custom-severities", new { name = "Now" });
        await SendAsync(HttpMethod.Put, "/api/bulletins/KB5034763/custom-severity", new { levelId = levels[0].GetProperty("id").GetString() });
        var packagePath = new Patch.Application.Staging.PackageStore(App.PackageDirectory).PathOf(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("a package"u8)));
        Directory.CreateDirectory(Path.GetDirectoryName(packagePath)!);
        File.WriteAllBytes(packagePath, "a package"u8.ToArray());

        string[] reports =
        [
            "/api/bulletins", "/api/bulletins/KB5034763", "/api/history/microsoft:KB5034763", "/api/reports/compliance/bulletins", "/api/reports/compliance/computers",
            "/api/reports/compliance/computers/PC-A/updates", "/api/reports/vulnerabilities", "/api/computers", "/api/custom-severities", "/api/catalog/imports",
            "/api/history/computer:pc-b", "/api/reports/agent-versions",
        ];
        var source = new Dictionary<string, string>();
        using (var client = App.Client()) foreach (var url in reports) source[url] = await GetAsync(client, url);

        var dir = Directory.CreateTempSubdirectory("patch-archive-").FullName;
        var archive = Path.Combine(dir, "store.patch.gz");
        var main = await TestDatabase.ConnectionStringAsync();
        var exported = await CommandAsync(main, App.PackageDirectory, "export", archive, "--packages");
        Assert.True(exported.Exit == 0, exported.Error + exported.Output);
        Assert.Contains("\"packages\": 1", exported.Output);

        // Without secrets: no key ring, and every password, token and credential hash emptied.
        var bare = Path.Combine(dir, "bare.patch.gz");
        Assert.Equal(0, (await CommandAsync(main, App.PackageDirectory, "export", bare, "--without-secrets")).Exit);
        string bareText;
        using (var reader = new StreamReader(new GZipStream(File.OpenRead(bare), CompressionMode.Decompress))) bareText = await reader.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.DoesNotContain("\"kind\":\"key\"", bareText);
        Assert.Contains("\"sensitive\":false", bareText);
        Assert.Matches("\"passwordHash\":\"\"", bareText);
        Assert.DoesNotMatch("\"(passwordHash|secretSha256|credentialSha256)\":\"[^\"]", bareText);

        // Refused, nothing written: a non-empty target (this very store), a newer format, a damaged line, a truncated archive.
        var refusedHere = await CommandAsync(main, App.PackageDirectory, "import-store", archive);
        Assert.Equal(1, refusedHere.Exit);
        Assert.Contains("not empty", refusedHere.Error);
        var target = await TestDatabase.ConnectionStringAsync($"import_{Guid.NewGuid():N}"[..20]);
        var packages = Path.Combine(dir, "packages");
        Rewrite(archive, Path.Combine(dir, "newer.gz"), l => [l[0].Replace("\"version\":1", "\"version\":99"), .. l.Skip(1)]);
        var newer = await CommandAsync(target, packages, "import-store", Path.Combine(dir, "newer.gz"));
        Assert.True(newer.Error.Contains("newer"), newer.Error);
        Rewrite(archive, Path.Combine(dir, "altered.gz"), l => l.Select(x => x.Contains("\"KB5034763\"") ? x.Replace("KB5034763", "KB5034764") : x).ToList());
        var altered = await CommandAsync(target, packages, "import-store", Path.Combine(dir, "altered.gz"));
        Assert.True(altered.Error.Contains("Checksum mismatch"), altered.Error);
        Rewrite(archive, Path.Combine(dir, "truncated.gz"), l => l.Take(l.Count / 2).ToList());
        Assert.Contains("truncated", (await CommandAsync(target, packages, "import-store", Path.Combine(dir, "truncated.gz"))).Error);

        // Lines that hash to their manifest but say what no store holds: refused by name, nothing written (the target takes the
        // good archive after them). The manifest is also written with spaces after its commas, which is still a manifest.
        Reseal(archive, Path.Combine(dir, "spaced.gz"), l => l);
        Reseal(archive, Path.Combine(dir, "data.gz"), l => ChangeEvent(l, "custom_severity_level_created", row => { row["data"] = "not json"; return row; }));
        Assert.Contains("the 'custom_severity_level_created' event's data cannot be read", (await CommandAsync(target, packages, "import-store", Path.Combine(dir, "data.gz"))).Error);
        Reseal(archive, Path.Combine(dir, "type.gz"), l => ChangeEvent(l, "custom_severity_level_created", row =>
        {
            row["type"] = "no_such_event_type";
            row["mt_dotnet_type"] = "Nope.NoSuchEvent, Nope";
            return row;
        }));
        Assert.Contains("the event type 'no_such_event_type' is not one this server has", (await CommandAsync(target, packages, "import-store", Path.Combine(dir, "type.gz"))).Error);
        Reseal(archive, Path.Combine(dir, "gap.gz"), l => ChangeEvent(l, "custom_severity_level_created", _ => null));
        var gap = await CommandAsync(target, packages, "import-store", Path.Combine(dir, "gap.gz"));
        Assert.True(gap.Exit == 1 && gap.Error.Contains("is at version") && gap.Error.Contains("events are missing or were added"), gap.Error);
        string plain;
        using (var reader = new StreamReader(new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))) plain = await reader.ReadToEndAsync(TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(dir, "plain.jsonl"), plain, TestContext.Current.CancellationToken);
        Assert.Contains("not gzip-compressed", (await CommandAsync(target, packages, "import-store", Path.Combine(dir, "plain.jsonl"))).Error);

        var imported = await CommandAsync(target, packages, "import-store", Path.Combine(dir, "spaced.gz"));
        Assert.True(imported.Exit == 0, imported.Error + imported.Output);
        Assert.True(new Patch.Application.Staging.PackageStore(packages).Has(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("a package"u8))));

        // The imported server answers the same, to the same personal access token (its hash came along).
        await using var moved = await AlbaHost.For<Program>(b =>
        {
            b.UseSetting("ConnectionStrings:Patch", target);
            b.UseSetting("Patch:Staging:PackageDirectory", packages);
        });
        using var there = moved.Server.CreateClient();
        there.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", App.TokenFor("tester"));
        foreach (var url in reports) Assert.True(source[url] == await GetAsync(there, url), $"{url} differs after the move");
        Directory.Delete(dir, recursive: true);
    }
}
