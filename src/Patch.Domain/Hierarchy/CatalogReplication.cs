using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Patch.Domain.Catalog;

namespace Patch.Domain.Hierarchy;

/// <summary>
/// How a child applies what its parent says about a bulletin (C10). The parent's facts are the truth: the child's
/// stream is brought to them with the same events an import appends (nothing when they already agree, so a page applied
/// twice appends nothing), never with the "older document" rule of an import, and with the parent's exclusions as they
/// are. Only updates of the child's cultures (and neutral ones) are applied.
/// </summary>
public static class CatalogReplication
{
    /// <summary>What replicated events say their source was: the parent's source, marked (a grandchild keeps one mark).</summary>
    public const string SourcePrefix = "parent:";

    public static string SourceOf(string parentSource) => parentSource.StartsWith(SourcePrefix, StringComparison.Ordinal) ? parentSource : SourcePrefix + parentSource;

    /// <summary>A bulletin that came from the parent is the parent's: read-only on the child.</summary>
    public static bool IsReplicated(Bulletin bulletin) => bulletin.Source.StartsWith(SourcePrefix, StringComparison.Ordinal);

    /// <summary>A product vulnerability or a known-exploited CVE the parent's word last changed: read-only on the child too.</summary>
    public static bool IsReplicated(string? source) => source?.StartsWith(SourcePrefix, StringComparison.Ordinal) == true;

    public static bool Wanted(UpdateFacts update, IReadOnlyCollection<string> cultures) => Wanted(update.Culture, cultures);

    /// <summary>An update of this culture is taken from the parent: neutral, or of a culture the child manages.</summary>
    public static bool Wanted(string culture, IReadOnlyCollection<string> cultures) =>
        string.Equals(culture, Settings.CoreSettings.Neutral, StringComparison.OrdinalIgnoreCase) || cultures.Contains(culture, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The events that bring <paramref name="current"/> to the parent's <paramref name="facts"/> (null: the page said
    /// nothing new about the bulletin itself) and <paramref name="updates"/>. A bulletin the child has never seen and
    /// the page gives no facts for cannot be applied: null (a gap the verification reports and a Complete run repairs).
    /// </summary>
    public static IReadOnlyList<object>? Decide(Bulletin? current, string streamId, BulletinFacts? facts, IEnumerable<UpdateFacts> updates,
        IReadOnlyCollection<string> cultures, string source)
    {
        if (current is null && facts is null) return null;
        var events = new List<object>();
        if (current is null) events.Add(new BulletinImported(streamId, facts!, source));
        else if (facts is not null && FactChanges.Between(current.Facts, facts) is { Count: > 0 } changes) events.Add(new BulletinRevised(streamId, facts, changes, source));
        var known = current?.Updates.ToDictionary(u => u.UpdateId, StringComparer.Ordinal) ?? new Dictionary<string, UpdateFacts>(StringComparer.Ordinal);
        foreach (var update in updates.Where(u => Wanted(u, cultures)))
        {
            if (!known.TryGetValue(update.UpdateId, out var before)) events.Add(new SoftwareUpdateAdded(streamId, update, source));
            else if (FactChanges.Between(before, update) is { Count: > 0 } changed) events.Add(new SoftwareUpdateRevised(streamId, update, changed, source));
            known[update.UpdateId] = update;
        }
        return events;
    }

    private static readonly JsonSerializerOptions Canonical = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    /// <summary>
    /// The data verification's digest of a bulletin: its facts and its updates of these cultures, in update id order
    /// (SHA-256 of their JSON). Parent and child compute it with this same code; where it came from (the source) is not part of it.
    /// </summary>
    public static string Digest(BulletinFacts facts, IEnumerable<UpdateFacts> updates, IReadOnlyCollection<string> cultures)
    {
        var wanted = updates.Where(u => Wanted(u, cultures)).OrderBy(u => u.UpdateId, StringComparer.Ordinal).ToList();
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { facts, updates = wanted }, Canonical))));
    }
}
