using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Staging;
using Patch.Application.ServerTasks;

namespace Patch.Api.Tests.Policies;

/// <summary>The seed's Revise Software Updates, Disable Superseded Software Update Advertisements and Check Software Update Package Integrity tasks.</summary>
public class when_policy_maintenance_tasks_run(AppFixture app) : AppTest(app)
{
    private ContentServer _server = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _server = await ContentServer.StartAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await base.DisposeAsync();
    }

    private object Update(string id, string product, string file, int seed, int revision = 1, string[]? supersedes = null)
    {
        var f = _server.Add(file, ContentServer.Bytes(5_000, seed));
        return new { id, product, fileName = file, downloadUrl = f.Url, sha256 = f.Sha256, size = f.Size, restart = "required", revision, supersedes = supersedes ?? [] };
    }

    private async Task ImportAsync(params object[] bulletins)
    {
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "maintenance-test", vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" }, new { id = "w11", name = "Windows 11 Version 23H2 for x64-based Systems", vendor = "ms" } },
            bulletins,
        };
        await App.ImportAsync("patch", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(catalog)));
    }

    private async Task<JsonElement> RunAsync(string task)
    {
        var (status, run) = await SendAsync(HttpMethod.Post, $"/api/server-tasks/{task}/run?wait=true");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotEqual("failed", run.GetProperty("status").GetString());
        return run;
    }

    private async Task<string> PolicyAsync(string bulletin, bool distributeNew = false)
    {
        var (status, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new
        {
            bulletinIds = new[] { bulletin },
            options = new { schedule = "AgentDefault", wakeOnLan = false, overrideMaintenanceWindows = false, multicast = false, distributeNewUpdates = distributeNew },
        });
        Assert.True(status == HttpStatusCode.Created, policy.ToString());
        return policy.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task a_superseded_advertisement_is_disabled_only_where_an_enabled_policy_distributes_its_replacement_to_the_same_targets()
    {
        await ImportAsync(
            new { id = "KB9300001", vendor = "ms", title = "Old", severity = "Critical", updates = new[] { Update("old-w10", "w10", "old.msu", 1) } },
            new { id = "KB9300002", vendor = "ms", title = "New", severity = "Critical", updates = new[] { Update("new-w10", "w10", "new.msu", 2, supersedes: ["KB9300001"]) } });
        await StageAndWaitAsync("KB9300001", "KB9300002");
        var oldPolicy = await PolicyAsync("KB9300001");

        // The replacement is staged but no policy distributes it: nothing is disabled.
        Assert.Equal(0, (await RunAsync("disable-superseded")).GetProperty("counts").GetProperty("advertisementsDisabled").GetInt32());

        var newPolicy = await PolicyAsync("KB9300002");
        var run = await RunAsync("disable-superseded");
        Assert.Equal(1, run.GetProperty("counts").GetProperty("advertisementsDisabled").GetInt32());
        var old = await GetJsonAsync($"/api/policies/{oldPolicy}");
        Assert.False(old.GetProperty("updates")[0].GetProperty("enabled").GetBoolean());
        var history = await GetJsonAsync($"/api/history/{oldPolicy}");
        var disabled = history.EnumerateArray().Single(e => e.GetProperty("type").GetString() == "policy_update_disabled_as_superseded");
        Assert.Equal("new-w10", disabled.GetProperty("data").GetProperty("supersededBy").GetString());
        Assert.Equal(newPolicy, disabled.GetProperty("data").GetProperty("byPolicy").GetString());
        Assert.True((await GetJsonAsync($"/api/policies/{newPolicy}")).GetProperty("updates")[0].GetProperty("enabled").GetBoolean());

        // Run again: nothing more to do.
        Assert.Equal("unchanged", (await RunAsync("disable-superseded")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task a_revised_package_and_a_newly_added_update_reach_the_policy_once_they_are_staged()
    {
        await ImportAsync(new { id = "KB9300003", vendor = "ms", title = "Monthly", severity = "Important", updates = new[] { Update("m-w10", "w10", "m1.msu", 3) } });
        await StageAndWaitAsync("KB9300003");
        var policy = await PolicyAsync("KB9300003", distributeNew: true);
        var before = (await GetJsonAsync($"/api/policies/{policy}")).GetProperty("updates")[0].GetProperty("packageSha256").GetString();

        // Microsoft re-releases the package (revision 2, a new file) and adds the update for Windows 11.
        await ImportAsync(new
        {
            id = "KB9300003", vendor = "ms", title = "Monthly", severity = "Important",
            updates = new[] { Update("m-w10", "w10", "m2.msu", 4, revision: 2), Update("m-w11", "w11", "m11.msu", 5) },
        });
        var waiting = await RunAsync("revise-software-updates");
        Assert.Equal("unchanged", waiting.GetProperty("status").GetString());
        Assert.Equal(2, waiting.GetProperty("counts").GetProperty("awaitingStaging").GetInt32());

        await StageAndWaitAsync("KB9300003");
        await App.Host.Services.GetRequiredService<ServerTaskRunner>().WhenIdleAsync(Ct);
        await RunAsync("revise-software-updates");
        var revised = await GetJsonAsync($"/api/policies/{policy}");
        var updates = revised.GetProperty("updates").EnumerateArray().ToDictionary(u => u.GetProperty("updateId").GetString()!);
        Assert.Equal(2, updates.Count);
        Assert.NotEqual(before, updates["m-w10"].GetProperty("packageSha256").GetString());
        Assert.Equal(2, updates["m-w10"].GetProperty("revision").GetInt32());
        Assert.Contains("m2.msu", updates["m-w10"].GetProperty("commandLine").GetString());
        Assert.True(updates["m-w11"].GetProperty("enabled").GetBoolean());
        var history = await GetJsonAsync($"/api/history/{policy}");
        var changes = history.EnumerateArray().Where(e => e.GetProperty("type").GetString() == "software_update_policy_revised")
            .SelectMany(e => e.GetProperty("data").GetProperty("changes").EnumerateArray()).Select(c => c.GetProperty("field").GetString()).ToList();
        Assert.Contains("updates[m-w10].package", changes);
        Assert.Contains("updates[m-w11]", changes);
        Assert.Equal("unchanged", (await RunAsync("revise-software-updates")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task a_corrupt_package_is_found_staged_again_and_counted()
    {
        await ImportAsync(new { id = "KB9300004", vendor = "ms", title = "Integrity", severity = "Low", updates = new[] { Update("i-w10", "w10", "i.msu", 6) } });
        await StageAndWaitAsync("KB9300004");
        var staged = await GetJsonAsync("/api/bulletins/KB9300004");
        var sha = staged.GetProperty("updates")[0].GetProperty("sha256").GetString()!;
        var path = Directory.GetFiles(App.PackageDirectory, sha, SearchOption.AllDirectories).Single();
        await File.WriteAllBytesAsync(path, [1, 2, 3], Ct);

        var run = await RunAsync("package-integrity");
        Assert.Equal(1, run.GetProperty("counts").GetProperty("packagesChecked").GetInt32());
        Assert.Equal(1, run.GetProperty("counts").GetProperty("corrupt").GetInt32());
        Assert.Equal(1, run.GetProperty("counts").GetProperty("bulletinsRestaged").GetInt32());
        for (var i = 0; i < 100 && !(await GetJsonAsync("/api/bulletins?q=KB9300004")).GetProperty("items")[0].GetProperty("staged").GetBoolean(); i++)
            await Task.Delay(100, Ct);
        Assert.True((await GetJsonAsync("/api/bulletins?q=KB9300004")).GetProperty("items")[0].GetProperty("staged").GetBoolean());
        Assert.Equal(sha, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(path, Ct))));
        var again = await RunAsync("package-integrity");
        Assert.Equal(0, again.GetProperty("counts").GetProperty("corrupt").GetInt32());
    }

    /// <summary>
    /// A corrupt package the task cannot delete (here: immutable, which stops root too) stays recorded and is counted, not
    /// recorded removed — staging would take it back from the store as staged —; the next run, once it can, removes and
    /// stages it again. Needs chattr on a file system that keeps the attribute (skipped elsewhere).
    /// </summary>
    [Fact]
    public async Task a_corrupt_package_that_cannot_be_deleted_stays_recorded_and_is_counted()
    {
        await ImportAsync(new { id = "KB9300005", vendor = "ms", title = "Undeletable", severity = "Low", updates = new[] { Update("j-w10", "w10", "j.msu", 6) } });
        await StageAndWaitAsync("KB9300005");
        var sha = (await GetJsonAsync("/api/bulletins/KB9300005")).GetProperty("updates")[0].GetProperty("sha256").GetString()!;
        var path = Directory.GetFiles(App.PackageDirectory, sha, SearchOption.AllDirectories).Single();
        await File.WriteAllBytesAsync(path, [1, 2, 3], Ct);
        if (!await ChattrAsync("+i", path)) Assert.Skip("chattr +i is not available here: a file root cannot delete cannot be made.");
        try
        {
            var run = await RunAsync("package-integrity");
            Assert.Equal(1, run.GetProperty("counts").GetProperty("corrupt").GetInt32());
            Assert.Equal(1, run.GetProperty("counts").GetProperty("corruptNotRemoved").GetInt32());
            Assert.Equal(0, run.GetProperty("counts").GetProperty("bulletinsRestaged").GetInt32());
            Assert.True((await GetJsonAsync("/api/bulletins?q=KB9300005")).GetProperty("items")[0].GetProperty("staged").GetBoolean());
        }
        finally
        {
            await ChattrAsync("-i", path);
        }
        var again = await RunAsync("package-integrity");
        Assert.Equal(0, again.GetProperty("counts").GetProperty("corruptNotRemoved").GetInt32());
        Assert.Equal(1, again.GetProperty("counts").GetProperty("bulletinsRestaged").GetInt32());
        for (var i = 0; i < 100 && !(File.Exists(path) && Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(path, Ct))) == sha); i++)
            await Task.Delay(100, Ct);
        Assert.Equal(sha, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(path, Ct))));
    }

    private static async Task<bool> ChattrAsync(string change, string path)
    {
        try
        {
            using var chattr = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("chattr", [change, path]) { RedirectStandardError = true })!;
            await chattr.WaitForExitAsync();
            return chattr.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>A file installed before an update (a checkpoint cumulative update's) is a package too: checked, and a corrupt one staged again.</summary>
    [Fact]
    public async Task a_corrupt_file_installed_before_an_update_is_found_and_staged_again()
    {
        var checkpoint = _server.Add("windows10.0-kb9300020-x64_checkpoint.msu", ContentServer.Bytes(6_000, 20));
        var main = _server.Add("windows10.0-kb9300021-x64.msu", ContentServer.Bytes(6_000, 21));
        var catalog = new
        {
            schemaVersion = "1.1", catalogId = "maintenance-files", vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
            bulletins = new[]
            {
                new
                {
                    id = "KB9300021", vendor = "ms", title = "Checkpointed", severity = "Critical",
                    updates = new[]
                    {
                        new
                        {
                            id = "cp-w10", product = "w10", restart = "notRequired",
                            files = new object[]
                            {
                                new { url = checkpoint.Url, fileName = "windows10.0-kb9300020-x64_checkpoint.msu", size = checkpoint.Size, sha256 = checkpoint.Sha256 },
                                new { url = main.Url, fileName = "windows10.0-kb9300021-x64.msu", size = main.Size, sha256 = main.Sha256 },
                            },
                        },
                    },
                },
            },
        };
        await App.ImportAsync("patch", JsonSerializer.SerializeToUtf8Bytes(catalog));
        await StageAndWaitAsync("KB9300021");
        var path = Directory.GetFiles(App.PackageDirectory, checkpoint.Sha256, SearchOption.AllDirectories).Single();
        await File.WriteAllBytesAsync(path, [4, 5, 6], Ct);

        var run = await RunAsync("package-integrity");
        Assert.True(run.GetProperty("counts").GetProperty("corrupt").GetInt32() >= 1);
        Assert.True(run.GetProperty("counts").GetProperty("bulletinsRestaged").GetInt32() >= 1);
        var history = await GetJsonAsync($"/api/history/{(await GetJsonAsync("/api/bulletins/KB9300021")).GetProperty("id").GetString()}");
        Assert.Contains(history.EnumerateArray(), e => e.GetProperty("type").GetString() == "update_package_removed"
            && e.GetProperty("data").GetProperty("reason").GetString()!.Contains($"its file {checkpoint.Sha256} installed before it is corrupt"));
        // The corrupt file is deleted before its removal is recorded, then staged again: absent for a moment.
        async Task<string?> StoredAsync()
        {
            try { return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(path, Ct))); }
            catch (FileNotFoundException) { return null; }
        }
        for (var i = 0; i < 100 && await StoredAsync() != checkpoint.Sha256; i++)
            await Task.Delay(100, Ct);
        Assert.Equal(checkpoint.Sha256, await StoredAsync());
    }
}
