using System.Diagnostics;
using System.Text.Json;
using Patch.Agent;
using Patch.Agent.Simulation;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Agents;

public class when_simulated_agents_talk_to_the_server(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task a_simulated_fleet_enrols_and_reports_inventories_built_from_the_real_captures()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        using var admin = App.Client();
        var tokenResponse = await admin.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"fleet","maxUses":100}""", System.Text.Encoding.UTF8, "application/json"));
        var token = JsonDocument.Parse(await tokenResponse.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        var templates = FleetSimulator.Templates(Path.Combine(SharedData.Root, "windows-inventory", "wesng-validation"));
        Assert.Equal(44, templates.Count);

        var client = App.Host.Server.CreateClient();
        var report = await new FleetSimulator(() => new AgentClient(client)).RunAsync(token, 30, templates, "SIM", 4, TestContext.Current.CancellationToken);

        Assert.Equal(0, report.Failed);
        Assert.Equal(30, (await GetJsonAsync("/api/targets/builtin:all-with-agent/members")).GetProperty("count").GetInt32());
        var sim = await GetJsonAsync("/api/computers/SIM-000001/updates");
        Assert.NotNull(sim.GetProperty("inventoryAt").GetString());

        // The agent's own view of its updates is the same analysis.
        var agent = new AgentClient(client);
        var enrolled = await agent.EnrolAsync(token, "SIM-EXTRA", null, "0.1.0", TestContext.Current.CancellationToken);
        await agent.SendInventoryAsync(enrolled.Credential, FleetSimulator.Vary(templates.First(t => t.OsVersion == "10.0.19045"), 1), TestContext.Current.CancellationToken);
        var own = await agent.UpdatesAsync(enrolled.Credential, "Missing", TestContext.Current.CancellationToken);
        Assert.NotEmpty(own.Updates);
        Assert.All(own.Updates, u => Assert.Equal("Missing", u.State));
        await Assert.ThrowsAsync<AgentException>(() => agent.UpdatesAsync(enrolled.Credential + "x", null, TestContext.Current.CancellationToken));

        // The agent replaces its credential; both work during the grace period.
        var rotated = await agent.RotateCredentialAsync(enrolled.Credential, null, TestContext.Current.CancellationToken);
        Assert.Equal(enrolled.AgentId, rotated.AgentId);
        Assert.NotEmpty((await agent.UpdatesAsync(rotated.Credential, "Missing", TestContext.Current.CancellationToken)).Updates);
        Assert.NotEmpty((await agent.UpdatesAsync(enrolled.Credential, "Missing", TestContext.Current.CancellationToken)).Updates);
    }

    [Fact]
    public async Task the_agent_command_prints_its_version_and_an_inventory_from_a_capture()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Patch.Agent.dll");
        async Task<(int Code, string Out)> Run(params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(dll);
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var output = await p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken) + await p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await p.WaitForExitAsync(TestContext.Current.CancellationToken);
            return (p.ExitCode, output);
        }

        Assert.StartsWith("Patch.Agent 0.1.0", (await Run("--version")).Out);
        var (code, json) = await Run("inventory", "--systeminfo", SharedData.PathOf("windows-inventory/wesng-validation/7_sp1_x64_enterprise_en-us_20190305_systeminfo.txt"),
            "--qfe", SharedData.PathOf("windows-inventory/wesng-validation/7_sp1_x64_enterprise_en-us_20190305_qfe.txt"));
        Assert.Equal(0, code);
        var inventory = JsonDocument.Parse(json).RootElement;
        Assert.Equal("6.1.7601", inventory.GetProperty("osVersion").GetString());
        Assert.Equal(276, inventory.GetProperty("installedKbs").GetArrayLength());
        var (badCode, message) = await Run("inventory", "--send", "--systeminfo", "/nonexistent/file.txt");
        Assert.Equal(1, badCode);
        Assert.Contains("nonexistent", message);
    }
}
