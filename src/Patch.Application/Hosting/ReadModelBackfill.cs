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
/// A read model added in a later version starts empty on a store that already has events: at start, when the
/// computer list rows are fewer than the computers, they are rebuilt from the event log (the same projection code that
/// keeps them current).
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
        if (rows >= computers) return;
        logger.LogWarning("The computer list holds {Rows} of {Computers} computers: rebuilding it from the event log", rows, computers);
        using var daemon = await store.BuildProjectionDaemonAsync();
        await daemon.RebuildProjectionAsync<ComputerRow>(ct);
        logger.LogInformation("The computer list was rebuilt");
    }
}
