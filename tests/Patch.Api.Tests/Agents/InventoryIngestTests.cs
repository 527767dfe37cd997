using Microsoft.Extensions.DependencyInjection;
using Patch.Agent;
using Patch.Agent.Simulation;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Agents;

/// <summary>
/// Inventory reports arriving together are stored and analysed together (ADR 0031): each event keeps its own agent and
/// correlation id, every answer comes after its computer's rows are written, and the rows are what a full analysis
/// writes.
/// </summary>
public class when_many_agents_report_inventories_at_once(AppFixture app) : AppTest(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task each_report_keeps_its_agent_and_the_rows_equal_a_full_analysis()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var templates = FleetSimulator.Templates(Path.Combine(SharedData.Root, "windows-inventory", "wesng-validation"));
        const int count = 24;
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "storm", maxUses = count });
        var agents = new AgentClient(App.Client());
        var enrolled = new List<(string Name, string Credential, Domain.Agents.AgentInventory Inventory)>();
        for (var i = 0; i < count; i++)
        {
            var name = $"STORM-{i:D2}";
            var e = await agents.EnrolAsync(issued.GetProperty("token").GetString()!, name, null, "0.1.0", Ct);
            enrolled.Add((name, e.Credential, FleetSimulator.Vary(templates[i % templates.Count], i)));
        }

        // All at once, and the first agent twice more at the same moment (a retry racing its first send).
        var sends = enrolled.Select(a => agents.SendInventoryAsync(a.Credential, a.Inventory, Ct))
            .Concat([agents.SendInventoryAsync(enrolled[0].Credential, enrolled[0].Inventory, Ct), agents.SendInventoryAsync(enrolled[0].Credential, enrolled[0].Inventory, Ct)])
            .ToList();
        var answers = await Task.WhenAll(sends);
        Assert.All(answers.Take(count).Skip(1), a => Assert.True(a.Changed));
        Assert.Equal(1, answers.Where(a => a.ComputerId == answers[0].ComputerId).Count(a => a.Changed));

        // Every computer's rows were written before its answer, as a full analysis would write them.
        await using (var analysed = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
            "select count(*) from patch.compliance_computer c join patch.mt_streams s on s.id = c.computer_id where c.name like 'STORM-%' and c.analysed_at >= s.timestamp"))
            Assert.Equal(count, (long)(await analysed.ExecuteScalarAsync(Ct))!);
        var before = await App.ComplianceRowsAsync();
        await SendAsync(HttpMethod.Post, "/api/server-tasks/vulnerability-analysis/run?wait=true");
        Assert.Equal(before, await App.ComplianceRowsAsync());

        // Each event is its own agent's, with its own correlation id.
        var correlations = new HashSet<string>();
        foreach (var (name, _, _) in enrolled)
        {
            var page = await GetJsonAsync($"/api/audit?type=InventoryReported&actor={name}");
            var row = Assert.Single(page.GetProperty("items").EnumerateArray());
            Assert.Equal("agent", row.GetProperty("actorKind").GetString());
            Assert.True(correlations.Add(row.GetProperty("correlationId").GetString()!), "one correlation id per request");
        }
        Assert.Equal(2, (await GetJsonAsync($"/api/audit?type=InventoryConfirmed&actor={enrolled[0].Name}")).GetProperty("total").GetInt64());
    }
}
