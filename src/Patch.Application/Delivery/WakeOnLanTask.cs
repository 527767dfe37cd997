using System.Net;
using System.Net.Sockets;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Patch.Application.AgentConfigurations;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Application.Targets;
using Patch.Domain;
using Patch.Domain.Computers;
using Patch.Domain.Cycle;
using Patch.Domain.Policies;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Delivery;

/// <summary>
/// Wake-on-LAN before a policy run (C11): the magic packet for each member computer's MAC address, sent to the configured
/// broadcast address (Patch:WakeOnLan:Broadcast, default 255.255.255.255:9). Every send is a server-task run with its counts.
/// </summary>
public sealed class WakeOnLanTask(IDocumentStore store, Npgsql.NpgsqlDataSource db, IConfiguration config)
{
    public const string TaskName = "wake-on-lan";

    /// <summary>The configured broadcast address (port 9 when none is given); null when the setting is not an address.</summary>
    public IPEndPoint? Broadcast => IPEndPoint.TryParse(config["Patch:WakeOnLan:Broadcast"] ?? "255.255.255.255:9", out var ep)
        ? (ep.Port == 0 ? new IPEndPoint(ep.Address, 9) : ep)
        : null;

    /// <summary>The task's work under its run: parameter <c>policy</c> names the policy whose members are woken.</summary>
    public async Task<TaskOutcome> WorkAsync(IReadOnlyDictionary<string, string> parameters, CancellationToken token)
    {
        var broadcast = Broadcast ?? throw new FormatException($"Patch:WakeOnLan:Broadcast '{config["Patch:WakeOnLan:Broadcast"]}' is not an address like 192.168.1.255:9");
        await using var session = store.QuerySession();
        var policy = await session.LoadAsync<SoftwareUpdatePolicy>(parameters.GetValueOrDefault("policy") ?? "", token)
                     ?? throw new InvalidOperationException($"No policy '{parameters.GetValueOrDefault("policy")}'.");
        var custom = await TargetEndpoints.CustomTargetsAsync(session, token);
        var (_, names) = await TargetEndpoints.MembersAsync(session, db, config, policy.Targets, policy.Updates.Where(u => u.Enabled).Select(u => u.UpdateId).ToList(),
            custom, token, policy.Bulletins.FirstOrDefault()?.Split(':')[0]);
        var computers = names.Count == 0 ? [] : await session.LoadManyAsync<Computer>(token, names.Select(Computer.StreamId).ToArray());
        var macs = computers.Select(c => c.MacAddress).OfType<string>().Distinct().ToList();
        using var udp = new UdpClient(broadcast.AddressFamily) { EnableBroadcast = true };
        foreach (var mac in macs) await udp.SendAsync(WakeOnLan.MagicPacket(mac), broadcast, token);
        return new TaskOutcome(new Dictionary<string, int> { ["computers"] = names.Count, ["packetsSent"] = macs.Count, ["withoutMacAddress"] = computers.Count(c => c.MacAddress is null) });
    }

    /// <summary>Wakes one policy's computers through the runner (one send at a time: a send already going is waited for).</summary>
    public async Task<ServerTaskRun?> WakeAsync(ServerTasks.ServerTaskRunner runner, SoftwareUpdatePolicy policy, string trigger, Actor actor, CancellationToken ct)
    {
        var parameters = new Dictionary<string, string> { ["policy"] = policy.Id, ["broadcast"] = config["Patch:WakeOnLan:Broadcast"] ?? "255.255.255.255:9" };
        for (var attempt = 0; ; attempt++)
        {
            var start = await runner.StartAsync(TaskName, trigger, actor, parameters, ct);
            var run = await runner.WaitAsync(start!.RunId, ct);
            if (!start.AlreadyRunning || attempt == 20) return run;
        }
    }

    /// <summary>When a policy runs: its own schedule, else the install schedules of the agent configurations (its computers run on those).</summary>
    public static async Task<IReadOnlyList<PolicySchedule>> RunSchedulesAsync(IQuerySession session, SoftwareUpdatePolicy policy, CancellationToken ct) =>
        policy.Options is { Schedule: ScheduleMode.Own, OwnSchedule: { } own }
            ? [own]
            : (await AgentConfigurationEndpoints.AllAsync(session, ct)).SelectMany(c => c.Settings.InstallSchedules).Distinct().ToList();

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/api/policies/{id}/wake", async (string id, HttpContext http, IQuerySession session, WakeOnLanTask task, ServerTasks.ServerTaskRunner runner, CancellationToken ct) =>
                await session.LoadAsync<SoftwareUpdatePolicy>(id, ct) switch
                {
                    { Status: PolicyStatus.Active, Enabled: true } policy => Results.Ok(await task.WakeAsync(runner, policy, "on demand", Actor.From(http), ct)),
                    // A disabled policy distributes nothing: no computer is woken for it.
                    { Status: PolicyStatus.Active } => Results.Problem(title: "Policy disabled", statusCode: StatusCodes.Status409Conflict,
                        detail: $"Policy '{id}' is disabled: it distributes nothing, so no computer is woken for it (enable it first)."),
                    _ => Problems.NotFound($"No active Software Update policy '{id}'."),
                })
            .WithTags("Software Update policies").ForOperator().WithName("WakePolicyComputers")
            .WithSummary("Send the Wake-on-LAN magic packet to every member computer with a MAC address now (policies with the option set are woken automatically before each run). The answer is the server-task run with its counts.")
            .Produces<ServerTaskRun>().ProducesProblem(404).ProducesProblem(409);
}

/// <summary>
/// Wakes the computers of each enabled policy with Wake-on-LAN set, once per run, Patch:WakeOnLan:LeadMinutes (default 10)
/// before it starts; checks every Patch:WakeOnLan:CheckSeconds (default 60).
/// </summary>
public sealed class ScheduledWakeOnLan(IDocumentStore store, WakeOnLanTask task, ServerTasks.ServerTaskRunner runner, IConfiguration config, TimeProvider time,
    ILogger<ScheduledWakeOnLan> logger) : BackgroundService
{
    private readonly HashSet<(string Policy, DateTimeOffset Run)> _woken = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = TimeSpan.FromSeconds(config.GetValue("Patch:WakeOnLan:CheckSeconds", 60));
        using var timer = new PeriodicTimer(every, time);
        do
        {
            try
            {
                await CheckAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Wake-on-LAN check failed; trying again at the next one");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One check: wakes what is due, returns the runs it woke computers for.</summary>
    public async Task<IReadOnlyList<(string Policy, DateTimeOffset Run)>> CheckAsync(CancellationToken ct)
    {
        var lead = TimeSpan.FromMinutes(config.GetValue("Patch:WakeOnLan:LeadMinutes", 10));
        var now = time.GetUtcNow();
        var woken = new List<(string, DateTimeOffset)>();
        await using var session = store.QuerySession();
        foreach (var policy in (await session.Query<SoftwareUpdatePolicy>().ToListAsync(ct)).Where(p => p.Distributes && p.Options.WakeOnLan))
        {
            if (WakeOnLan.RunToWakeFor(await WakeOnLanTask.RunSchedulesAsync(session, policy, ct), now, lead) is not { } run || !_woken.Add((policy.Id, run))) continue;
            await task.WakeAsync(runner, policy, $"before the run at {run:O}", Actor.ServerTask(WakeOnLanTask.TaskName), ct);
            woken.Add((policy.Id, run));
        }
        _woken.RemoveWhere(w => w.Run < now);
        return woken;
    }
}
