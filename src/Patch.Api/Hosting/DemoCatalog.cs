using Patch.Application.Catalog;
using Patch.Application.Common;
using Wolverine;

namespace Patch.Api.Hosting;

/// <summary>With Patch:Demo=true, imports the demo catalog the project ships (idempotent: unchanged on the next start).</summary>
public sealed class DemoCatalog(IConfiguration config, IServiceProvider services, ILogger<DemoCatalog> logger) : BackgroundService
{
    public static string DemoFolder => Path.Combine(AppContext.BaseDirectory, "demo");

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (!config.GetValue<bool>("Patch:Demo")) return;
        foreach (var (file, format) in new[] { ("patch-demo-catalog.json", "patch"), ("kev-demo.json", "kev") })
        {
            var path = Path.Combine(DemoFolder, file);
            if (!File.Exists(path)) { logger.LogWarning("Demo file {Path} is missing", path); continue; }
            using var scope = services.CreateScope();
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            var result = await bus.InvokeAsync<CatalogImportResult>(
                new ImportCatalog(await File.ReadAllBytesAsync(path, ct), format, "demo", Actor.ServerTask("demo"), file), ct, TimeSpan.FromMinutes(5));
            logger.LogInformation("Demo {File}: {Status}, {Added} bulletins added, {Updates} updates added, {Cves} known-exploited CVEs added",
                file, result.Status, result.BulletinsAdded, result.UpdatesAdded, result.VulnerabilitiesAdded);
        }
    }
}
