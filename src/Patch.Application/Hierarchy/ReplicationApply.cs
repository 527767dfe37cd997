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

    /// <summary>The bulletins the analysis after the change must look at; null (every computer) when product vulnerabilities changed.</summary>
    public IReadOnlyList<string>? Changed => VulnerabilitiesChanged ? null : ChangedBulletins.Distinct().ToList();
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
        await KnownExploitedAsync(session, kev.Select(p => (p.Key, p.Value)).ToList(), tally, ct);
        await ProductsAsync(session, products.Select(p => (p.Key, p.Value.Facts, p.Value.Source)).ToList(), tally, ct);
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
                await KnownExploitedAsync(session, streams.Select(s => (s.Id, s.State.Deserialize<KnownExploitedFacts>(ReplicationProtocol.Json)!)).ToList(), tally, ct);
                break;
            default:
                await ProductsAsync(session, streams.Select(s => (s.Id, s.State.Deserialize<ProductVulnerabilityFacts>(ReplicationProtocol.Json)!, s.Source)).ToList(), tally, ct);
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

    /// <summary>Known-exploited CVEs brought to the parent's facts; their streams fetched in batches, not one query each.</summary>
    private static async Task KnownExploitedAsync(IDocumentSession session, IReadOnlyList<(string Id, KnownExploitedFacts Facts)> incoming, ApplyTally tally, CancellationToken ct)
    {
        if (incoming.Count == 0) return;
        var streams = await session.FetchManyForWritingAsync<KnownExploitedVulnerability>(incoming.Select(i => i.Id), ct);
        foreach (var (id, facts) in incoming)
        {
            var decided = KnownExploitedVulnerability.Decide(streams[id].Aggregate, facts, CatalogReplication.SourceOf("kev"));
            if (decided.Count == 0) continue;
            streams[id].AppendMany(decided);
            tally.Applied++;
        }
    }

    private static async Task ProductsAsync(IDocumentSession session, IReadOnlyList<(string Id, ProductVulnerabilityFacts Facts, string Source)> incoming, ApplyTally tally,
        CancellationToken ct)
    {
        if (incoming.Count == 0) return;
        var streams = await session.FetchManyForWritingAsync<ProductVulnerability>(incoming.Select(i => i.Id), ct);
        foreach (var (id, facts, source) in incoming)
        {
            var decided = ProductVulnerability.Decide(streams[id].Aggregate, facts, CatalogReplication.SourceOf(source));
            if (decided.Count == 0) continue;
            streams[id].AppendMany(decided);
            tally.Applied++;
            tally.VulnerabilitiesChanged = true;
        }
    }
}
