using System.Reflection;
using Patch.Agent;

// The Software Update Agent. This first slice is the skeleton: the worker host (systemd / Windows Service) and
// the CLI entry; enrolment, inventory and the install cycle arrive with their issues.
var version = typeof(AgentWorker).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
if (args is ["--version"] or ["version"])
{
    Console.WriteLine($"Patch.Agent {version}");
    return 0;
}
if (args is ["--help"] or ["-h"] or ["help"])
{
    Console.WriteLine("""
        Patch.Agent — the Patch Software Update Agent
          --version    print the agent version
          run          run as a service (systemd or Windows Service); the default
        """);
    return 0;
}
if (args.Length > 0 && args[0] != "run")
{
    Console.Error.WriteLine($"Unknown command '{args[0]}'. Try --help.");
    return 2;
}

var builder = Host.CreateApplicationBuilder(args.Skip(1).ToArray());
builder.Services.AddSystemd();
builder.Services.AddWindowsService(o => o.ServiceName = "Patch Agent");
builder.Services.AddHostedService<AgentWorker>();
await builder.Build().RunAsync();
return 0;
