using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Domain.Agents;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Computers;

namespace Patch.Application.Computers;

public sealed record ComputerUpdateRow(string BulletinId, string Bulletin, string Severity, string UpdateId, string Product, string State);

public sealed record ComputerCompliance(string ComputerId, string Name, DateTimeOffset? InventoryAt, int Applicable, int Installed, int Missing, int Superseded,
    IReadOnlyList<ComputerUpdateRow> Updates);

/// <summary>
/// One computer's updates: the rule engine run on its last inventory against the whole catalog, at read time. The
/// fleet-wide compliance reports (a projected computer × update table with counters) build on the same engine.
/// </summary>
public static class ComputerUpdates
{
    public static void MapComputerUpdates(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/computers/{name}/updates", async (string name, string? state, IQuerySession session, CancellationToken ct) =>
            {
                if (await session.LoadAsync<Computer>(Computer.StreamId(name), ct) is not { } computer) return Problems.NotFound($"No computer '{name}'.");
                if (!TryState(state, out var filter)) return Problems.Invalid("Invalid query", $"state: '{state}' is not one of {string.Join(", ", Enum.GetNames<UpdateState>())}");
                return Results.Ok(await ComputeAsync(session, computer, filter, ct));
            })
            .WithTags("Computers").WithName("GetComputerUpdates")
            .WithSummary("The applicable updates of one computer from its last inventory: Installed, Missing, Superseded (whole supersedence chain), with counts; filter with state=.")
            .Produces<ComputerCompliance>().ProducesProblem(400).ProducesProblem(404);

    public static bool TryState(string? text, out UpdateState? state)
    {
        state = null;
        if (text is null) return true;
        if (!Enum.TryParse<UpdateState>(text, true, out var parsed)) return false;
        state = parsed;
        return true;
    }

    public static async Task<ComputerCompliance> ComputeAsync(IQuerySession session, Computer computer, UpdateState? filter, CancellationToken ct)
    {
        if (computer.Inventory is not { } inventory) return new ComputerCompliance(computer.Id, computer.Name, null, 0, 0, 0, 0, []);
        var bulletins = await session.Query<Bulletin>().ToListAsync(ct);
        var catalog = bulletins.SelectMany(b => b.Updates.Select(u => new CatalogUpdate(b.Id, b.Facts.Number, u))).ToList();
        var severities = bulletins.ToDictionary(b => b.Id, b => b.Facts.Severity.ToString());
        var states = UpdateStates.For(catalog, InventoryFacts.Of(inventory));
        var applicable = states.Where(s => s.Value != UpdateState.NotApplicable).ToList();
        var rows = applicable.Where(s => filter is null || s.Value == filter)
            .OrderBy(s => s.Value).ThenBy(s => s.Key.BulletinNumber, StringComparer.Ordinal)
            .Select(s => new ComputerUpdateRow(s.Key.BulletinId, s.Key.BulletinNumber, severities[s.Key.BulletinId], s.Key.Update.UpdateId, s.Key.Update.Product, s.Value.ToString()))
            .ToList();
        return new ComputerCompliance(computer.Id, computer.Name, computer.LastInventoryAt, applicable.Count,
            applicable.Count(s => s.Value == UpdateState.Installed), applicable.Count(s => s.Value == UpdateState.Missing),
            applicable.Count(s => s.Value == UpdateState.Superseded), rows);
    }
}
