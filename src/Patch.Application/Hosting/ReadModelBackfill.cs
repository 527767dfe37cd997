using JasperFx.Events.Daemon;
using Marten;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Patch.Application.Common;
using Patch.Projections;
using Patch.Projections.Computers;

namespace Patch.Application.Hosting;

/// <summary>
/// A read model added (or given a new field) in a later version starts empty on a store that already has events: at
/// start, when the computer list rows are fewer than the computers, or a bulletin row lacks its update families, they
/// are rebuilt from the event log (the same projection code that keeps them current).
/// </summary>
public sealed class ReadModelBackfill(IDocumentStore store, NpgsqlDataSource db, ILogger<ReadModelBackfill> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            select (select count(*) from {PatchStore.Schema}.mt_doc_computer), (select count(*) from {PatchStore.Schema}.{PatchProjections.ComputerRowTable})
            """);
        long computers, rows;
        try
        {
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            (computers, rows) = (reader.GetInt64(0), reader.GetInt64(1));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return;
        }
        await using (var families = db.CreateCommand($"select exists (select 1 from {PatchStore.Schema}.{PatchProjections.BulletinRowTable} where not data ? 'updateFamilies')"))
        {
            if ((bool)(await families.ExecuteScalarAsync(ct))!)
            {
                logger.LogWarning("Bulletin rows lack their product families: rebuilding them from the event log");
                using var daemon = await store.BuildProjectionDaemonAsync();
                await daemon.RebuildProjectionAsync<Patch.Projections.Catalog.BulletinRow>(ct);
            }
        }
        if (rows >= computers) return;
        logger.LogWarning("The computer list holds {Rows} of {Computers} computers: rebuilding it from the event log", rows, computers);
        using (var daemon = await store.BuildProjectionDaemonAsync()) await daemon.RebuildProjectionAsync<ComputerRow>(ct);
        logger.LogInformation("The computer list was rebuilt");
    }
}
