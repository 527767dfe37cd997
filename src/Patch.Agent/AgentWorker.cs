using Patch.Agent.Inventory;

namespace Patch.Agent;

public sealed record AgentWorkerOptions(string StateDirectory, TimeSpan InventoryInterval);

/// <summary>The agent service: reports the live inventory on its interval, only when it changed.</summary>
public sealed class AgentWorker(AgentWorkerOptions options, ILogger<AgentWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            logger.LogWarning("The agent service reads the live system on Windows only; use 'inventory --systeminfo FILE --send' elsewhere");
            return;
        }
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
                var inventory = new WindowsInventorySource().Read();
                var text = System.Text.Json.JsonSerializer.Serialize(inventory);
                if (text == last) continue;
                await new AgentClient(new HttpClient { BaseAddress = new Uri(state.Server.TrimEnd('/') + "/") }).SendInventoryAsync(state.Credential, inventory, stoppingToken);
                last = text;
                logger.LogInformation("Inventory reported");
            }
            catch (Exception e) when (e is AgentException or HttpRequestException or IOException)
            {
                logger.LogWarning(e, "Inventory report failed; retrying at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
