using Patch.Domain.Catalog;
using Patch.Domain.Settings;

namespace Patch.Domain.Applicability;

public enum UpdateState { NotApplicable, Installed, Missing, Superseded }

/// <summary>One update of the catalog as the engine sees it: with the number of the bulletin that ships it.</summary>
public sealed record CatalogUpdate(string BulletinId, string BulletinNumber, UpdateFacts Update);

/// <summary>
/// Vulnerability analysis for one computer: which updates apply, which are installed, and which are superseded.
/// An update is applicable when the computer has its software release (and culture) and its applicability rule holds;
/// installed when its KB is in the inventory, the OS is at or past its fixed build, or its installed rule holds.
/// Supersedence follows the whole chain: an applicable update that a later applicable update (of any depth) supersedes,
/// or that a cumulative update of the same release with a later fixed build contains, is
/// <see cref="UpdateState.Superseded"/>, never missing.
/// </summary>
public static class UpdateStates
{
    public static bool IsApplicable(UpdateFacts u, ComputerFacts facts) =>
        u.Excluded is null
        && facts.SoftwareReleases.Contains(u.Product, StringComparer.OrdinalIgnoreCase)
        && (string.Equals(u.Culture, CoreSettings.Neutral, StringComparison.OrdinalIgnoreCase) || facts.Cultures.Contains(u.Culture, StringComparer.OrdinalIgnoreCase))
        && (u.ApplicabilityRule is null || RuleEngine.Evaluate(u.ApplicabilityRule, facts));

    public static bool IsInstalled(CatalogUpdate c, ComputerFacts facts) =>
        facts.HasKb(c.Update.InstalledAs(c.BulletinNumber))
        || (c.Update.FixedBuild is { } fixedBuild && RuleEngine.Compare(facts, fixedBuild) is >= 0)
        || (c.Update.InstalledRule is { } rule && RuleEngine.Evaluate(rule, facts));

    public static IReadOnlyDictionary<CatalogUpdate, UpdateState> For(IReadOnlyList<CatalogUpdate> catalog, ComputerFacts facts) =>
        For(new PreparedCatalog(catalog), facts);

    /// <summary>The states of every update of the catalog for one computer.</summary>
    public static IReadOnlyDictionary<CatalogUpdate, UpdateState> For(PreparedCatalog catalog, ComputerFacts facts)
    {
        var states = new Dictionary<CatalogUpdate, UpdateState>(catalog.Updates.Count);
        foreach (var c in catalog.Updates) states[c] = UpdateState.NotApplicable;
        foreach (var (c, state) in Applicable(catalog, facts)) states[c] = state;
        return states;
    }

    /// <summary>Only the updates that apply to the computer, with their state: what the compliance tables store.</summary>
    public static IEnumerable<(CatalogUpdate Update, UpdateState State)> Applicable(PreparedCatalog catalog, ComputerFacts facts)
    {
        // Only updates of the computer's software releases can apply: look those up instead of scanning the catalog.
        var applicable = facts.SoftwareReleases.SelectMany(catalog.OfRelease).Where(c => IsApplicable(c.Update, facts)).ToHashSet();
        foreach (var c in applicable)
        {
            var state = IsInstalled(c, facts) ? UpdateState.Installed
                : SupersededByApplicable(c, catalog.SupersedersOf, applicable) || SupersededByLaterBuild(c, applicable) ? UpdateState.Superseded
                : UpdateState.Missing;
            yield return (c, state);
        }
    }

    /// <summary>
    /// Cumulative OS updates of one release supersede each other by build even when the months between were never
    /// imported: an applicable update of the same release whose fixed build is later (same major.minor.build, higher
    /// revision) contains this one.
    /// </summary>
    private static bool SupersededByLaterBuild(CatalogUpdate update, HashSet<CatalogUpdate> applicable)
    {
        if (!Version.TryParse(update.Update.FixedBuild, out var mine) || mine.Revision < 0) return false;
        return applicable.Any(s => s != update
            && string.Equals(s.Update.Product, update.Update.Product, StringComparison.OrdinalIgnoreCase)
            && Version.TryParse(s.Update.FixedBuild, out var theirs) && theirs.Revision >= 0
            && theirs.Major == mine.Major && theirs.Minor == mine.Minor && theirs.Build == mine.Build && theirs > mine);
    }

    private static bool SupersededByApplicable(CatalogUpdate update, ILookup<(string, string), CatalogUpdate> supersedersOf, HashSet<CatalogUpdate> applicable)
    {
        var product = update.Update.Product.ToUpperInvariant();
        var seen = new HashSet<string> { update.BulletinNumber.ToUpperInvariant() };
        var queue = new Queue<string>(seen);
        while (queue.TryDequeue(out var number))
        {
            foreach (var superseder in supersedersOf[(product, number)])
            {
                if (superseder != update && applicable.Contains(superseder)) return true;
                if (seen.Add(superseder.BulletinNumber.ToUpperInvariant())) queue.Enqueue(superseder.BulletinNumber.ToUpperInvariant());
            }
        }
        return false;
    }
}

/// <summary>
/// A catalog indexed once for many computers: updates by software release, and per release who supersedes each
/// bulletin number. The chain runs through updates that do not apply to a computer too (KB3 supersedes KB2
/// supersedes KB1 makes KB1 superseded by KB3).
/// </summary>
public sealed class PreparedCatalog
{
    private readonly ILookup<string, CatalogUpdate> _byRelease;

    public PreparedCatalog(IReadOnlyList<CatalogUpdate> updates)
    {
        Updates = updates;
        _byRelease = updates.ToLookup(u => u.Update.Product, StringComparer.OrdinalIgnoreCase);
        SupersedersOf = updates
            .SelectMany(s => s.Update.Supersedes.Select(number => (Key: (s.Update.Product.ToUpperInvariant(), number.ToUpperInvariant()), Superseder: s)))
            .ToLookup(x => x.Key, x => x.Superseder);
    }

    public IReadOnlyList<CatalogUpdate> Updates { get; }

    public ILookup<(string, string), CatalogUpdate> SupersedersOf { get; }

    public IEnumerable<CatalogUpdate> OfRelease(string release) => _byRelease[release];
}
