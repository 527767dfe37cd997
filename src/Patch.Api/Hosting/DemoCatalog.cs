using Marten;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Application.Users;
using Patch.Domain.Users;
using Wolverine;

namespace Patch.Api.Hosting;

/// <summary>When the demo data is loaded (at once without Patch:Demo); tests wait for it.</summary>
public sealed class DemoStatus
{
    public TaskCompletionSource Loaded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// With Patch:Demo=true: a demo administrator whose generated password is printed in the log (demo only: a server
/// without Patch:Demo never has a default password), and the demo catalog the project ships (idempotent: unchanged
/// on the next start).
/// </summary>
public sealed class DemoCatalog(IConfiguration config, IServiceProvider services, IHostApplicationLifetime lifetime, DemoStatus status, ILogger<DemoCatalog> logger) : BackgroundService
{
    public const string AdministratorName = "admin";

    public static string DemoFolder => Path.Combine(AppContext.BaseDirectory, "demo");

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        try
        {
            await LoadAsync(ct);
            status.Loaded.TrySetResult();
        }
        catch (Exception e)
        {
            status.Loaded.TrySetException(e);
            throw;
        }
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        if (!config.GetValue<bool>("Patch:Demo")) return;
        await DemoAdministratorAsync(ct);
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
        if (!config.GetValue("Patch:Demo:Fleet", true)) return;
        // The fleet calls the server's own API: it waits until the server listens.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(ct);
        try
        {
            await services.GetRequiredService<DemoFleet>().LoadAsync(ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The server goes on without the fleet; whoever waits for the demo learns why.
            logger.LogError(e, "The demo fleet could not be loaded");
            status.Loaded.TrySetException(e);
        }
    }

    /// <summary>Creates the demo administrator, or gives it a new password on every start (the previous one is only a hash).</summary>
    private async Task DemoAdministratorAsync(CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var accounts = scope.ServiceProvider.GetRequiredService<UserAccounts>();
        var password = Patch.Domain.Agents.Secrets.New()[..20];
        var actor = Actor.ServerTask("demo");
        await using var session = scope.ServiceProvider.GetRequiredService<IDocumentStore>().QuerySession();
        var existing = await session.LoadAsync<User>(User.StreamId(AdministratorName), ct);
        var (_, rejection) = existing is { Deleted: false }
            ? await accounts.SetPasswordAsync(actor, AdministratorName, password, byUser: false, mustChangePassword: false, ct)
            : await accounts.CreateAsync(actor, AdministratorName, "Demo administrator", Roles.Administrator, password, false, ct);
        if (rejection is not null)
        {
            logger.LogError("The demo administrator could not be set up: {Detail}", rejection.Detail);
            return;
        }
        if (existing is { Deleted: false, Enabled: false })
            await accounts.ChangeAsync(actor, AdministratorName, (u, _, now) => UserDecisions.Enable(u, now), ct);
        logger.LogWarning("Demo administrator: user name '{User}', password '{Password}' (demo only; a new password is generated at every start)", AdministratorName, password);
    }
}
