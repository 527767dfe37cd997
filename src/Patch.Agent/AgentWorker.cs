namespace Patch.Agent;

/// <summary>The agent's service loop. It only reports that it runs until the agent protocol lands.</summary>
public sealed class AgentWorker(ILogger<AgentWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("Patch.Agent started; no server is configured yet (enrolment arrives with the agent protocol)");
        await Task.Delay(Timeout.Infinite, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }
}
