using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Domain.Cycle;
using Patch.Agent.Inventory;
using Patch.Agent.Simulation;

// The Patch Software Update Agent: a service (systemd / Windows Service) and a CLI.
var version = typeof(AgentWorker).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
var command = args.Length == 0 ? "run" : args[0];
Dictionary<string, string?> options;
try
{
    options = Options(args.Skip(1).ToArray());
}
catch (AgentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
var stateDir = options.GetValueOrDefault("state") ?? AgentState.DefaultDirectory();
var json = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true };

// An option a command does not take is refused, never ignored ("run" passes its arguments to the host's configuration).
string[]? takes = command switch
{
    "enrol" => ["server", "token", "name", "domain", "mac"],
    "inventory" => ["inventory", "systeminfo", "qfe", "registry", "vswhere", "send", "force"],
    "rotate-credential" => [],
    "updates" => ["state-filter"],
    "status" => ["show", "hide"],
    "cycle" => ["inventory", "systeminfo", "qfe", "registry", "vswhere", "simulate"],
    "defer" => ["minutes", "simulate"],
    "simulate" => ["server", "token", "count", "templates", "concurrency", "prefix"],
    _ => null,
};
if (takes is not null && options.Keys.Where(k => k != "state" && !takes.Contains(k)).ToList() is { Count: > 0 } unknownOptions)
{
    Console.Error.WriteLine($"Unknown option{(unknownOptions.Count > 1 ? "s" : "")} {string.Join(", ", unknownOptions.Select(o => "--" + o))} for '{command}', which takes " +
        $"{string.Join(", ", takes.Append("state").Select(o => "--" + o))}. Try --help.");
    return 2;
}

// Every option but the switches takes a value: one given without it is named, not read as left out.
string[] switches = ["send", "force", "simulate"];
if (takes is not null && options.FirstOrDefault(o => o.Value is null && !switches.Contains(o.Key, StringComparer.OrdinalIgnoreCase)).Key is { } bare)
{
    Console.Error.WriteLine($"--{bare} needs a value. Try --help.");
    return 2;
}

