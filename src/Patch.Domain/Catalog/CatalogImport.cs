using Patch.Domain.Settings;

namespace Patch.Domain.Catalog;

public enum BulletinImportKind { Added, Revised, Unchanged }

/// <summary>What importing one bulletin does to its stream.</summary>
/// <summary><c>UpdatesExcluded</c> counts the excluded updates among those added or revised; <c>Older</c>: the document predates the stream's facts.</summary>
public sealed record BulletinImportDecision(BulletinImportKind Kind, IReadOnlyList<object> Events, int UpdatesAdded, int UpdatesRevised, int UpdatesExcluded, bool Older = false);

public static class CatalogImport
{
    /// <summary>
    /// Compares what a vendor file says with what the stream already holds. Nothing new → no events, so importing
    /// the same content twice appends nothing. Updates that core settings exclude are kept, marked excluded.
    /// Updates are never removed by an import: a later document that omits one says nothing about it.
    /// </summary>
    public static BulletinImportDecision Decide(Bulletin? current, ImportedBulletin incoming, CoreSettings settings, string source)
    {
        var id = incoming.StreamId;
        var events = new List<object>();
        var updates = incoming.Updates.Select(u => u with { Excluded = settings.ExclusionReason(u) }).ToList();
        var excluded = updates.Count(u => u.Excluded is not null);

        if (current is null)
        {
            events.Add(new BulletinImported(id, incoming.Facts, source));
            events.AddRange(updates.Select(u => new SoftwareUpdateAdded(id, u, source)));
            return new BulletinImportDecision(BulletinImportKind.Added, events, updates.Count, 0, excluded);
        }

        // A document older than what the stream holds (its revised date is earlier) never rolls the bulletin back;
        // it may still add updates the stream has not seen.
        var older = incoming.Facts.Revised is { } incomingRevised && current.Facts.Revised is { } currentRevised && incomingRevised < currentRevised;
        // Microsoft's monthly documents each say part of what a KB fixes: merged. Another vendor's catalog says it whole:
        // the later-revised one replaces the facts (a release date is the earliest any gives).
        var (facts, factsSource) = Monthly(source) && Monthly(current.Source) ? Merge(current, incoming.Facts, source)
            : ((older ? current.Facts : incoming.Facts) with { Released = Earliest(current.Facts.Released, incoming.Facts.Released) }, source);
        var bulletinChanges = FactChanges.Between(current.Facts, facts);
        if (bulletinChanges.Count > 0) events.Add(new BulletinRevised(id, facts, bulletinChanges, factsSource));

        var known = current.Updates.ToDictionary(u => u.UpdateId, StringComparer.Ordinal);
        int added = 0, revised = 0;
        excluded = 0;
        foreach (var update in updates)
        {
            if (!known.TryGetValue(update.UpdateId, out var before))
            {
                events.Add(new SoftwareUpdateAdded(id, update, source));
                added++;
                if (update.Excluded is not null) excluded++;
                continue;
            }

            var changes = older ? [] : FactChanges.Between(before, update);
            if (changes.Count == 0) continue;
            events.Add(new SoftwareUpdateRevised(id, update, changes, source));
            revised++;
            if (update.Excluded is not null) excluded++;
        }

        var kind = events.Count == 0 ? BulletinImportKind.Unchanged : BulletinImportKind.Revised;
        return new BulletinImportDecision(kind, events, added, revised, excluded, older);
    }

    /// <summary>
    /// A bulletin as every document that names it says, whatever the order they come in. Microsoft lists one KB in several
    /// monthly documents (814 of the archive's KBs), each with the vulnerabilities it fixes that month — the month it was
    /// released names most, older documents revised later name it for one or two old ones: the bulletin fixes them all
    /// (union), its severity is the highest any gives, and its title, release date, description and link are those of the
    /// document that names it for the most vulnerabilities (a revision of the document they came from replaces them; on a
    /// tie the later-revised document's). Replacing them with the latest-revised document's lost a month's CVEs, known-exploited
    /// ones among them, and the earliest date any document gave put September 2024's cumulative update in 2020.
    /// </summary>
    /// <returns>The facts, and the document whose title and dates they carry (the bulletin's source from then on).</returns>
    public static (BulletinFacts Facts, string Source) Merge(Bulletin current, BulletinFacts incoming, string source)
    {
        var held = current.Facts;
        var older = incoming.Revised is { } a && held.Revised is { } b && a < b;
        // Compared with what the document behind the held title and dates names, not with the union: the order documents
        // come in then never decides which one that is (but on a tie, where the later-revised one does).
        var heldNames = held.NamedCves ?? held.Cves.Count;
        var fromIncoming = current.Source == source ? !older
            : incoming.Cves.Count > heldNames || (incoming.Cves.Count == heldNames && !older);
        var basis = fromIncoming ? incoming : held;
        return (basis with
        {
            NamedCves = fromIncoming ? incoming.Cves.Count : heldNames,
            Severity = (Severity)Math.Max((int)held.Severity, (int)incoming.Severity),
            Cves = Union(held.Cves, incoming.Cves),
            Supersedes = Union(held.Supersedes, incoming.Supersedes),
            SupersedesText = Union(held.SupersedesText, incoming.SupersedesText),
        }, fromIncoming ? source : current.Source);
    }

    /// <summary>A source that is one of the Security Update Guide's monthly documents (CVRF), each naming a KB for that month's vulnerabilities.</summary>
    private static bool Monthly(string source) => source.StartsWith("cvrf:", StringComparison.Ordinal);

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>What is held, in its order, then what is new: content that adds nothing changes nothing (no event).</summary>
    private static IReadOnlyList<string> Union(IReadOnlyList<string> held, IReadOnlyList<string> incoming) =>
        incoming.All(held.Contains) ? held : held.Concat(incoming.Where(i => !held.Contains(i)).Distinct(StringComparer.Ordinal)).ToList();
}
