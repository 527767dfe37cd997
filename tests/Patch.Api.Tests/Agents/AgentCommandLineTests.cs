using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Agents;

/// <summary>The agent's command line refuses what it does not understand, and reads products from registry exports.</summary>
public class when_the_agent_command_line_is_used
{
    private static async Task<(int Code, string Out, string Error)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Patch.Agent.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await output, await error);
    }

    [Theory]
    [InlineData("inventory --systeminfo x.txt --bogus 1", "Unknown option --bogus for 'inventory'")]
    [InlineData("status --show Installed --asOf 2026-01-01", "Unknown option --asOf for 'status'")]
    [InlineData("inventory stray", "Unexpected argument 'stray'")]
    [InlineData("inventory --systeminfo", "--systeminfo needs a value")]
    [InlineData("enrol --server http://127.0.0.1:9 --token", "--token needs a value")]
    public async Task an_option_a_command_does_not_take_is_refused_naming_it(string args, string expected)
    {
        var (code, _, error) = await RunAsync(args.Split(' '));
        Assert.Equal(2, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    /// <summary>
    /// A proxy's or captive portal's page answered with 200 where Patch was expected, and an inventory file that is no JSON:
    /// a clear message and exit code 1, never the runtime's stack trace.
    /// </summary>
    [Fact]
    public async Task a_web_page_for_an_answer_or_an_inventory_that_is_no_json_is_said_so()
    {
        await using var portal = await Loopback.StartAsync(async http =>
        {
            http.Response.ContentType = "text/html";
            await http.Response.WriteAsync("<html><body>Sign in to the guest network</body></html>");
        });
        var state = Directory.CreateTempSubdirectory("patch-agent-cli-").FullName;
        try
        {
            var (code, _, error) = await RunAsync("enrol", "--server", portal.Urls.First(), "--token", "t", "--state", state);
            Assert.True(code == 1, error);
            Assert.Contains("The server's answer is not Patch's (text/html, 200)", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
            var empty = Path.Combine(state, "inventory.json");
            await File.WriteAllTextAsync(empty, "", TestContext.Current.CancellationToken);
            (code, _, error) = await RunAsync("inventory", "--inventory", empty, "--state", state);
            Assert.True(code == 1, error);
            Assert.Contains("not an inventory in JSON", error, StringComparison.Ordinal);
            (code, _, error) = await RunAsync("inventory", "--systeminfo", state, "--state", state);
            Assert.True(code == 1, error);
            Assert.Contains("is a folder, not a capture file", error, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task inventory_reads_products_from_registry_exports()
    {
        var state = Directory.CreateTempSubdirectory("patch-agent-cli-").FullName;
        try
        {
            var (code, output, error) = await RunAsync("inventory", "--systeminfo", SharedData.PathOf("windows-inventory/wesng-validation/11_23H2_x64_enterprise_systeminfo.txt"),
                "--registry", SharedData.RepoFile("tests/Patch.Api.Tests/Inventory/registry/sqlserver.reg"), "--state", state);
            Assert.True(code == 0, error);
            Assert.Contains("\"name\": \"Microsoft SQL Server 2022 (MSSQLSERVER)\"", output, StringComparison.Ordinal);
            var (badCode, _, badError) = await RunAsync("inventory", "--systeminfo", SharedData.PathOf("windows-inventory/wesng-validation/11_23H2_x64_enterprise_systeminfo.txt"),
                "--registry", SharedData.PathOf("windows-inventory/wesng-validation/11_23H2_x64_enterprise_systeminfo.txt"), "--state", state);
            Assert.Equal(1, badCode);
            Assert.Contains("is not the header of a registry export", badError, StringComparison.Ordinal);
        }
        finally
        {
            // The agent's state folder is the test's own: nothing of it stays in the machine's temporary folder.
            Directory.Delete(state, recursive: true);
        }
    }
}
