using System.Text.Json;
using Patch.Agent.Inventory;

namespace Patch.Agent;

/// <summary>Where the service reads its inventory: the live system on Windows; elsewhere the captures named in Agent:SystemInfoFile / Agent:QfeFile.</summary>
public sealed record AgentWorkerOptions(string StateDirectory, TimeSpan InventoryInterval, string? SystemInfoFile = null, string? QfeFile = null);

/// <summary>The agent service: reports the inventory on its interval, only when it changed; a failed round is retried at the next one.</summary>
public sealed class AgentWorker(AgentWorkerOptions options, ILogger<AgentWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IInventorySource source;
        if (OperatingSystem.IsWindows()) source = new WindowsInventorySource();
        else if (options.SystemInfoFile is { } file) source = new FileInventorySource(file, options.QfeFile);
        else
        {
            logger.LogError("Not on Windows and no Agent:SystemInfoFile configured: the service has no inventory to report");
            return;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        using var timer = new PeriodicTimer(options.InventoryInterval);
        string? last = null;
        do
        {
            try
            {
                var state = AgentState.Load(options.StateDirectory);
                if (state is null)
                {
                    logger.LogWarning("Not enrolled: run 'Patch.Agent enrol --server URL --token TOKEN'");
                    continue;
                }
                var inventory = source.Read();
                var text = JsonSerializer.Serialize(inventory);
                if (text == last) continue;
                http.BaseAddress ??= new Uri(state.Server.TrimEnd('/') + "/");
                await new AgentClient(http).SendInventoryAsync(state.Credential, inventory, stoppingToken);
                last = text;
                logger.LogInformation("Inventory reported");
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // A timeout, WMI, a corrupt state file, the server away: the service lives on and tries again.
                logger.LogWarning(e, "Inventory report failed; retrying at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
