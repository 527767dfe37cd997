using System.Net;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Targets;
using Patch.Domain.Agents;
using Patch.Domain.Computers;
using Patch.Domain.Targets;
using BuiltInTargets = Patch.Domain.Targets.Targets;

namespace Patch.Api.Tests.Targets;

/// <summary>Fleet membership runs as SQL; one computer's as the domain rule (agents' assignments). Both must agree, rule by rule.</summary>
public class when_targets_are_computed_for_the_fleet(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task the_sql_membership_equals_the_domain_rule_on_a_varied_fleet()
    {
        // Discovered computers (no agent) and enrolled ones with inventories, agent versions and products.
        string[] discovered = ["ws-lower", "WS_UNDER", "SrvXOdd", "Srv_Odd", "LAPTOP-9"];
        foreach (var name in discovered)
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/computers", new { name, operatingSystem = name.StartsWith("Srv") ? "Windows Server 2019" : "Windows 11 Pro" })).Status);
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "fleet", maxUses = 20 });
        var agents = new (string Name, string Caption, string Version, string Agent, string[] Products)[]
        {
            ("WS-001", "Microsoft Windows 10 Enterprise", "10.0.19045.3930", "0.1.0", ["Contoso Agent 5"]),
            ("WS-002", "Microsoft Windows 10 Pro", "10.0.19045.3930", "0.0.9", []),
            ("ws-010", "Microsoft Windows 11 Enterprise", "10.0.22631.3007", "0.1.0.5", ["contoso agent 5"]),
            ("SRV-1", "Microsoft Windows Server 2022 Standard", "10.0.20348.2227", "0.0.1", []),
            ("LT.7", "Microsoft Windows 11 Pro", "10.0.22621.3007", "0.1", ["Visual Studio 2022"]),
        };
        foreach (var a in agents)
        {
            var (_, enrolled) = await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = token.GetProperty("token").GetString(), computerName = a.Name, agentVersion = a.Agent });
            using var agent = App.AnonymousClient();
            agent.DefaultRequestHeaders.Authorization = new("Bearer", enrolled.GetProperty("credential").GetString());
            var inventory = new AgentInventory(a.Caption, a.Version, "x64", 0, a.Caption.Contains("Server"), ["en-US"], a.Products, [], Version.TryParse(a.Agent, out _) ? a.Agent : "0.0.1");
            Assert.True((await agent.PostAsync("/agent/v1/inventory", new StringContent(JsonSerializer.Serialize(inventory, new JsonSerializerOptions(JsonSerializerDefaults.Web)),
                System.Text.Encoding.UTF8, "application/json"))).IsSuccessStatusCode);
        }

        TargetRule[][] includes =
        [
            [new(OperatingSystemContains: "windows 11")],
            [new(Product: "CONTOSO AGENT 5")],
            [new(NamePattern: "ws-0??")],
            [new(NamePattern: "*_*")],
            [new(NamePattern: "Srv_*")],
            [new(Computers: ["laptop-9", "lt.7"])],
            [new(OperatingSystemContains: "Windows", NamePattern: "WS*"), new(Computers: ["SRV-1"])],
        ];
        var ids = new List<string>();
        foreach (var (rules, i) in includes.Select((r, i) => (r, i)))
        {
            var (status, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = $"T{i}", include = rules, exclude = i == 6 ? new[] { new TargetRule(NamePattern: "WS-002") } : [] });
            Assert.True(status == HttpStatusCode.Created, target.ToString());
            ids.Add(target.GetProperty("id").GetString()!);
        }
        ids.AddRange([BuiltInTargets.AllWithAgent, BuiltInTargets.WithoutAgent, BuiltInTargets.AgentNeedsUpgrade]);

        await using var session = App.Store.QuerySession();
        var computers = await session.Query<Computer>().ToListAsync();
        var custom = await TargetEndpoints.CustomTargetsAsync(session, CancellationToken.None);
        var current = App.Host.Services.GetRequiredService<IConfiguration>()["Patch:Agent:CurrentVersion"] ?? typeof(TargetEndpoints).Assembly.GetName().Version!.ToString(3);
        foreach (var id in ids)
        {
            var expected = BuiltInTargets.Members([id], custom, computers, [], current, []).Select(c => c.Name).Order(StringComparer.OrdinalIgnoreCase).ToList();
            var members = await GetJsonAsync($"/api/targets/{id}/members");
            var actual = members.GetProperty("computers").EnumerateArray().Select(c => c.GetString()!).Order(StringComparer.OrdinalIgnoreCase).ToList();
            Assert.True(expected.SequenceEqual(actual), $"{id}: domain [{string.Join(", ", expected)}] vs SQL [{string.Join(", ", actual)}]");
            Assert.Equal(expected.Count, members.GetProperty("count").GetInt32());
        }

        // The list counts the same computers, every target in one pass (not the one whose members depend on a policy), when asked.
        var listed = (await GetJsonAsync("/api/targets?counts=true")).EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        foreach (var id in ids)
            Assert.True(BuiltInTargets.Members([id], custom, computers, [], current, []).Count == listed[id].GetProperty("computers").GetInt64(), $"{id}: {listed[id]}");
        Assert.False(listed[BuiltInTargets.RequiringUpdates].TryGetProperty("computers", out _));
        Assert.DoesNotContain((await GetJsonAsync("/api/targets")).EnumerateArray(), t => t.TryGetProperty("computers", out _));
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, "/api/targets?counts=maybe", null)).Status);

        // Previewing rules counts without saving them.
        var (previewed, preview) = await SendAsync(HttpMethod.Post, "/api/targets/preview", new { include = new[] { new { namePattern = "WS-*" } } });
        Assert.Equal(HttpStatusCode.OK, previewed);
        Assert.Equal(["WS-001", "WS-002", "ws-010", "ws-lower"], preview.GetProperty("computers").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/targets/preview", new { include = Array.Empty<object>() })).Status);
        Assert.Equal(includes.Length, (await GetJsonAsync("/api/targets")).EnumerateArray().Count(t => !t.GetProperty("builtIn").GetBoolean()));
    }

    [Fact]
    public async Task the_computer_list_filters_pages_and_sorts_on_the_server()
    {
        foreach (var (name, os) in new[] { ("alpha", "Windows 11 Pro"), ("beta", "Windows 10 Pro"), ("gamma", "Windows Server 2022"), ("delta", "Windows 11 Enterprise") })
            await SendAsync(HttpMethod.Post, "/api/computers", new { name, operatingSystem = os });
        var page = await GetJsonAsync("/api/computers?os=windows 11&sort=-name&pageSize=1");
        Assert.Equal(2, page.GetProperty("total").GetInt32());
        Assert.Equal("delta", page.GetProperty("items")[0].GetProperty("name").GetString());
        Assert.Equal(2, page.GetProperty("pages").GetInt32());
        Assert.Equal(0, (await GetJsonAsync("/api/computers?notReportingDays=7")).GetProperty("total").GetInt32());
        await GetJsonAsync("/api/computers?notReportingDays=0", 400);
        await GetJsonAsync("/api/computers?sort=colour", 400);
        using var client = App.Client();
        var csv = await client.GetStringAsync("/api/computers?format=csv&q=a");
        Assert.StartsWith("id,name,domain,operatingSystem,", csv);
        Assert.Equal(5, csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
    }
}

public class when_the_computer_list_was_added_after_the_computers(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task its_rows_are_rebuilt_from_the_event_log_at_start()
    {
        foreach (var name in new[] { "OLD-1", "OLD-2", "OLD-3" }) await SendAsync(HttpMethod.Post, "/api/computers", new { name, operatingSystem = "Windows 10" });
        var db = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>();
        await using (var wipe = db.CreateCommand("delete from patch.mt_doc_computer_row")) await wipe.ExecuteNonQueryAsync();
        Assert.Equal(0, (await GetJsonAsync("/api/computers")).GetProperty("total").GetInt32());

        var backfill = ActivatorUtilities.CreateInstance<Patch.Application.Hosting.ReadModelBackfill>(App.Host.Services);
        await backfill.StartAsync(CancellationToken.None);
        await backfill.ExecuteTask!;
        var list = await GetJsonAsync("/api/computers?sort=name");
        Assert.Equal(["OLD-1", "OLD-2", "OLD-3"], list.GetProperty("items").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        Assert.Equal("Windows 10", list.GetProperty("items")[0].GetProperty("operatingSystem").GetString());
    }
}
