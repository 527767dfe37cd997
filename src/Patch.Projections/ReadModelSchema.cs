using Marten;
using Npgsql;
using Patch.Projections.Compliance;
using Patch.Projections.Delivery;
using Patch.Projections.History;

namespace Patch.Projections;

/// <summary>
/// The one place the read models' schema is created and migrated, in order: Patch's own tables (compliance, delivery),
/// Marten's document tables, then the history of every versioned read model (ADR 0019), which needs both.
/// </summary>
public static class ReadModelSchema
{
    public static async Task EnsureAsync(NpgsqlDataSource db, IDocumentStore store, CancellationToken ct)
    {
        await ComplianceTables.EnsureAsync(db, ct);
        await DeliveryTables.EnsureAsync(db, ct);
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await ReadModelHistory.EnsureAsync(db, ct);
    }
}
