using Marten;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>
/// The data verification after each run: a random share of the replicated bulletins is compared with the parent's by
/// digest (facts and updates of this server's cultures). What differs is recorded on the parent link (and counted in
/// the run); a Complete run brings it back to the parent's.
/// </summary>
public static class ReplicationVerification
{
    public static async Task<CatalogVerified> RunAsync(IDocumentStore store, ParentClient parent, TimeProvider time, Actor actor, string runId, int percent,
        IReadOnlyList<string> cultures, CancellationToken ct)
    {
        IReadOnlyList<Bulletin> sample;
        await using (var query = store.QuerySession())
        {
            var replicated = await query.QueryAsync<string>(
                $"select id from {PatchStore.Schema}.mt_doc_bulletin where data->>'source' like ?", ct, CatalogReplication.SourcePrefix + "%");
            var count = (int)Math.Ceiling(replicated.Count * percent / 100.0);
            var ids = replicated.OrderBy(_ => Random.Shared.Next()).Take(count).ToArray();
            sample = ids.Length == 0 ? [] : await query.LoadManyAsync<Bulletin>(ct, ids);
        }
        var mismatched = new List<string>();
        var link = await ParentLinks.RequireAsync(store, ct);
        foreach (var chunk in sample.Chunk(1000))
        {
            var answer = await parent.SendAsync<DigestAnswer>(link, HttpMethod.Post, "catalog/digests", new DigestRequest(chunk.Select(b => b.Id).ToList()), ct);
            mismatched.AddRange(chunk.Where(b => answer.Digests.GetValueOrDefault(b.Id) != CatalogReplication.Digest(b.Facts, b.Updates, cultures)).Select(b => b.Id));
        }
        mismatched.Sort(StringComparer.Ordinal);
        var verified = new CatalogVerified(runId, sample.Count, mismatched.Take(1000).ToList(), time.GetUtcNow());
        await using var session = store.OpenSession(actor, runId);
        session.Events.Append(ParentLink.StreamId, verified);
        await session.SaveChangesAsync(ct);
        return verified with { Mismatched = mismatched };
    }
}
