using System.Text.Json;
using Patch.Agent.Cycle;
using Patch.Agent.Inventory;
using Patch.Domain.Cycle;

namespace Patch.Agent;

/// <summary>
/// Where the service reads its inventory (the live system on Windows; elsewhere Agent:InventoryFile or the captures in
/// Agent:SystemInfoFile / Agent:QfeFile / Agent:RegistryFiles, comma separated "reg export" files) and whether it installs
/// for real or records (Agent:Simulate).
/// </summary>
public sealed record AgentWorkerOptions(string StateDirectory, TimeSpan InventoryInterval, string? SystemInfoFile = null, string? QfeFile = null,
    string? InventoryFile = null, bool Simulate = false, TimeSpan? CredentialRotation = null, string? RegistryFiles = null);

/// <summary>
/// The agent service: reports the inventory on its interval (only when it changed); polls its assignments at the
/// configuration's interval and re-evaluates them (an update removed since it was installed shows as scheduled again);
/// runs a cycle when an install schedule or a policy's own schedule comes round, and again when a maintenance window
/// opens for installs that waited for it; restarts when a pending restart is due and notices when the computer started.
/// A failed round is retried at the next one.
/// </summary>
public sealed class AgentWorker(AgentWorkerOptions options, ILogger<AgentWorker> logger) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IInventorySource source;
        if (options.InventoryFile is { } json) source = new JsonInventorySource(json);
        else if (OperatingSystem.IsWindows()) source = new WindowsInventorySource();
        else if (options.SystemInfoFile is { } file) source = new FileInventorySource(file, options.QfeFile, registryPaths:
            options.RegistryFiles?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        else
        {
            logger.LogError("Not on Windows and neither Agent:InventoryFile nor Agent:SystemInfoFile configured: the service has no inventory to report");
            return;
        }
        if (options.Simulate) source = new SimulatedInventorySource(source, options.StateDirectory);

        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        using var timer = new PeriodicTimer(Tick);
        string? lastInventory = null;
        DateTimeOffset lastInventoryAt = default, lastPoll = default;
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
                http.BaseAddress ??= new Uri(state.Server.TrimEnd('/') + "/");
                var client = new AgentClient(http);
                var now = DateTimeOffset.UtcNow;
                state = await RotateIfDueAsync(client, state, now, stoppingToken);
                if (now - lastInventoryAt >= options.InventoryInterval)
                {
                    // Its own step: WMI or the server failing here must not stop the cycles, the restarts or boot detection.
                    lastInventoryAt = now;
                    try
                    {
                        var inventory = source.Read();
                        var text = JsonSerializer.Serialize(inventory);
                        if (text != lastInventory)
                        {
                            await client.SendInventoryAsync(state.Credential, inventory, stoppingToken);
                            lastInventory = text;
                            logger.LogInformation("Inventory reported");
                        }
                    }
                    catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                    {
                        logger.LogWarning(e, "Inventory report failed; retrying at the next interval");
                    }
                }

                var runner = new CycleRunner(new CycleContext(options.StateDirectory, client, source,
                    options.Simulate ? new SimulationInstaller(options.StateDirectory, TimeProvider.System) : new ProcessInstaller(),
                    options.Simulate ? new SimulationRestarter(options.StateDirectory, TimeProvider.System) : new SystemRestarter(), TimeProvider.System,
                    m => logger.LogInformation("{Message}", m)));
                var ledger = AgentLedger.Load(options.StateDirectory, m => logger.LogWarning("{Message}", m));
                var configuration = ledger.Assignments?.Configuration;
                if (configuration is null || now - lastPoll >= TimeSpan.FromMinutes(configuration.PollIntervalMinutes))
                {
                    lastPoll = now;
                    try
                    {
                        await runner.RunAsync(CycleTrigger.Scheduled, null, install: false, stoppingToken);
                    }
                    catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                    {
                        logger.LogWarning(e, "Assignments poll failed; the last assignments stay in force");
                    }
                    ledger = AgentLedger.Load(options.StateDirectory, m => logger.LogWarning("{Message}", m));
                }
                // Each due run once: a run that fails is tried again in a quarter of an hour, never every minute.
                var due = CycleRunner.DueCycles(ledger, now);
                await runner.MarkScheduleCheckedAsync(now, stoppingToken);
                foreach (var (trigger, policyId) in due)
                {
                    try
                    {
                        await runner.RunAsync(trigger, policyId, install: true, stoppingToken);
                    }
                    catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                    {
                        logger.LogWarning(e, "Software Update cycle ({Trigger} {Policy}) failed; trying again in 15 minutes", trigger, policyId);
                        await runner.RetryLaterAsync(trigger, policyId, stoppingToken);
                    }
                }
                await runner.RestartIfDueAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // A timeout, WMI, a corrupt state file, the server away: the service lives on and tries again.
                logger.LogWarning(e, "Agent round failed; retrying at the next one");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Agent:CredentialRotation (default 30 days) after the credential was issued, the service replaces it (the old one works a few minutes more).</summary>
    private async Task<AgentState> RotateIfDueAsync(AgentClient client, AgentState state, DateTimeOffset now, CancellationToken ct)
    {
        var issued = state.CredentialIssuedAt ?? File.GetLastWriteTimeUtc(Path.Combine(options.StateDirectory, "agent.json"));
        // A rotation begun (its secret kept) and not answered is finished first, whenever it was begun.
        if (state.PendingSecret is null && (options.CredentialRotation is not { } every || now - issued < every)) return state;
        try
        {
            using var exclusive = await AgentLock.AcquireAsync(options.StateDirectory, TimeSpan.FromSeconds(30), ct);
            // The state again under the lock (a command-line rotation may have run meanwhile).
            state = AgentState.Load(options.StateDirectory) ?? state;
            (state, var rotated) = await CredentialRotation.RotateAsync(client, state, options.StateDirectory, now, ct);
            logger.LogInformation("Agent credential replaced (the old one works until {Until:u})", rotated.PreviousValidUntil);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "Credential rotation failed; trying again at the next round");
        }
        return state;
    }
}
