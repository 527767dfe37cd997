using System.Text.Json;
using Patch.Application.Catalog;
using Compliance = Patch.Application.Compliance;
using Patch.Application.Common;
using Patch.Domain.ServerTasks;

namespace Patch.Api.Hosting;

/// <summary>`Patch.Api import FILE --format cvrf|mssecure|patch|kev`: imports without starting the web server.</summary>
public static class ImportCommand
{
    public static bool IsImport(string[] args) => args.Length > 0 && args[0] == "import";

    /// <summary>Removes the verb and its arguments so the rest configures the host as usual.</summary>
    public static (string? File, string? Format, string[] HostArgs, string? Error) Parse(string[] args)
    {
        string? file = null, format = null;
        var rest = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i] is "--format" or "-f")
            {
                if (i + 1 >= args.Length) return (null, null, [], "--format needs a value");
                format = args[++i];
            }
            else if (args[i].StartsWith("--format=", StringComparison.Ordinal)) format = args[i]["--format=".Length..];
            else if (file is null && !args[i].StartsWith('-')) file = args[i];
            else rest.Add(args[i]);
        }
        if (file is null) return (null, null, [], "usage: import FILE --format cvrf|mssecure|patch|kev");
        if (format is null) return (null, null, [], $"--format is required: one of {string.Join(", ", CatalogFormats.All)}");
        return (file, format, rest.ToArray(), null);
    }

    public static async Task<int> RunAsync(WebApplication app, string file, string format)
    {
        if (!File.Exists(file))
        {
            await Console.Error.WriteLineAsync($"File not found: {file}");
            return 2;
        }
        var options = app.Services.GetRequiredService<CatalogImportOptions>();
        var length = new FileInfo(file).Length;
        byte[] content;
        if (length > options.MaxBytes)
        {
            content = new byte[options.MaxBytes + 1]; // enough for the importer to refuse it with its usual message
        }
        else
        {
            content = await File.ReadAllBytesAsync(file);
        }

        await using var scope = app.Services.CreateAsyncScope();
        var importer = scope.ServiceProvider.GetRequiredService<CatalogImporter>();
        var result = await importer.ImportAsync(new ImportCatalog(content, format, "command line", new Actor("user", Environment.UserName, Guid.NewGuid().ToString("N")), Path.GetFileName(file)), CancellationToken.None);
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
        if (result.EventsAppended > 0 && result.Format != "kev")
        {
            await Compliance.ComplianceTables.EnsureAsync(scope.ServiceProvider.GetRequiredService<Npgsql.NpgsqlDataSource>(), CancellationToken.None);
            await scope.ServiceProvider.GetRequiredService<Compliance.FleetAnalysisTask>().RunAsync("catalog import (command line)", Actor.ServerTask(Compliance.FleetAnalysisTask.TaskName), CancellationToken.None);
        }
        return result.Status == ServerTaskStatus.Failed ? 1 : 0;
    }
}
