using Microsoft.Extensions.Configuration;
using Wolverine;

namespace Patch.Application.Catalog;

/// <summary>
/// What follows every change to the catalog, however it came (an import, a replication run, a bundle): the cached
/// catalog is dropped, the fleet's inventory shapes are decided again against it (ADR 0035; the changed bulletins, when
/// named, are what the run counts) and the policy maintenance tasks the settings ask for are started.
/// </summary>
public static class CatalogChanged
{
    public static async Task FollowAsync(Projections.Compliance.CatalogCache catalog, IMessageBus bus, ServerTasks.ServerTaskRunner runner, IConfiguration config,
        string cause, IReadOnlyList<string>? changedBulletins, CancellationToken ct)
    {
        catalog.Invalidate();
        await bus.PublishAsync(new Compliance.AnalyseFleet(cause, changedBulletins, runner.Now));
        await Policies.PolicyMaintenanceTriggers.AfterCatalogChangeAsync(runner, config, $"after {cause}", import: true, ct);
    }
}
