using System.Net;
using System.Text;
using System.Text.Json;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Agent.Inventory;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Staging;
using Patch.Domain.Agents;
using Patch.Domain.Cycle;

namespace Patch.Api.Tests.Cycle;

/// <summary>A clock the test moves by hand (the agent's; the server keeps real time).</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>One simulated agent: its own state folder, inventory file, simulation installer and restarter, talking to the in-process server.</summary>
public sealed class SimulatedAgent : IDisposable
{
    public string Name { get; }
    public string Directory { get; }
    public ManualClock Clock { get; }
    public CycleRunner Runner { get; }
    public AgentClient Client { get; }
    public List<string> Log { get; } = [];

    public SimulatedAgent(string name, HttpClient http, ManualClock clock)
    {
        Name = name;
        Clock = clock;
        Directory = Path.Combine(Path.GetTempPath(), $"patch-agent-{name}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        Client = new AgentClient(http);
        var inventory = new SimulatedInventorySource(new JsonInventorySource(Path.Combine(Directory, "inventory.json")), Directory);
        Runner = new CycleRunner(new CycleContext(Directory, Client, inventory, new SimulationInstaller(Directory, clock), new SimulationRestarter(Directory, clock), clock, Log.Add));
    }

    public SimulationState Simulation => SimulationState.Load(Directory);

    public AgentLedger Ledger => AgentLedger.Load(Directory);

    public async Task EnrolAsync(string token, AgentInventory inventory, Dictionary<string, SimulatedInstall>? plan = null)
    {
        await File.WriteAllTextAsync(Path.Combine(Directory, "inventory.json"), JsonSerializer.Serialize(inventory, new JsonSerializerOptions(JsonSerializerDefaults.Web)));
        if (plan is not null) (SimulationState.Load(Directory) with { Plan = plan }).Save(Directory);
        var enrolled = await Client.EnrolAsync(token, Name, null, "0.1.0", CancellationToken.None);
        new AgentState("http://localhost/", enrolled.ComputerId, enrolled.AgentId, enrolled.Credential).Save(Directory);
        await Client.SendInventoryAsync(enrolled.Credential, new SimulatedInventorySource(new JsonInventorySource(Path.Combine(Directory, "inventory.json")), Directory).Read(), CancellationToken.None);
    }

    public Task<CycleReport> CycleAsync(CycleTrigger trigger = CycleTrigger.Scheduled) => Runner.RunAsync(trigger, null, install: true, CancellationToken.None);

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>
/// A catalog of three updates for Windows 10 22H2 served by a real loopback content server, staged, with a policy for all
/// of them: KB9200001 (no restart), KB9200002 (restart required), KB9200003 (no restart; the one simulations make fail).
/// </summary>
public abstract class CycleTestBase(AppFixture app) : AppTest(app)
{
    protected const string Windows10 = "Windows 10 Version 22H2 for x64-based Systems";
    protected ContentServer Server = null!;
    protected readonly List<SimulatedAgent> Agents = [];

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        Server = await ContentServer.StartAsync();
        var files = new[] { ("noreboot.msu", 41), ("reboot.msu", 42), ("flaky.msu", 43) }.Select(f => Server.Add(f.Item1, ContentServer.Bytes(30_000, f.Item2))).ToArray();
        object Bulletin(string id, string updateId, int file, string restart, string? supersedes = null) => new
        {
            id, vendor = "ms", title = $"Update {id}", severity = "Critical",
            supersedes = supersedes is null ? Array.Empty<string>() : [supersedes],
            updates = new object[] { new { id = updateId, product = "w10", fileName = Path.GetFileName(new Uri(files[file].Url).LocalPath), downloadUrl = files[file].Url, sha256 = files[file].Sha256, size = files[file].Size, restart } },
        };
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "cycle-test",
            vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w10", name = Windows10, vendor = "ms" } },
            bulletins = new[] { Bulletin("KB9200001", "u-noreboot", 0, "notRequired"), Bulletin("KB9200002", "u-reboot", 1, "required"), Bulletin("KB9200003", "u-flaky", 2, "notRequired") },
        };
        await App.ImportAsync("patch", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(catalog)));
        await StageAndWaitAsync("KB9200001", "KB9200002", "KB9200003");
    }

    public override async ValueTask DisposeAsync()
    {
        foreach (var a in Agents) a.Dispose();
        await Server.DisposeAsync();
        await base.DisposeAsync();
    }

    protected static AgentInventory Inventory(params string[] kbs) =>
        new("Microsoft Windows 10 Enterprise", "10.0.19045.3930", "x64", 0, false, ["en-US"], [Windows10], kbs, "0.1.0");

    protected SimulatedAgent Agent(string name, ManualClock clock)
    {
        var agent = new SimulatedAgent(name, App.Host.Server.CreateClient(), clock);
        Agents.Add(agent);
        return agent;
    }

    protected async Task<string> TokenAsync()
    {
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "cycle", maxUses = 20 });
        return token.GetProperty("token").GetString()!;
    }

    protected async Task<string> CreatePolicyAsync(object? options = null, string[]? targets = null)
    {
        var (status, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB9200001", "KB9200002", "KB9200003" }, name = "January", options, targets });
        Assert.True(status == HttpStatusCode.Created, policy.ToString());
        return policy.GetProperty("id").GetString()!;
    }

    /// <summary>The statuses the server received for one computer and update, in the agent's order.</summary>
    protected async Task<IReadOnlyList<string>> StatusesAsync(string computer, string updateId)
    {
        await using var session = App.Store.QuerySession();
        var events = await session.Events.FetchStreamAsync(Patch.Domain.Computers.AgentStatusReported.StreamId(computer));
        return events.Select(e => e.Data).OfType<Patch.Domain.Computers.AgentStatusReported>().Where(e => e.UpdateId == updateId)
            .OrderBy(e => e.OccurredAt).Select(e => e.Status).ToList();
    }

    protected async Task<IReadOnlyList<string>> RestartKindsAsync(string computer)
    {
        await using var session = App.Store.QuerySession();
        var events = await session.Events.FetchStreamAsync(Patch.Domain.Computers.AgentStatusReported.StreamId(computer));
        return events.Select(e => e.Data).OfType<Patch.Domain.Computers.AgentRestartReported>().OrderBy(e => e.OccurredAt).Select(e => e.Kind).ToList();
    }
}
