using Marten;
using Npgsql;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;

namespace Patch.Projections.Compliance;

/// <summary>
/// The catalog as the engine needs it: its updates, each bulletin's severity, and the vulnerabilities of products without a
/// KB. <c>Stamp</c>: when the catalog's facts last changed (<see cref="ReadModels.CatalogStamp"/>) (null for an empty
/// catalog); analyses derived from it are true from then.
/// </summary>
public sealed record LoadedCatalog(PreparedCatalog Updates, IReadOnlyDictionary<string, Severity> Severities, PreparedVulnerabilities Vulnerabilities, DateTimeOffset? Stamp);

/// <summary>
/// The catalog as the rule engine needs it, loaded once and dropped when an import changes it. A load that raced an
/// invalidation is not kept (generation check), so an old catalog never outlives the import that replaced it. Another
/// API node's import (ADR 0030) is seen by the catalog's stamp: a cached catalog is used only while the stamp it was
/// loaded with is still the database's.
/// </summary>
public sealed class CatalogCache(IDocumentStore store, NpgsqlDataSource db)
{
    private readonly object _gate = new();
    private LoadedCatalog? _catalog;
    private long _generation;

    public void Invalidate()
    {
        lock (_gate)
        {
            _generation++;
            _catalog = null;
        }
    }

    public async Task<LoadedCatalog> GetAsync(CancellationToken ct)
    {
        long generation;
        LoadedCatalog? cached;
        lock (_gate)
        {
            cached = _catalog;
            generation = _generation;
        }
        var current = await StampAsync(ct);
        if (cached is not null && cached.Stamp == current) return cached;
        var loaded = await LoadAsync(ct);
        lock (_gate)
        {
            // Kept only when nothing changed while it loaded: neither this node's invalidation nor another node's import.
            if (generation == _generation && loaded.Stamp == current) _catalog = loaded;
        }
        return loaded;
    }

    /// <summary>Always reads the store (the full analysis uses this, never a cached catalog).</summary>
    public async Task<LoadedCatalog> LoadAsync(CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var bulletins = await session.Query<Bulletin>().ToListAsync(ct);
        var vulnerabilities = await session.Query<Domain.Vulnerabilities.ProductVulnerability>().ToListAsync(ct);
        // Read after the documents: the stamp is never older than a fact the analysis used.
        var at = await StampAsync(ct);
        return new LoadedCatalog(new PreparedCatalog(bulletins.SelectMany(b => b.Updates.Select(u => new CatalogUpdate(b.Id, b.Facts.Number, u, b.Facts.Released))).ToList()),
            bulletins.ToDictionary(b => b.Id, b => b.Facts.Severity), new PreparedVulnerabilities(vulnerabilities.Select(v => v.Facts).ToList()), at);
    }

    private async Task<DateTimeOffset?> StampAsync(CancellationToken ct)
    {
        await using var stamp = db.CreateCommand($"select at from {ReadModels.Schema}.{ReadModels.CatalogStamp}");
        return await stamp.ExecuteScalarAsync(ct) is DateTime t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null;
    }
}
