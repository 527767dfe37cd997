using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Application.Compliance;
using Patch.Domain.Catalog;
using Patch.Domain.Computers;
using Patch.Projections;

namespace Patch.Application.Computers;

public sealed record ComputerUpdateRow(string BulletinId, string Bulletin, string Severity, string UpdateId, string Product, string Family, string State);

/// <summary>One Microsoft product of a computer: its family, version and where it was read (or that it was inferred from the OS build).</summary>
public sealed record ComputerProduct(string Family, string FamilyName, string Name, string? Version, string Source, bool Inferred, string? Architecture, string? Detail);

public sealed record ComputerCompliance(string ComputerId, string Name, DateTimeOffset? InventoryAt, int Applicable, int Installed, int Missing, int Superseded,
    IReadOnlyList<ComputerUpdateRow> Updates);

/// <summary>One computer's applicable updates as the vulnerability analysis stored them (the same rows the reports count).</summary>
public static class ComputerUpdates
{
    private static readonly string[] States = ["Installed", "Missing", "Superseded"];

    public static void MapComputerUpdates(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/computers/{name}/products", async (string name, HttpContext http, IQuerySession session, CancellationToken ct) =>
                await Historical.LoadAsync<Computer>(session, Computer.StreamId(name), AsOf.Of(http), ct) is { } computer ? Results.Ok(Products(computer)) : Problems.NotFound($"No computer '{name}'", AsOf.Of(http)))
            .WithTags("Computers").ForAuditor().WithAsOf().WithName("GetComputerProducts")
            .WithSummary("The Microsoft products of one computer from its last inventory: family, version, where each was read (registry key) or that it was inferred from the OS build.")
            .Produces<IReadOnlyList<ComputerProduct>>().ProducesProblem(404);

        app.MapGet("/api/computers/{name}/updates", async (string name, string? state, HttpContext http, IQuerySession session, NpgsqlDataSource db, CancellationToken ct) =>
            {
                var asOf = AsOf.Of(http);
                if (await Historical.LoadAsync<Computer>(session, Computer.StreamId(name), asOf, ct) is not { } computer) return Problems.NotFound($"No computer '{name}'", asOf);
                if (!TryState(state, out var filter)) return Problems.Invalid("Invalid query", $"state: '{state}' is not one of {string.Join(", ", States)}");
                return Results.Ok(await ComputeAsync(db, computer, filter, ct, asOf));
            })
            .WithTags("Computers").ForAuditor().WithAsOf().WithName("GetComputerUpdates")
            .WithSummary("The applicable updates of one computer from its last inventory: Installed, Missing, Superseded (whole supersedence chain), with counts; filter with state=; asOf for how they stood then.")
            .Produces<ComputerCompliance>().ProducesProblem(400).ProducesProblem(404);
    }

    public static IReadOnlyList<ComputerProduct> Products(Computer computer) => computer.Inventory is not { } inventory ? []
        : Domain.Agents.InventoryFacts.Products(inventory)
            .Select(p => new ComputerProduct(p.Family, Domain.Inventory.Products.ProductFamilies.Get(p.Family).DisplayName, p.Name, p.Version, p.Source, p.Inferred, p.Architecture, p.Detail))
            .OrderBy(p => p.FamilyName, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal).ToList();

    public static bool TryState(string? text, out short? state)
    {
        state = null;
        if (text is null) return true;
        var index = Array.FindIndex(States, s => string.Equals(s, text, StringComparison.OrdinalIgnoreCase));
        if (index < 0) return false;
        state = (short)(index + 1);
        return true;
    }

    public static async Task<ComputerCompliance> ComputeAsync(NpgsqlDataSource db, Computer computer, short? filter, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var rows = new List<ComputerUpdateRow>();
        await using var cmd = db.CreateCommand($"""
            select s.bulletin_id, r.data->>'number', (r.data->>'severityRank')::int, s.update_id, s.product, s.family, s.state
            from {ReadSql.At(ReadModels.ComplianceState, asOf)} s join {ReadSql.At(PatchProjections.BulletinRowTable, asOf)} r on r.id = s.bulletin_id
            where s.computer_id = @c order by s.state, r.data->>'number', s.update_id
            """);
        cmd.Parameters.AddWithValue("c", computer.Id);
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
                rows.Add(new ComputerUpdateRow(reader.GetString(0), reader.GetString(1), ((Severity)reader.GetInt32(2)).ToString(), reader.GetString(3), reader.GetString(4),
                    reader.GetString(5), States[reader.GetInt16(6) - 1]));
        }
        return new ComputerCompliance(computer.Id, computer.Name, computer.LastInventoryAt, rows.Count,
            rows.Count(r => r.State == "Installed"), rows.Count(r => r.State == "Missing"), rows.Count(r => r.State == "Superseded"),
            filter is null ? rows : rows.Where(r => r.State == States[filter.Value - 1]).ToList());
    }
}
