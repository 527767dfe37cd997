using Marten;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>
/// The data verification after each run: a random share of the replicated bulletins is compared with the parent's by
/// digest (facts and updates of this server's cultures); a bundle brings the parent's digests with it. What differs is recorded on the parent link (and counted in
/// the run); a Complete run brings it back to the parent's.
/// </summary>
public static class ReplicationVerification
{
    public static async Task<CatalogVerified> RunAsync(IDocumentStore store, ParentClient parent, TimeProvider time, Actor actor, string runId, int percent,
        IReadOnlyList<string> cultures, CancellationToken ct)
    {
        IReadOnlyList<string> sample;
        await using (var query = store.QuerySession())
        {
            var replicated = await query.QueryAsync<string>(
                $"select id from {PatchStore.Schema}.mt_doc_bulletin where data->>'source' like ?", ct, CatalogReplication.SourcePrefix + "%");
            sample = replicated.OrderBy(_ => Random.Shared.Next()).Take((int)Math.Ceiling(replicated.Count * percent / 100.0)).ToList();
        }
        var link = await ParentLinks.RequireAsync(store, ct);
        var digests = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var chunk in sample.Chunk(1000))
            foreach (var (id, digest) in (await parent.SendAsync<DigestAnswer>(link, HttpMethod.Post, "catalog/digests", new DigestRequest(chunk), ct)).Digests)
                digests[id] = digest;
        return await CompareAsync(store, time, actor, runId, digests, cultures, ct);
    }

    /// <summary>
    /// This server's digest of each bulletin the parent gave one for (online, or in a bundle), compared with the parent's;
    /// recorded on the parent link (the first thousand that differ) and returned whole.
    /// </summary>
    public static async Task<CatalogVerified> CompareAsync(IDocumentStore store, TimeProvider time, Actor actor, string runId, IReadOnlyDictionary<string, string?> parentDigests,
        IReadOnlyList<string> cultures, CancellationToken ct)
    {
        IReadOnlyList<Bulletin> bulletins;
        await using (var query = store.QuerySession())
            bulletins = parentDigests.Count == 0 ? [] : await query.LoadManyAsync<Bulletin>(ct, parentDigests.Keys.ToArray());
        var mine = bulletins.ToDictionary(b => b.Id, b => CatalogReplication.Digest(b.Facts, b.Updates, cultures));
        var mismatched = parentDigests.Where(d => mine.GetValueOrDefault(d.Key) != d.Value).Select(d => d.Key).Order(StringComparer.Ordinal).ToList();
        var verified = new CatalogVerified(runId, parentDigests.Count, mismatched.Take(1000).ToList(), time.GetUtcNow());
        await using var session = store.OpenSession(actor, runId);
        session.Events.Append(ParentLink.StreamId, verified);
        await session.SaveChangesAsync(ct);
        return verified with { Mismatched = mismatched };
    }
}
