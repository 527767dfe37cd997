using Marten;
using Marten.Events;
using Npgsql;
using Patch.Domain.Catalog;
using Patch.Domain.Computers;
using Patch.Domain.Vulnerabilities;
using Patch.Projections.History;

namespace Patch.Projections.Compliance;

/// <summary>
/// The compliance read model and its history rebuilt from the event log, never from current documents: the catalog's
/// facts and every computer's events are folded in their global order; each inventory is analysed as of its own event
/// and each catalog change re-analyses the fleet as of the import that made it — through the same deduction
/// (<see cref="VulnerabilityAnalysis.Analyse"/>) and the same writes (<see cref="ComplianceWriter"/>) the live analysis
/// uses, so the rebuilt tables and versions are the ones kept live. Runs in one transaction under the analysis lock:
/// reports read the previous rows until it commits; agents' inventories wait.
/// </summary>
public sealed class ComplianceRebuild(IDocumentStore store, NpgsqlDataSource db)
{
    private const int Page = 5000;

    /// <summary>The catalog events that change what the analysis sees.</summary>
    public static readonly Type[] CatalogFacts =
        [typeof(BulletinImported), typeof(BulletinRevised), typeof(SoftwareUpdateAdded), typeof(SoftwareUpdateRevised), typeof(ProductVulnerabilityPublished), typeof(ProductVulnerabilityRevised)];

    private static readonly Type[] ComputerEvents =
    [
        typeof(ComputerDiscovered), typeof(ComputerDetailsChanged), typeof(AgentEnrolled), typeof(AgentCredentialRotated), typeof(AgentRevoked),
        typeof(AgentReset), typeof(InventoryReported), typeof(InventoryConfirmed),
    ];

    public sealed record Result(long Events, int Computers, int Analyses, int FleetAnalyses);

    public async Task<Result> RunAsync(IProgress<(long Done, long Total)>? progress, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var s = ReadModels.Schema;
        var tables = ComplianceTables.Tables;
        await using (var clear = new NpgsqlCommand($"""
            select pg_advisory_xact_lock({VulnerabilityAnalysis.CountersLock});
            delete from {s}.{ReadModels.CatalogStamp};
            {string.Concat(tables.Select(t => $"delete from {s}.{t}; {ReadModelHistory.TruncateSql(t)};"))}
            """, conn, tx) { CommandTimeout = 0 })
            await clear.ExecuteNonQueryAsync(ct);

        var types = CatalogFacts.Concat(ComputerEvents).ToArray();
        await using var session = store.QuerySession();
        long total = await session.Events.QueryAllRawEvents().Where(e => e.EventTypesAre(types)).CountAsync(ct);
        var bulletins = new Dictionary<string, Bulletin>();
        var vulnerabilities = new Dictionary<string, ProductVulnerability>();
        var computers = new Dictionary<string, (Computer Computer, DateTimeOffset At)>();
        LoadedCatalog? catalog = null;
        DateTimeOffset? catalogChanged = null;
        var fleetPending = false;
        var batch = new List<ComputerAnalysis>();
        var batchInventories = new List<Domain.Agents.AgentInventory?>();
        DateTimeOffset batchAt = default;
        // Each member's shape, and one inventory of each shape (the live fleet analysis reads a member's document for it).
        var shapeOf = new Dictionary<string, string>(StringComparer.Ordinal);
        var inventoryOf = new Dictionary<string, Domain.Agents.AgentInventory?>(StringComparer.Ordinal);
        var serializer = store.Options.Serializer();
        int analyses = 0, fleet = 0;
        long done = 0, after = 0;

        async Task FlushBatchAsync()
        {
            if (batch.Count == 0) return;
            // The shape is the digest of the inventory's JSON as the computer's document holds it (jsonb's own text).
            await using (var digest = new NpgsqlCommand("select coalesce(md5(j::jsonb::text), '') from unnest(@j::text[]) with ordinality as t(j, n) order by n", conn, tx))
            {
                digest.Parameters.Add(new NpgsqlParameter("j", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text)
                    { Value = batchInventories.Select(i => i is null ? DBNull.Value : (object)serializer.ToJson(i)).ToArray() });
                await using var reader = await digest.ExecuteReaderAsync(ct);
                for (var i = 0; await reader.ReadAsync(ct); i++) batch[i] = batch[i] with { Shape = reader.GetString(0) };
            }
            for (var i = 0; i < batch.Count; i++)
            {
                shapeOf[batch[i].Id] = batch[i].Shape;
                inventoryOf.TryAdd(batch[i].Shape, batchInventories[i]);
            }
            await ComplianceWriter.WriteAsync(conn, tx, batch, batchAt, ct);
            analyses += batch.Count;
            batch.Clear();
            batchInventories.Clear();
        }

        async Task AnalyseFleetAsync()
        {
            await FlushBatchAsync();
            catalog = Catalog(bulletins, vulnerabilities, catalogChanged);
            await using (var mark = new NpgsqlCommand($"insert into {s}.{ReadModels.CatalogStamp} (id, at) values (1, @at) on conflict (id) do update set at = excluded.at", conn, tx))
            {
                mark.Parameters.AddWithValue("at", catalogChanged!.Value);
                await mark.ExecuteNonQueryAsync(ct);
            }
            // As live: computers without an inventory leave, and each shape of the others is decided again.
            var gone = shapeOf.Keys.Where(id => computers[id].Computer.Inventory is null).ToList();
            foreach (var id in gone) shapeOf.Remove(id);
            var shapes = shapeOf.Values.Distinct(StringComparer.Ordinal).ToList();
            var all = VulnerabilityAnalysis.DecideShapes(shapes, k => inventoryOf[shapes[k]], catalog, ct);
            await ComplianceWriter.WriteShapesAsync(conn, tx, all, catalogChanged, gone, ct);
            fleet++;
            fleetPending = false;
        }

        while (true)
        {
            var page = await session.Events.QueryAllRawEvents().Where(e => e.Sequence > after && e.EventTypesAre(types)).OrderBy(e => e.Sequence).Take(Page).ToListAsync(ct);
            if (page.Count == 0) break;
            foreach (var e in page)
            {
                after = e.Sequence;
                done++;
                if (e.Data is BulletinImported or BulletinRevised or SoftwareUpdateAdded or SoftwareUpdateRevised or ProductVulnerabilityPublished or ProductVulnerabilityRevised)
                {
                    Fold(bulletins, vulnerabilities, e.StreamKey!, e.Data);
                    catalogChanged = e.Timestamp;
                    fleetPending = true;
                    continue;
                }
                // The live server re-analyses the fleet right after an import changed the catalog: before any later computer event.
                if (fleetPending) await AnalyseFleetAsync();
                var id = e.StreamKey!;
                var current = computers.TryGetValue(id, out var c) ? c.Computer : null;
                var folded = FoldComputer(current, e.Data);
                if (folded is null) continue;
                computers[id] = (folded, e.Timestamp);
                if (e.Data is not (InventoryReported or InventoryConfirmed)) continue;
                catalog ??= Catalog(bulletins, vulnerabilities, catalogChanged);
                var analysis = VulnerabilityAnalysis.Analyse(id, folded.Name, folded.Inventory, catalog, e.Timestamp);
                if (batch.Count > 0 && (analysis.At != batchAt || batch.Any(b => b.Id == id) || batch.Count >= 1000)) await FlushBatchAsync();
                batchAt = analysis.At;
                batch.Add(analysis);
                batchInventories.Add(folded.Inventory);
            }
            progress?.Report((done, total));
        }
        await FlushBatchAsync();
        if (fleetPending) await AnalyseFleetAsync();
        await tx.CommitAsync(ct);
        progress?.Report((done, total));
        return new Result(done, computers.Count, analyses, fleet);
    }

