using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Agent.Inventory;
using Patch.Application.Common;
using Patch.Application.Staging;
using Patch.Application.Users;
using Patch.Domain.Agents;
using Patch.Domain.Cycle;

namespace Patch.Api.Hosting;

/// <summary>
/// The demo's fleet, through the product's own paths: the server calls its own HTTP API with a short-lived token of the
/// demo administrator (targets, a maintenance window, an agent configuration clone, an enrolment token, staging, a
/// policy), ~200 computers enrol and report inventories from the templates in demo/inventories with the real agent
/// client, and a few dozen simulated agents run a Software Update cycle with the agent's own cycle code and its
/// recording installer. Nothing writes a table behind the product's back. Done once: a restart finds the fleet and skips it.
/// </summary>
public sealed class DemoFleet(IServiceProvider services, IServer server, IConfiguration config, StagingOptions staging, ILogger<DemoFleet> logger)
{
    public const string StagedBulletin = "KB5034763";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record Template(int Count, string Prefix, AgentInventory Inventory);

    public async Task LoadAsync(CancellationToken ct)
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal))
                      ?? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        if (address is null)
        {
            logger.LogInformation("Demo fleet skipped: the server listens on no address it can call");
            return;
        }
        var baseUri = new Uri(address.Replace("://0.0.0.0", "://127.0.0.1").Replace("://[::]", "://127.0.0.1").Replace("://+", "://127.0.0.1").Replace("://*", "://127.0.0.1")
            .TrimEnd('/') + "/");
        using var scope = services.CreateScope();
        var accounts = scope.ServiceProvider.GetRequiredService<UserAccounts>();
        var (issued, rejection) = await accounts.CreateTokenAsync(Actor.ServerTask("demo"), Domain.Users.User.StreamId(DemoCatalog.AdministratorName), "demo loader", null,
            DateTimeOffset.UtcNow.AddHours(1), ct);
        if (rejection is not null) throw new InvalidOperationException(rejection.Detail);
        using var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(5) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", issued!.Token);
        try
        {
            var existing = await GetAsync(http, "api/computers?q=WS-001");
            if (existing["total"]!.GetValue<long>() > 0)
            {
                logger.LogInformation("Demo fleet already loaded");
                return;
            }
            await SetUpAsync(http, ct);
            var agents = await EnrolAsync(http, baseUri, ct);
            await StageAndDistributeAsync(http, ct);
            await RunCyclesAsync(http, agents, ct);
            logger.LogInformation("Demo fleet loaded: {Computers} computers, {Cycles} simulated Software Update cycles", agents.Count, agents.Count(a => a.Cycles));
        }
        finally
        {
            await accounts.RevokeTokenAsync(Actor.ServerTask("demo"), Domain.Users.User.StreamId(DemoCatalog.AdministratorName), issued.TokenId, CancellationToken.None);
        }
    }

    /// <summary>Targets, a window for the servers, laptops whose users restart themselves, and the vendor's verification (the demo's packages are placeholders without a catalog hash).</summary>
    private static async Task SetUpAsync(HttpClient http, CancellationToken ct)
    {
        var vendor = await GetAsync(http, "api/settings/vendors/microsoft");
        vendor["verifyAuthenticity"] = false;
        await SendAsync(http, HttpMethod.Put, "api/settings/vendors/microsoft", vendor, ct);
        var servers = await SendAsync(http, HttpMethod.Post, "api/targets", new { name = "Servers", include = new[] { new { operatingSystemContains = "Server" } } }, ct);
        var laptops = await SendAsync(http, HttpMethod.Post, "api/targets", new { name = "Laptops", include = new[] { new { namePattern = "LT-*" } } }, ct);
        await SendAsync(http, HttpMethod.Post, "api/maintenance-windows", new
        {
            name = "Servers: Sunday night", targets = new[] { servers["id"]!.GetValue<string>() },
            schedule = new { timeZone = "Europe/Berlin", start = "01:00:00", duration = "04:00:00", recurrence = new { kind = "Weekly", days = new[] { "Sunday" } } },
        }, ct);
        var clone = await SendAsync(http, HttpMethod.Post, "api/agent-configurations/agent-config:default/clone",
            new { name = "Laptops: the user restarts", targets = new[] { laptops["id"]!.GetValue<string>() }, priority = 10 }, ct);
        var settings = clone["settings"]!.DeepClone();
        settings["reboot"]!["mode"] = "Never";
        await SendAsync(http, HttpMethod.Put, $"api/agent-configurations/{clone["id"]}", new { settings }, ct);
    }

    private sealed record DemoAgent(string Name, string Directory, AgentState State, bool Cycles);

    private async Task<List<DemoAgent>> EnrolAsync(HttpClient http, Uri baseUri, CancellationToken ct)
    {
        var templates = Directory.GetFiles(Path.Combine(DemoCatalog.DemoFolder, "inventories"), "*.json").Order(StringComparer.Ordinal)
            .Select(f => JsonSerializer.Deserialize<Template>(File.ReadAllText(f), Json)!).ToList();
        var token = (await SendAsync(http, HttpMethod.Post, "api/enrolment-tokens",
            new { name = "Demo fleet", maxUses = templates.Sum(t => t.Count), expiresAt = DateTimeOffset.UtcNow.AddHours(1) }, ct))["token"]!.GetValue<string>();
        var client = new AgentClient(http);
        var root = Path.Combine(config["Patch:DataDirectory"] is { Length: > 0 } d ? d : EmbeddedPostgres.DefaultDataDirectory(), "demo-agents");
        var agents = new List<DemoAgent>();
        var numbers = new Dictionary<string, int>();
        foreach (var template in templates)
        {
            for (var i = 0; i < template.Count; i++)
            {
                var n = numbers[template.Prefix] = numbers.GetValueOrDefault(template.Prefix) + 1;
                var name = $"{template.Prefix}-{n:D3}";
                // Every third computer of a template is a little further behind: its newest KB is missing.
                var inventory = n % 3 == 0 && template.Inventory.InstalledKbs.Count > 1 ? template.Inventory with { InstalledKbs = template.Inventory.InstalledKbs.Skip(1).ToList() } : template.Inventory;
                var enrolled = await client.EnrolAsync(token, name, "demo.example", "0.1.0", ct, $"02:00:5E:{n / 256:X2}:{n % 256:X2}:{template.Prefix.Length:X2}");
                var directory = Path.Combine(root, name);
                Directory.CreateDirectory(directory);
                await File.WriteAllTextAsync(Path.Combine(directory, "inventory.json"), JsonSerializer.Serialize(inventory, Json), ct);
                var state = new AgentState(baseUri.ToString(), enrolled.ComputerId, enrolled.AgentId, enrolled.Credential, CredentialIssuedAt: DateTimeOffset.UtcNow);
                state.Save(directory);
                await client.SendInventoryAsync(enrolled.Credential, inventory, ct);
                // The Windows 10 workstations behind on updates are the ones the demo policy reaches; a few dozen of them run a cycle.
                var cycles = template.Prefix == "WS" && !inventory.InstalledKbs.Contains(StagedBulletin) && inventory.OsVersion.StartsWith("10.0.1904", StringComparison.Ordinal) && n % 4 == 1;
                agents.Add(new DemoAgent(name, directory, state, cycles));
            }
        }
        return agents;
    }

    /// <summary>Placeholder packages in the staging location (a mirror), the bulletin staged from there, and a policy for the computers that require it.</summary>
    private async Task StageAndDistributeAsync(HttpClient http, CancellationToken ct)
    {
        var mirror = staging.StagingLocation ?? throw new InvalidOperationException("The demo needs Patch:Staging:StagingLocation");
        Directory.CreateDirectory(mirror);
        var bulletin = await GetAsync(http, $"api/bulletins/{StagedBulletin}");
        foreach (var update in bulletin["updates"]!.AsArray())
            if (update?["fileName"]?.GetValue<string>() is { } file && !File.Exists(Path.Combine(mirror, file)))
                await File.WriteAllTextAsync(Path.Combine(mirror, file), $"Patch demo package {file}: a placeholder the simulated agents record, never a real update.\n", ct);
        var started = await SendAsync(http, HttpMethod.Post, $"api/bulletins/{StagedBulletin}/stage", null, ct);
        for (var i = 0; i < 600; i++)
        {
            var status = await GetAsync(http, started["statusUrl"]!.GetValue<string>().TrimStart('/'));
            if (status["run"]!["status"]!.GetValue<string>() != "running") break;
            await Task.Delay(500, ct);
        }
        await SendAsync(http, HttpMethod.Post, "api/policies", new { bulletinIds = new[] { StagedBulletin }, name = "February 2024 cumulative update (Windows 10)" }, ct);
    }

    private async Task RunCyclesAsync(HttpClient http, IReadOnlyList<DemoAgent> agents, CancellationToken ct)
    {
        var client = new AgentClient(http);
        var failing = 0;
        foreach (var agent in agents.Where(a => a.Cycles))
        {
            // One in five installs fails (and is rescheduled), so the delivery summary shows what failures look like.
            if (failing++ % 5 == 0)
                (SimulationState.Load(agent.Directory) with { Plan = new Dictionary<string, SimulatedInstall> { [$"{StagedBulletin}-win10-22h2-x64"] = new(FailTimes: 9) } }).Save(agent.Directory);
            var inventory = new SimulatedInventorySource(new JsonInventorySource(Path.Combine(agent.Directory, "inventory.json")), agent.Directory);
            var runner = new CycleRunner(new CycleContext(agent.Directory, client, inventory, new SimulationInstaller(agent.Directory, TimeProvider.System),
                new SimulationRestarter(agent.Directory, TimeProvider.System), TimeProvider.System));
            try
            {
                await runner.RunAsync(CycleTrigger.Scheduled, null, install: true, ct);
                // The computer's inventory after the installs: the compliance reports see them at once.
                await client.SendInventoryAsync(agent.State.Credential, inventory.Read(), ct);
            }
            catch (Exception e) when (e is AgentException or HttpRequestException)
            {
                logger.LogWarning("Demo cycle of {Computer} failed: {Message}", agent.Name, e.Message);
            }
        }
    }

    private static async Task<JsonNode> GetAsync(HttpClient http, string url) =>
        JsonNode.Parse(await (await Ensure(await http.GetAsync(url))).Content.ReadAsStringAsync())!;

    private static async Task<JsonNode> SendAsync(HttpClient http, HttpMethod method, string url, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : JsonContent.Create(body, options: Json) };
        using var response = await Ensure(await http.SendAsync(request, ct));
        var text = await response.Content.ReadAsStringAsync(ct);
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!;
    }

    private static async Task<HttpResponseMessage> Ensure(HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode) return response;
        throw new HttpRequestException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }
}
