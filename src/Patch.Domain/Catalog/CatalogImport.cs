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
        // it may still add updates the stream has not seen. The release date is the earliest any document gives (a KB
        // listed again in a later month was still released first): release order then never depends on import order.
        var older = incoming.Facts.Revised is { } incomingRevised && current.Facts.Revised is { } currentRevised && incomingRevised < currentRevised;
        var released = Earliest(current.Facts.Released, incoming.Facts.Released);
        var facts = (older ? current.Facts : incoming.Facts) with { Released = released };
        var bulletinChanges = FactChanges.Between(current.Facts, facts);
        if (bulletinChanges.Count > 0) events.Add(new BulletinRevised(id, facts, bulletinChanges, source));

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

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;
}
