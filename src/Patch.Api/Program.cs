using System.Reflection;
using Patch.Api.Hosting;
using Patch.Application.Hosting;

// `Patch.Api import|users|tokens …` are commands on the server's database; anything else runs the server.
if (ServerCommands.IsCommand(args)) return await ServerCommands.InvokeAsync(args);

WebApplication app;
try
{
    app = PatchApp.CreateBuilder(args).Build();
    // Opening the database here (not lazily on the first request) turns a missing PostgreSQL into a clear message at start.
    app.Services.GetRequiredService<PatchDatabase>();
}
catch (PatchDatabaseException e)
{
    Console.Error.WriteLine(e.Message);
    return 3;
}
catch (InvalidOperationException e) when (e.Message.StartsWith("Invalid configuration", StringComparison.Ordinal))
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

app.UsePatch();
await app.RunAsync();
return 0;

/// <summary>The Patch server.</summary>
public partial class Program
{
    public static string Version => typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
}
