using System.Text.Json;
using Marten;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.Hierarchy;
using Patch.Domain.Vulnerabilities;

namespace Patch.Application.Hierarchy;

/// <summary>What applying a page did: streams whose events were appended, records that could not be applied, event types this server does not know.</summary>
public sealed class ApplyTally
{
    public int Applied;
    public int Skipped;
    public readonly List<string> Unknown = [];
    public readonly List<string> ChangedBulletins = [];
    public bool VulnerabilitiesChanged;
}

/// <summary>
/// Brings the child's catalog streams to what the parent says, in one session (the caller's page transaction): a
/// bulletin to its facts and updates (<see cref="CatalogReplication"/>), a known-exploited CVE or a product
/// vulnerability to its facts, with the same decisions their imports use. Nothing is appended where the child already agrees.
/// </summary>
public static class ReplicationApply
{
    /// <summary>A page of the parent's events, folded per stream (the last word on each record wins) and applied.</summary>
    public static async Task EventsAsync(IDocumentSession session, IReadOnlyList<FeedEvent> events, IReadOnlyCollection<string> cultures, ApplyTally tally, CancellationToken ct)
    {
        var bulletins = new Dictionary<string, (BulletinFacts? Facts, Dictionary<string, UpdateFacts> Updates, string Source)>();
        var kev = new Dictionary<string, KnownExploitedFacts>();
        var products = new Dictionary<string, (ProductVulnerabilityFacts Facts, string Source)>();
        foreach (var e in events)
        {
            if (!ReplicationProtocol.EventTypes.TryGetValue(e.Type, out var type))
            {
                tally.Skipped++;
                if (!tally.Unknown.Contains(e.Type)) tally.Unknown.Add(e.Type);
                continue;
            }
            var data = e.Data.Deserialize(type, ReplicationProtocol.Json);
            var b = bulletins.GetValueOrDefault(e.Stream, (null, new Dictionary<string, UpdateFacts>(StringComparer.Ordinal), ""));
            switch (data)
            {
                case BulletinImported x: bulletins[e.Stream] = (x.Facts, b.Updates, x.Source); break;
                case BulletinRevised x: bulletins[e.Stream] = (x.Facts, b.Updates, x.Source); break;
                case SoftwareUpdateAdded x: b.Updates[x.Update.UpdateId] = x.Update; bulletins[e.Stream] = (b.Facts, b.Updates, b.Source.Length > 0 ? b.Source : x.Source); break;
                case SoftwareUpdateRevised x: b.Updates[x.Update.UpdateId] = x.Update; bulletins[e.Stream] = (b.Facts, b.Updates, b.Source.Length > 0 ? b.Source : x.Source); break;
                case KnownExploitedVulnerabilityListed x: kev[e.Stream] = x.Facts; break;
                case KnownExploitedVulnerabilityRevised x: kev[e.Stream] = x.Facts; break;
                case ProductVulnerabilityPublished x: products[e.Stream] = (x.Facts, x.Source); break;
                case ProductVulnerabilityRevised x: products[e.Stream] = (x.Facts, x.Source); break;
            }
        }
        await BulletinsAsync(session, bulletins.Select(p => (p.Key, p.Value.Facts, (IEnumerable<UpdateFacts>)p.Value.Updates.Values, p.Value.Source)).ToList(), cultures, tally, ct);
        foreach (var (id, facts) in kev) await KnownExploitedAsync(session, id, facts, tally, ct);
        foreach (var (id, (facts, source)) in products) await ProductAsync(session, id, facts, source, tally, ct);
    }

    /// <summary>A Complete run's page: each stream's whole state.</summary>
    public static async Task SnapshotAsync(IDocumentSession session, string kind, IReadOnlyList<SnapshotStream> streams, IReadOnlyCollection<string> cultures, ApplyTally tally,
        CancellationToken ct)
    {
        switch (kind)
        {
            case "bulletin":
                await BulletinsAsync(session, streams.Select(s =>
                {
                    var state = s.State.Deserialize<BulletinState>(ReplicationProtocol.Json)!;
                    return (s.Id, (BulletinFacts?)state.Facts, (IEnumerable<UpdateFacts>)state.Updates, s.Source);
                }).ToList(), cultures, tally, ct);
                break;
            case "known-exploited":
                foreach (var s in streams) await KnownExploitedAsync(session, s.Id, s.State.Deserialize<KnownExploitedFacts>(ReplicationProtocol.Json)!, tally, ct);
                break;
            default:
                foreach (var s in streams) await ProductAsync(session, s.Id, s.State.Deserialize<ProductVulnerabilityFacts>(ReplicationProtocol.Json)!, s.Source, tally, ct);
                break;
        }
    }

    private sealed record BulletinState(BulletinFacts Facts, IReadOnlyList<UpdateFacts> Updates);

    private static async Task BulletinsAsync(IDocumentSession session, IReadOnlyList<(string Id, BulletinFacts? Facts, IEnumerable<UpdateFacts> Updates, string Source)> incoming,
        IReadOnlyCollection<string> cultures, ApplyTally tally, CancellationToken ct)
    {
        if (incoming.Count == 0) return;
        var streams = await session.FetchManyForWritingAsync<Bulletin>(incoming.Select(i => i.Id), ct);
        foreach (var (id, facts, updates, source) in incoming)
        {
            var stream = streams[id];
            var decided = CatalogReplication.Decide(stream.Aggregate, id, facts, updates, cultures, CatalogReplication.SourceOf(source));
            if (decided is null) { tally.Skipped++; continue; }
            if (decided.Count == 0) continue;
            stream.AppendMany(decided);
            tally.Applied++;
            tally.ChangedBulletins.Add(id);
        }
    }

    private static async Task KnownExploitedAsync(IDocumentSession session, string id, KnownExploitedFacts facts, ApplyTally tally, CancellationToken ct)
    {
        var stream = await session.Events.FetchForWriting<KnownExploitedVulnerability>(id, ct);
        var decided = KnownExploitedVulnerability.Decide(stream.Aggregate, facts, CatalogReplication.SourceOf("kev"));
        if (decided.Count == 0) return;
        stream.AppendMany(decided);
        tally.Applied++;
    }

    private static async Task ProductAsync(IDocumentSession session, string id, ProductVulnerabilityFacts facts, string source, ApplyTally tally, CancellationToken ct)
    {
        var stream = await session.Events.FetchForWriting<ProductVulnerability>(id, ct);
        var decided = ProductVulnerability.Decide(stream.Aggregate, facts, CatalogReplication.SourceOf(source));
        if (decided.Count == 0) return;
        stream.AppendMany(decided);
        tally.Applied++;
        tally.VulnerabilitiesChanged = true;
    }
}