try
{
    switch (command)
    {
        case "--version" or "version":
            Console.WriteLine($"Patch.Agent {version}");
            return 0;
        case "--help" or "-h" or "help":
            Console.WriteLine("""
                Patch.Agent — the Patch Software Update Agent
                  --version                                   print the agent version
                  enrol --server URL --token TOKEN [--name NAME] [--domain DOMAIN] [--mac MAC]
                                                              enrol with an enrolment token (the MAC address, for Wake-on-LAN, is the
                                                              first active network adapter's unless given); the credential is kept in --state
                  inventory [--systeminfo FILE [--qfe FILE] [--registry FILE,FILE…] [--vswhere FILE]] [--send] [--force]
                                                              print the inventory (the live system on Windows, else the files;
                                                              --registry: "reg export" files of the product keys, --vswhere:
                                                              "vswhere -all -format json" output, docs/products.md);
                                                              --send reports it when it changed since the last report (--force: always)
                  status [--show STATUSES | --hide STATUSES]  the "Software updates for this computer" table (status, bulletin, update,
                                                              last applied, schedule); STATUSES like "Not Applicable,Superseded"
                  rotate-credential                           replace this agent's credential secret (the old one works a few minutes more)
                  updates [--state-filter Missing]            the server's vulnerability analysis of this computer
                  cycle [--inventory FILE | --systeminfo FILE [--qfe FILE] [--registry FILE,…]] [--simulate]
                                                              Start Software Update Cycle now (updates on the default schedule only;
                                                              refused unless the configuration allows the user to initiate);
                                                              --simulate: the recording installer and restarter, no real installs
                  defer --minutes N [--simulate]              defer the pending restart by one of the configuration's choices
                  simulate --server URL --token TOKEN --count N [--templates DIR] [--concurrency 16] [--prefix SIM]
                                                              N simulated agents from real captures (load tests)
                  run                                         the service: reports the inventory every Agent:InventoryInterval, polls its
                                                              assignments at the configuration's interval, runs cycles on the schedules,
                                                              restarts when due (Agent:Simulate=true: recording installer)
                  common: --state DIR (default /var/lib/patch-agent as root, else ~/.local/share/patch-agent)
                """);
            return 0;
        case "enrol":
        {
            var server = Required(options, "server");
            var token = Required(options, "token");
            var client = Client(server);
            var name = options.GetValueOrDefault("name") ?? Environment.MachineName;
            // Nothing is written in the state folder before the command line is known to be whole.
            using var exclusive = await AgentLock.AcquireAsync(stateDir, TimeSpan.FromSeconds(30), CancellationToken.None);
            var mac = options.GetValueOrDefault("mac") ?? MacAddress.Primary();
            // The agent's own secret, kept until the enrolment is saved: running 'enrol' again after a lost answer gets the same enrolment.
            var pending = Path.Combine(stateDir, "enrol.pending");
            if (!File.Exists(pending)) Patch.Agent.Cycle.PrivateFile.Write(pending, Patch.Domain.Agents.Secrets.New());
            var enrolled = await client.EnrolAsync(token, name, options.GetValueOrDefault("domain"), AgentVersion.Current, CancellationToken.None, mac,
                (await File.ReadAllTextAsync(pending)).Trim());
            new AgentState(server, enrolled.ComputerId, enrolled.AgentId, enrolled.Credential, CredentialIssuedAt: DateTimeOffset.UtcNow).Save(stateDir);
            File.Delete(pending);
            Console.WriteLine($"Enrolled {name} as {enrolled.ComputerId} (agent {enrolled.AgentId}); credential saved in {Path.Combine(stateDir, "agent.json")}");
            return 0;
        }
        case "inventory":
        {
            var inventory = Source(options).Read();
            var text = JsonSerializer.Serialize(inventory, json);
            if (!options.ContainsKey("send"))
            {
                Console.WriteLine(text);
                return 0;
            }
            using var exclusive = await AgentLock.AcquireAsync(stateDir, TimeSpan.FromSeconds(30), CancellationToken.None);
            var state = AgentState.Load(stateDir) ?? throw new AgentException($"Not enrolled: run 'enrol' first (no {Path.Combine(stateDir, "agent.json")}).");
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
            if (hash == state.LastInventorySha256 && !options.ContainsKey("force"))
            {
                Console.WriteLine("Inventory unchanged since the last report; nothing sent (--force to resend).");
                return 0;
            }
            var result = await Client(state.Server).SendInventoryAsync(state.Credential, inventory, CancellationToken.None);
            (state with { LastInventorySha256 = hash }).Save(stateDir);
            Console.WriteLine(result.Changed ? "Inventory reported." : "Inventory resent; the server already had it.");
            return 0;
        }
        case "rotate-credential":
        {
            using var exclusive = await AgentLock.AcquireAsync(stateDir, TimeSpan.FromSeconds(30), CancellationToken.None);
            var state = AgentState.Load(stateDir) ?? throw new AgentException("Not enrolled: run 'enrol' first.");
            var (_, rotated) = await CredentialRotation.RotateAsync(Client(state.Server), state, stateDir, DateTimeOffset.UtcNow, CancellationToken.None);
            Console.WriteLine($"New credential saved in {Path.Combine(stateDir, "agent.json")}; the old one works until {rotated.PreviousValidUntil:u}.");
            return 0;
        }
        case "updates":
        {
            var state = AgentState.Load(stateDir) ?? throw new AgentException("Not enrolled: run 'enrol' first.");
            var updates = await Client(state.Server).UpdatesAsync(state.Credential, options.GetValueOrDefault("state-filter"), CancellationToken.None);
            Console.WriteLine($"Vulnerability analysis of {updates.Name}: {updates.Applicable} applicable, {updates.Installed} installed, {updates.Missing} missing, {updates.Superseded} superseded");
            Console.WriteLine($"{"State",-12} {"Bulletin",-12} {"Severity",-10} {"Update",-28} Product");
            foreach (var u in updates.Updates)
                Console.WriteLine($"{u.State,-12} {u.Bulletin,-12} {u.Severity,-10} {u.UpdateId,-28} {u.Product}");
            return 0;
        }
        case "status":
        {
            _ = AgentState.Load(stateDir) ?? throw new AgentException("Not enrolled: run 'enrol' first.");
            Console.Write(StatusTable.Render(AgentLedger.Load(stateDir, Console.Error.WriteLine), DateTimeOffset.UtcNow, List(options.GetValueOrDefault("show")), List(options.GetValueOrDefault("hide"))));
            return 0;
        }
        case "cycle":
        {
            var state = AgentState.Load(stateDir) ?? throw new AgentException("Not enrolled: run 'enrol' first.");
            var runner = Runner(state, options, stateDir, options.ContainsKey("simulate"));
            var report = await runner.RunAsync(CycleTrigger.User, null, install: true, CancellationToken.None);
            Console.WriteLine(report.StoppedBecause is { } why ? $"Cycle stopped: {why}" : $"Cycle completed: {report.Installed.Count} installed, {report.Failed.Count} failed, {report.Waiting.Count} waiting for a maintenance window{(report.WaitingUntil is { } w ? $" (opens {w:yyyy-MM-dd HH:mm} UTC)" : "")}.");
            if (report.Restart is { } restart) Console.WriteLine(restart.PlannedAt is { } at ? $"Restart pending: planned {at:yyyy-MM-dd HH:mm} UTC." : "Restart pending: restart the computer when you can.");
            Console.Write(StatusTable.Render(AgentLedger.Load(stateDir, Console.Error.WriteLine), DateTimeOffset.UtcNow, [], []));
            return report.Failed.Count == 0 && report.StoppedBecause is null ? 0 : 1;
        }
        case "defer":
        {
            var state = AgentState.Load(stateDir) ?? throw new AgentException("Not enrolled: run 'enrol' first.");
            var minutes = int.TryParse(Required(options, "minutes"), out var m) ? m : throw new AgentException("--minutes must be a number");
            var deferred = await Runner(state, options, stateDir, options.ContainsKey("simulate"), needsInventory: false).DeferAsync(minutes, CancellationToken.None);
            Console.WriteLine($"Restart deferred until {deferred.DeferredUntil:yyyy-MM-dd HH:mm} UTC ({deferred.Deferrals} deferral(s) so far).");
            return 0;
        }
        case "simulate":
        {
            var server = Required(options, "server");
            var templates = FleetSimulator.Templates(options.GetValueOrDefault("templates") ?? Path.Combine("..", "shared", "data", "windows-inventory", "wesng-validation"));
            var count = int.TryParse(Required(options, "count"), out var n) && n > 0 ? n : throw new AgentException("--count must be a positive number");
            var concurrency = int.TryParse(options.GetValueOrDefault("concurrency"), out var c) && c > 0 ? c : 16;
            var shared = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = BaseAddress(server), Timeout = TimeSpan.FromMinutes(2) };
            var report = await new FleetSimulator(() => new AgentClient(shared)).RunAsync(Required(options, "token"), count, templates, options.GetValueOrDefault("prefix") ?? "SIM", concurrency, CancellationToken.None);
            Console.WriteLine(JsonSerializer.Serialize(report, json));
            return report.Failed == 0 ? 0 : 1;
        }
        case "run":
        {
            var builder = Host.CreateApplicationBuilder(args.Skip(1).ToArray());
            builder.Services.AddSystemd();
            builder.Services.AddWindowsService(o => o.ServiceName = "Patch Agent");
            builder.Services.AddSingleton(new AgentWorkerOptions(stateDir, builder.Configuration.GetValue("Agent:InventoryInterval", TimeSpan.FromHours(1)),
                builder.Configuration["Agent:SystemInfoFile"], builder.Configuration["Agent:QfeFile"], builder.Configuration["Agent:InventoryFile"],
                builder.Configuration.GetValue("Agent:Simulate", false), builder.Configuration.GetValue("Agent:CredentialRotation", TimeSpan.FromDays(30)),
                builder.Configuration["Agent:RegistryFiles"]));
            builder.Services.AddHostedService<AgentWorker>();
            await builder.Build().RunAsync();
            return 0;
        }
        default:
            Console.Error.WriteLine($"Unknown command '{command}'. Try --help.");
            return 2;
    }
}
catch (AgentException e) when (e.StatusCode == 401 && command != "enrol")
{
    // The credential this agent holds is refused: the agent was revoked or reset (or its old secret outlived its grace).
    Console.Error.WriteLine($"{e.Message}\nThe server refused this agent's credential: the agent was revoked or reset on the server. Enrol again (enrol --server … --token …) once an administrator has reset it (DELETE /api/computers/{{name}}/agent).");
    return 1;
}
catch (Exception e) when (e is AgentException or HttpRequestException or IOException or FormatException or UnauthorizedAccessException)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}

