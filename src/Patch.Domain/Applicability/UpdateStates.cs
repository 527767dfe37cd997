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
        facts.HasKb(c.BulletinNumber)
        || (c.Update.FixedBuild is { } fixedBuild && RuleEngine.Compare(facts, fixedBuild) is >= 0)
        || (c.Update.InstalledRule is { } rule && RuleEngine.Evaluate(rule, facts));

    public static IReadOnlyDictionary<CatalogUpdate, UpdateState> For(IReadOnlyList<CatalogUpdate> catalog, ComputerFacts facts)
    {
        var applicable = catalog.Where(c => IsApplicable(c.Update, facts)).ToHashSet();
        // Per software release: bulletin number → the updates that supersede it. The chain runs through updates that
        // do not apply to this computer too (KB3 supersedes KB2 supersedes KB1 makes KB1 superseded by KB3).
        var supersedersOf = catalog
            .SelectMany(s => s.Update.Supersedes.Select(number => (Key: (s.Update.Product.ToUpperInvariant(), number.ToUpperInvariant()), Superseder: s)))
            .ToLookup(x => x.Key, x => x.Superseder);

        var states = new Dictionary<CatalogUpdate, UpdateState>();
        foreach (var c in catalog)
        {
            states[c] = !applicable.Contains(c) ? UpdateState.NotApplicable
                : IsInstalled(c, facts) ? UpdateState.Installed
                : SupersededByApplicable(c, supersedersOf, applicable) || SupersededByLaterBuild(c, applicable) ? UpdateState.Superseded
                : UpdateState.Missing;
        }
        return states;
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
