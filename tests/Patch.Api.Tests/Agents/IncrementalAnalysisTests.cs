using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Agent;
using Patch.Agent.Inventory;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.ServerTasks;

namespace Patch.Api.Tests.Agents;

/// <summary>After a catalog import, only the computers the changed bulletins concern are analysed again — and the tables come out as a full analysis would leave them.</summary>
public class when_a_catalog_import_changes_a_few_bulletins(AppFixture app) : AppTest(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Domain.Agents.AgentInventory Capture(string name) =>
        new FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/" + name)).Read();

    private async Task<long> VersionsAsync()
    {
        await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("select count(*) from patch.compliance_state_history");
        return (long)(await cmd.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task only_the_concerned_computers_are_analysed_and_the_rows_equal_a_full_analysis()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "incremental", maxUses = 10 });
        var agents = new AgentClient(App.Client());
        foreach (var (name, capture) in new[] { ("W10-22H2", "10_22H2_x64_enterprise_en-us_systeminfo.txt"), ("W11-23H2", "11_23H2_x64_enterprise_systeminfo.txt"),
                     ("SRV-2019", "srv_2019_rtm_datacenter_en-us_systeminfo.txt") })
        {
            var enrolled = await agents.EnrolAsync(issued.GetProperty("token").GetString()!, name, null, "0.1.0", Ct);
            await agents.SendInventoryAsync(enrolled.Credential, Capture(capture), Ct);
        }
        var runner = App.Host.Services.GetRequiredService<ServerTaskRunner>();
        await runner.WhenIdleAsync(Ct);

        // A vendor adds one bulletin for Windows 11 23H2 only.
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "w11-only", vendors = new[] { new { id = "microsoft", name = "Microsoft" } },
            products = new[] { new { id = "w11", name = "Windows 11 Version 23H2 for x64-based Systems", vendor = "microsoft" } },
            bulletins = new[] { new { id = "KB9900001", vendor = "microsoft", title = "Out-of-band update for Windows 11", severity = "Important",
                updates = new[] { new { id = "KB9900001-w11", product = "w11" } } } },
        };
        await App.ImportAsync("patch", JsonSerializer.SerializeToUtf8Bytes(catalog));
        await Task.Delay(200, Ct);
        await runner.WhenIdleAsync(Ct);
        var runs = await GetJsonAsync("/api/server-tasks/runs?task=vulnerability-analysis");
        var incremental = runs.GetProperty("items")[0];
        Assert.Equal("microsoft:KB9900001", incremental.GetProperty("parameters").GetProperty("bulletins").GetString());
        Assert.Equal(1, incremental.GetProperty("counts").GetProperty("computers").GetInt32());
        Assert.Equal(3, incremental.GetProperty("counts").GetProperty("considered").GetInt32());
        var rows = await GetJsonAsync("/api/reports/compliance/computers/W11-23H2/updates?pageSize=500");
        Assert.Contains("KB9900001", rows.GetRawText());

        // A full analysis now finds nothing to change: the same rows, no new version.
        var before = await App.ComplianceRowsAsync();
        var versions = await VersionsAsync();
        var (_, full) = await SendAsync(HttpMethod.Post, "/api/server-tasks/vulnerability-analysis/run?wait=true");
        Assert.Equal(3, full.GetProperty("counts").GetProperty("computers").GetInt32());
        Assert.Equal(before, await App.ComplianceRowsAsync());
        Assert.Equal(versions, await VersionsAsync());

        // The vendor raises the bulletin's severity: the same rows, other counters for the computers missing it.
        async Task<(int Critical, int Important)> CountsAsync()
        {
            var row = (await GetJsonAsync("/api/reports/compliance/computers?q=W11-23H2")).GetProperty("items")[0];
            return (row.GetProperty("missingCritical").GetInt32(), row.GetProperty("missingImportant").GetInt32());
        }
        var (critical, important) = await CountsAsync();
        await App.ImportAsync("patch", JsonSerializer.SerializeToUtf8Bytes(catalog with
        {
            catalogId = "w11-only-critical",
            bulletins = new[] { new { id = "KB9900001", vendor = "microsoft", title = "Out-of-band update for Windows 11", severity = "Critical",
                updates = new[] { new { id = "KB9900001-w11", product = "w11" } } } },
        }));
        await Task.Delay(200, Ct);
        await runner.WhenIdleAsync(Ct);
        Assert.Equal((critical + 1, important - 1), await CountsAsync());
    }
}