static Dictionary<string, string?> Options(string[] args)
{
    var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
    for (var i = 0; i < args.Length; i++)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new AgentException($"Unexpected argument '{args[i]}'. Try --help.");
        var key = args[i][2..];
        result[key] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : null;
    }
    return result;
}

static string Required(Dictionary<string, string?> options, string name) =>
    options.GetValueOrDefault(name) is { Length: > 0 } value ? value : throw new AgentException($"--{name} is required. Try --help.");

static Uri BaseAddress(string server) =>
    Uri.TryCreate(server.TrimEnd('/') + "/", UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new AgentException($"--server '{server}' is not an http(s) URL");

static AgentClient Client(string server) => new(new HttpClient { BaseAddress = BaseAddress(server), Timeout = TimeSpan.FromMinutes(2) });

static IReadOnlyList<string> List(string? text) => text is null ? [] : text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

static CycleRunner Runner(AgentState state, Dictionary<string, string?> options, string stateDir, bool simulate, bool needsInventory = true)
{
    var source = needsInventory ? Source(options) : new NoInventorySource();
    return new CycleRunner(new CycleContext(stateDir, Client(state.Server), simulate ? new SimulatedInventorySource(source, stateDir) : source,
        simulate ? new SimulationInstaller(stateDir, TimeProvider.System) : new ProcessInstaller(),
        simulate ? new SimulationRestarter(stateDir, TimeProvider.System) : new SystemRestarter(), TimeProvider.System, Console.WriteLine));
}

static IInventorySource Source(Dictionary<string, string?> options)
{
    if (options.GetValueOrDefault("inventory") is { } json) return new JsonInventorySource(json);
    if (options.GetValueOrDefault("systeminfo") is { } file) return new FileInventorySource(file, options.GetValueOrDefault("qfe"), registryPaths: List(options.GetValueOrDefault("registry")),
        vswherePath: options.GetValueOrDefault("vswhere"));
    if (OperatingSystem.IsWindows()) return new WindowsInventorySource();
    throw new AgentException("Not on Windows: give --inventory FILE (inventory JSON) or --systeminfo FILE (systeminfo output) and optionally --qfe FILE (wmic qfe output) and --registry FILE,… (reg export files).");
}