    private static LoadedCatalog Catalog(Dictionary<string, Bulletin> bulletins, Dictionary<string, ProductVulnerability> vulnerabilities, DateTimeOffset? stamp) =>
        new(new Domain.Applicability.PreparedCatalog(bulletins.Values.SelectMany(b => b.Updates.Select(u => new Domain.Applicability.CatalogUpdate(b.Id, b.Facts.Number, u, b.Facts.Released))).ToList()),
            bulletins.ToDictionary(b => b.Key, b => b.Value.Facts.Severity),
            new Domain.Applicability.PreparedVulnerabilities(vulnerabilities.Values.Select(v => v.Facts).ToList()), stamp);

    private static void Fold(Dictionary<string, Bulletin> bulletins, Dictionary<string, ProductVulnerability> vulnerabilities, string stream, object data)
    {
        switch (data)
        {
            case BulletinImported e: bulletins[stream] = Bulletin.Create(e); break;
            case BulletinRevised e when bulletins.TryGetValue(stream, out var b): bulletins[stream] = Bulletin.Apply(e, b); break;
            case SoftwareUpdateAdded e when bulletins.TryGetValue(stream, out var b): bulletins[stream] = Bulletin.Apply(e, b); break;
            case SoftwareUpdateRevised e when bulletins.TryGetValue(stream, out var b): bulletins[stream] = Bulletin.Apply(e, b); break;
            case ProductVulnerabilityPublished e: vulnerabilities[stream] = ProductVulnerability.Create(e); break;
            case ProductVulnerabilityRevised e when vulnerabilities.TryGetValue(stream, out var v): vulnerabilities[stream] = ProductVulnerability.Apply(e, v); break;
        }
    }

    private static Computer? FoldComputer(Computer? c, object data) => (c, data) switch
    {
        (_, ComputerDiscovered e) => Computer.Create(e),
        (null, _) => null,
        (_, ComputerDetailsChanged e) => Computer.Apply(e, c),
        (_, AgentEnrolled e) => Computer.Apply(e, c),
        (_, AgentCredentialRotated e) => Computer.Apply(e, c),
        (_, AgentRevoked e) => Computer.Apply(e, c),
        (_, AgentReset e) => Computer.Apply(e, c),
        (_, InventoryReported e) => Computer.Apply(e, c),
        (_, InventoryConfirmed e) => Computer.Apply(e, c),
        _ => c,
    };
}
