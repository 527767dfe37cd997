using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Alba;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// The drill of docs/backup-and-restore.md for a server on its embedded cluster: while it runs, back up (events, key
/// ring and package store); restore into a fresh data directory; start there — every report answers as on the source,
/// the same personal access token signs in, and the agent reconnects with the credential it already has.
/// </summary>
public class when_a_running_embedded_server_is_backed_up_and_restored_elsewhere
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(int Exit, string Output, string Error)> CommandAsync(string dataDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Patch.Api.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The embedded default: no connection string, the cluster under the data directory.
        psi.Environment.Remove("ConnectionStrings__Patch");
        psi.Environment["Patch__DataDirectory"] = dataDirectory;
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync(Ct);
        var error = await process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, output, error);
    }

    private static Task<IAlbaHost> ServerAsync(string dataDirectory) => AlbaHost.For<Program>(b => b.UseSetting("Patch:DataDirectory", dataDirectory));

    private static string NewDataDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"patch-drill-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        return dir;
    }

    [Fact]
    public async Task every_report_the_token_and_the_agent_s_credential_work_on_the_restored_server()
    {
        var source = NewDataDirectory();
        var target = NewDataDirectory();
        var backups = Directory.CreateTempSubdirectory("patch-backups-").FullName;
        string[] reports =
        [
            "/api/bulletins", "/api/bulletins/KB5034127", "/api/reports/compliance/bulletins", "/api/reports/compliance/computers",
            "/api/reports/compliance/computers/SRV-DRILL/updates", "/api/reports/compliance/updates", "/api/reports/vulnerabilities", "/api/computers",
            "/api/computers/SRV-DRILL/updates", "/api/reports/agent-versions", "/api/catalog/imports", "/api/history/computer:srv-drill",
        ];
        var before = new Dictionary<string, string>();
        string token, credential, sha;
        try
        {
            await using (var host = await ServerAsync(source))
            {
                token = TestUsers.NewToken((Marten.IDocumentStore)host.Services.GetService(typeof(Marten.IDocumentStore))!, "drill-admin", Patch.Domain.Users.Roles.Administrator, "tokens only");
                using var admin = host.Server.CreateClient();
                admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
                var import = await admin.PostAsync("/api/catalog/imports?format=cvrf", new ByteArrayContent(SharedData.Bytes(SharedData.Cvrf2024)), Ct);
                Assert.True(import.IsSuccessStatusCode, await import.Content.ReadAsStringAsync(Ct));
                var issued = JsonDocument.Parse(await (await admin.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"drill"}""", Encoding.UTF8, "application/json"), Ct))
                    .Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("token").GetString();
                using var agent = host.Server.CreateClient();
                var enrolled = await agent.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token = issued, computerName = "SRV-DRILL", agentVersion = "0.1.0" }),
                    Encoding.UTF8, "application/json"), Ct);
                credential = JsonDocument.Parse(await enrolled.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("credential").GetString()!;
                agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
                var os = Patch.Domain.Inventory.SystemInfoParser.Parse(SharedData.Bytes("windows-inventory/wesng-validation/10_1809_x64_pro_en-us_20190307_systeminfo.txt"));
                var inventory = await agent.PostAsync("/agent/v1/inventory", new StringContent(JsonSerializer.Serialize(new
                {
                    osCaption = os.Caption, osVersion = os.Version, architecture = os.Architecture, servicePack = os.ServicePack, isServer = os.IsServer,
                    cultures = new[] { "en-us" }, softwareReleases = Array.Empty<string>(), installedKbs = os.InstalledKbs, agentVersion = "0.1.0",
                }), Encoding.UTF8, "application/json"), Ct);
                Assert.True(inventory.IsSuccessStatusCode, await inventory.Content.ReadAsStringAsync(Ct));
                // A package in the store, as staging leaves it.
                var package = "a staged package"u8.ToArray();
                sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(package));
                Directory.CreateDirectory(Path.Combine(source, "packages", "sha256", sha[..2]));
                await File.WriteAllBytesAsync(Path.Combine(source, "packages", "sha256", sha[..2], sha), package, Ct);
                // The analysis after the import and the inventory has run.
                for (var i = 0; i < 100 && !(await admin.GetStringAsync("/api/reports/compliance/computers", Ct)).Contains("SRV-DRILL"); i++) await Task.Delay(100, Ct);
                await Task.Delay(500, Ct);
                foreach (var url in reports) before[url] = await admin.GetStringAsync(url, Ct);

                // Backed up while the server runs: the command finds the running cluster and leaves it running.
                var backedUp = await CommandAsync(source, "export", Path.Combine(backups, "patch.patch.gz"), "--packages");
                Assert.Contains("\"packages\": 1", backedUp.Output);
                Assert.True(backedUp.Exit == 0, backedUp.Error + backedUp.Output);
                Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/health/ready", Ct)).StatusCode);
            }

            // Restored into a fresh data directory (its own new cluster), then started there.
            var restored = await CommandAsync(target, "import-store", Path.Combine(backups, "patch.patch.gz"));
            Assert.True(restored.Exit == 0, restored.Error + restored.Output);
            Assert.True(File.Exists(Path.Combine(target, "packages", "sha256", sha[..2], sha)));
            await using var there = await ServerAsync(target);
            using var again = there.Server.CreateClient();
            again.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            foreach (var url in reports) Assert.True(before[url] == await again.GetStringAsync(url, Ct), $"{url} differs after the restore");
            using var reconnected = there.Server.CreateClient();
            reconnected.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            Assert.Equal(HttpStatusCode.OK, (await reconnected.GetAsync("/agent/v1/me", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await reconnected.GetAsync($"/agent/v1/packages/{sha}", Ct)).StatusCode);
        }
        finally
        {
            // Each cluster was stopped by the process that started it (the hosts, the import command).
            foreach (var dir in new[] { source, target, backups })
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
