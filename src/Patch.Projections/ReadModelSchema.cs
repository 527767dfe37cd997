using Marten;
using Npgsql;
using Patch.Projections.Compliance;
using Patch.Projections.Delivery;
using Patch.Projections.History;

namespace Patch.Projections;

/// <summary>
/// The one place the read models' schema is created and migrated, in order: Marten's event and document tables, Patch's
/// own tables (compliance, delivery; their one-off fills read the documents), then the history of every versioned read
/// model (ADR 0019), which needs both.
/// </summary>
public static class ReadModelSchema
{
    /// <summary>
    /// Creates or migrates it all; a name bucket is cut to <paramref name="nameBucket"/> rows (<see cref="NameBuckets"/>),
    /// or, when not given, to the size the store keeps.
    /// </summary>
    public static async Task EnsureAsync(NpgsqlDataSource db, IDocumentStore store, CancellationToken ct, int? nameBucket = null)
    {
        // Two servers starting on one database take turns: functions and triggers are replaced by one at a time.
        await using var gate = await db.OpenConnectionAsync(ct);
        await using (var take = new NpgsqlCommand("select pg_advisory_lock(hashtext('patch.read_model_schema'))", gate)) await take.ExecuteNonQueryAsync(ct);
        try
        {
            await MigrateStoreAsync(db, store, ct);
            await Catalog.BulletinList.EnsureAsync(db, ct);
            await Computers.ComputerCounts.EnsureAsync(db, ct);
            var perComputer = await ComplianceTables.EnsureAsync(db, ct);
            var size = await NameBuckets.SizeAsync(db, nameBucket, ct);
            await NameBuckets.Members.EnsureAsync(db, size, ct);
            await NameBuckets.Computers.EnsureAsync(db, size, ct);
            await DeliveryTables.EnsureAsync(db, ct);
            await ReadModelHistory.EnsureAsync(db, ct);
            await NameBuckets.Members.EnsureHistoryIndexAsync(db, ct);
            await NameBuckets.Computers.EnsureHistoryIndexAsync(db, ct);
            await using (var views = db.CreateCommand(ComplianceTables.HistoryViewDdl)) await views.ExecuteNonQueryAsync(ct);
            // A store analysed per computer before shapes (ADR 0035): its compliance tables were dropped, rebuilt from the events once.
            if (perComputer) await new ComplianceRebuild(store, db).RunAsync(null, ct);
        }
        finally
        {
            await using var release = new NpgsqlCommand("select pg_advisory_unlock(hashtext('patch.read_model_schema'))", gate);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// Marten's own changes to its tables, without a command timeout: on a large store one can take minutes (a column of
    /// a million computer rows filled, a unique index over every event), where a request's 30 s would fail the start.
    /// Then Marten's own check, which finds nothing left to do. (Not Marten's apply at start: it runs before every other
    /// service, with the requests' timeout.)
    /// </summary>
    private static async Task MigrateStoreAsync(NpgsqlDataSource db, IDocumentStore store, CancellationToken ct)
    {
        await Computers.ComputerCounts.FillBeforeMartenAsync(db, ct);
        var migration = await store.Storage.Database.CreateMigrationAsync(ct);
        if (migration.Difference != Weasel.Core.SchemaPatchDifference.None)
        {
            var sql = new StringWriter();
            migration.WriteAllUpdates(sql, (store.Options as StoreOptions)?.Advanced.Migrator ?? new Weasel.Postgresql.PostgresqlMigrator(), JasperFx.AutoCreate.CreateOrUpdate);
            await using var cmd = db.CreateCommand(sql.ToString());
            cmd.CommandTimeout = 0;
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
    }
}
