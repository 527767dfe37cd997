using Patch.Domain.Catalog;
using Patch.Domain.Inventory.Products;
using Patch.Domain.Settings;

namespace Patch.Domain.Applicability;

public enum UpdateState { NotApplicable, Installed, Missing, Superseded }

/// <summary>One update of the catalog as the engine sees it: with the number of the bulletin that ships it and when the bulletin was released.</summary>
public sealed record CatalogUpdate(string BulletinId, string BulletinNumber, UpdateFacts Update, DateTimeOffset? Released = null);

/// <summary>
/// Vulnerability analysis for one computer: which updates apply, which are installed, and which are superseded.
/// An update is applicable when the computer has its software release (and culture) and its applicability rule holds;
/// installed when its KB is in the inventory, the computer is at or past its fixed build (the OS build, or for a
/// product whose version is its patch level, that product's version), or its installed rule holds.
/// Supersedence follows the whole chain: an applicable update that a later applicable update (of any depth) supersedes,
/// or that a later cumulative update of the same product contains (<see cref="PreparedCatalog.ContainersOf"/>), is
/// <see cref="UpdateState.Superseded"/>, never missing.
/// </summary>
public static class UpdateStates
{
    public static bool IsApplicable(UpdateFacts u, ComputerFacts facts) =>
        u.Excluded is null
        && facts.HasProduct(u.Product)
        && !OfAnotherWindowsLine(u, facts)
        && (string.Equals(u.Culture, CoreSettings.Neutral, StringComparison.OrdinalIgnoreCase) || facts.Cultures.Contains(u.Culture, StringComparer.OrdinalIgnoreCase))
        && (u.ApplicabilityRule is null || RuleEngine.Evaluate(u.ApplicabilityRule, facts));

    public static bool IsInstalled(CatalogUpdate c, ComputerFacts facts) =>
        facts.HasKb(c.Update.InstalledAs(c.BulletinNumber))
        || (c.Update.FixedBuild is { } fixedBuild && FixedBuildReached(c.Update.Product, fixedBuild, facts))
        || (c.Update.InstalledRule is { } rule && RuleEngine.Evaluate(rule, facts));

    /// <summary>
    /// Whether the computer is at or past a fixed build. A Windows update's build is the OS's. Another product's build
    /// is compared with that product's version when the version is its patch level (SQL Server, Edge…) and of the same
    /// major version; a build naming the OS's own major.minor.build (.NET Framework on Windows 10 1607 ships in the OS)
    /// is compared with the OS. Anything else cannot be decided, so it is not "installed".
    /// </summary>
    public static bool FixedBuildReached(string product, string fixedBuild, ComputerFacts facts)
    {
        var family = ProductFamilies.Of(product);
        if (family == ProductFamilies.Windows || family == ProductFamilies.Other) return WindowsBuildReached(facts, fixedBuild);
        if (InstalledProduct.ParseVersion(fixedBuild) is not { } fixedVersion) return false;
        var os = facts.Version;
        if (fixedVersion.Major == os.Major && fixedVersion.Minor == os.Minor && fixedVersion.Build == os.Build) return RuleEngine.Compare(facts, fixedBuild) is >= 0;
        // A version less precise than the fixed build (Visual Studio's "17.10" against "17.10.12") cannot decide.
        return family.VersionIsPatchLevel && facts.ProductFor(product) is { } installed && InstalledProduct.ParseVersion(installed.Version) is { } have
            && have.Major == fixedVersion.Major && Precision(have) >= Precision(fixedVersion) && have >= fixedVersion;
    }

    private static int Precision(Version v) => v.Revision >= 0 ? 4 : v.Build >= 0 ? 3 : 2;

    /// <summary>
    /// Windows releases moved forward by an enablement package share one servicing branch: a cumulative update has the same
    /// revision on each (10.0.22621.5624 and 10.0.22631.5624), and MSRC sometimes gives one release's build for another
    /// (2025-Aug's KB5062552 names 22621.5624 for Windows 11 23H2).
    /// </summary>
    private static readonly int[][] SharedBranches = [[18362, 18363], [19041, 19042, 19043, 19044, 19045], [22621, 22631], [26100, 26200]];

    /// <summary>
    /// A Windows update whose fixed build is a build of this Windows on another line — neither the computer's build nor one
    /// serviced with it — is a package of that line, which this computer cannot install: MSRC names some under a release
    /// they do not serve (2024-Aug lists KB5055528, 22621.5189, for Windows 11 24H2, 26100; 2024-Oct KB5046399, 20348.2751,
    /// for Windows Server 2022 23H2, 25398). It does not apply; it would be Missing for ever.
    /// </summary>
    private static bool OfAnotherWindowsLine(UpdateFacts u, ComputerFacts facts)
    {
        if (u.FixedBuild is not { } fixedBuild || !Version.TryParse(fixedBuild, out var target) || target.Build < 0) return false;
        var have = facts.Version;
        // The common case first: an update of the computer's own build.
        return have.Build >= 0 && have.Build != target.Build && have.Major == target.Major && have.Minor == target.Minor
            && !SameBranch(have.Build, target.Build) && ProductFamilies.Of(u.Product) == ProductFamilies.Windows;
    }

    private static bool SameBranch(int build, int other) => SharedBranches.Any(branch => branch.Contains(build) && branch.Contains(other));

    /// <summary>
    /// The OS at or past a fixed build. Only an OS build decides: major.minor.build of this Windows (2024-Jan gives its
    /// IE cumulative update "1.001", IE 11's own versions are 11.0.…: neither is a build of Windows 6.3). On another build
    /// of the same Windows, only the revision of a shared branch says so; a build of another line cannot (22631.4460 is
    /// not past 22621.5624 for being a higher build). What cannot decide is not "installed" (the KB still can say so).
    /// </summary>
    private static bool WindowsBuildReached(ComputerFacts facts, string fixedBuild)
    {
        var have = facts.Version;
        if (!Version.TryParse(fixedBuild, out var target) || target.Build < 0 || have.Major != target.Major || have.Minor != target.Minor) return false;
        if (have.Build < 0 || have.Build == target.Build) return RuleEngine.Compare(facts, fixedBuild) is >= 0;
        return target.Revision >= 0 && have.Revision >= target.Revision && SameBranch(have.Build, target.Build);
    }

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
        // Only updates of the computer's products can apply: look those up instead of scanning the catalog.
        var applicable = facts.Keys.Keys.SelectMany(catalog.OfKey).Where(c => IsApplicable(c.Update, facts)).ToHashSet();
        var states = applicable.Select(c => (Update: c, State: IsInstalled(c, facts) ? UpdateState.Installed
            : SupersededByApplicable(c, catalog.SupersedersOf, applicable) || catalog.ContainersOf(c).Any(applicable.Contains) ? UpdateState.Superseded
            : UpdateState.Missing)).ToList();
        // A KB is one package: replaced for one of its products on this computer (MSRC states an Office MSI patch's successor
        // under Excel 2016 only, not under Office 2016), it is replaced for all, never Missing beside its own Superseded row.
        // By the KB the update installs as (an MBSA bulletin, MS17-010, holds several KBs: each its own package).
        var replaced = states.Where(s => s.State == UpdateState.Superseded).Select(s => s.Update.Update.InstalledAs(s.Update.BulletinNumber)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var (c, state) in states)
            yield return (c, state == UpdateState.Missing && replaced.Contains(c.Update.InstalledAs(c.BulletinNumber)) ? UpdateState.Superseded : state);
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
/// A catalog indexed once for many computers: updates by product key, and per release who supersedes each bulletin
/// number. The chain runs through updates that do not apply to a computer too (KB3 supersedes KB2 supersedes KB1
/// makes KB1 superseded by KB3).
/// </summary>
public sealed class PreparedCatalog
{
    private readonly ILookup<string, CatalogUpdate> _byKey;
    private readonly ILookup<string, CatalogUpdate> _byName;

    public PreparedCatalog(IReadOnlyList<CatalogUpdate> updates)
    {
        Updates = updates;
        _own = new HashSet<CatalogUpdate>(updates, ReferenceEqualityComparer.Instance);
        _byKey = updates.SelectMany(u => CatalogKeys.Of(u.Update.Product).Select(k => (Key: k, Update: u))).Distinct().ToLookup(x => x.Key, x => x.Update, StringComparer.Ordinal);
        _byName = updates.ToLookup(u => ProductKeys.Normalize(u.Update.Product), StringComparer.Ordinal);
        SupersedersOf = updates
            .SelectMany(s => s.Update.Supersedes.Select(number => (Key: (s.Update.Product.ToUpperInvariant(), number.ToUpperInvariant()), Superseder: s)))
            .ToLookup(x => x.Key, x => x.Superseder);
    }

    public IReadOnlyList<CatalogUpdate> Updates { get; }

    public ILookup<(string, string), CatalogUpdate> SupersedersOf { get; }

    // Containers depend on the catalog only: found once per update of this catalog and shared by every computer (by
    // reference). An update from elsewhere (an agent's assignment) is answered without being kept.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<CatalogUpdate, CatalogUpdate[]> _containers = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<CatalogUpdate> _own;

    /// <summary>The updates whose product has this key (see <see cref="ProductKeys"/>).</summary>
    public IEnumerable<CatalogUpdate> OfKey(string key) => _byKey[key];

    /// <summary>The updates of one catalog product name (compared without case or repeated spaces).</summary>
    public IEnumerable<CatalogUpdate> OfRelease(string release) => _byName[ProductKeys.Normalize(release)];

    /// <summary>
    /// The later cumulative updates of the same product that contain this one, even when the catalog's supersedence
    /// field says nothing (docs/products.md):
    /// <list type="bullet">
    /// <item>an OS update with a fixed build (major.minor.build.revision): one of the same release with the same
    /// major.minor.build and a higher revision;</item>
    /// <item>a .NET Framework cumulative update (every sub type but "Security Only"): one of the same product name
    /// released later (the catalogs leave .NET's supersedence empty);</item>
    /// <item>a SQL Server update: one of the same release, service pack, architecture and branch with a higher fixed
    /// build of the same major.minor (a CU or GDR package holds every earlier fix of its branch);</item>
    /// <item>an Internet Explorer cumulative update (sub type "IE Cumulative"): one of the same product released later;</item>
    /// <item>a .NET or ASP.NET Core runtime, Edge or PowerShell 7 release: one of the same product (named with or without
    /// "installed on Windows") with a higher fixed build of the same major.minor (each servicing release is the whole
    /// runtime or browser; MSRC states no supersedence).</item>
    /// </list>
    /// Release dates and builds decide, never the order in which documents were imported.
    /// </summary>
    public IReadOnlyList<CatalogUpdate> ContainersOf(CatalogUpdate update) =>
        _own.Contains(update) ? _containers.GetOrAdd(update, u => FindContainers(u).ToArray()) : FindContainers(update).ToArray();

    private IEnumerable<CatalogUpdate> FindContainers(CatalogUpdate update)
    {
        var family = ProductFamilies.Of(update.Update.Product);
        if (family == ProductFamilies.NetFramework)
        {
            if (SecurityOnly(update) || update.Released is not { } released) return [];
            return OfRelease(update.Update.Product).Where(s => s != update && !SecurityOnly(s) && s.Released > released);
        }
        if (IeCumulative(update))
        {
            // Internet Explorer's cumulative updates hold every earlier one; MSRC's chain for them breaks off and their
            // fixed builds ("1", "1.001", "10.0.0.0") order nothing: their release dates do.
            if (update.Released is not { } ieReleased) return [];
            return OfRelease(update.Update.Product).Where(s => s != update && IeCumulative(s) && s.Released > ieReleased);
        }
        if (family == ProductFamilies.DotNet || family == ProductFamilies.Edge || family == ProductFamilies.PowerShell)
        {
            // The catalogs name one runtime two ways (".NET 8.0", ".NET 8.0 installed on Windows"): both are its releases.
            if (InstalledProduct.ParseVersion(update.Update.FixedBuild) is not { } build) return [];
            const string onWindows = " installed on Windows";
            var name = update.Update.Product;
            var bare = name.EndsWith(onWindows, StringComparison.OrdinalIgnoreCase) ? name[..^onWindows.Length] : name;
            return new[] { bare, bare + onWindows }.SelectMany(OfRelease).Where(s => s != update && InstalledProduct.ParseVersion(s.Update.FixedBuild) is { } theirs
                && theirs.Major == build.Major && theirs.Minor == build.Minor && theirs > build).Distinct();
        }
        if (family == ProductFamilies.SqlServer)
        {
            if (InstalledProduct.ParseVersion(update.Update.FixedBuild) is not { } build) return [];
            return CatalogKeys.Of(update.Update.Product).SelectMany(OfKey).Where(s => s != update && InstalledProduct.ParseVersion(s.Update.FixedBuild) is { } theirs
                && theirs.Major == build.Major && theirs.Minor == build.Minor && theirs > build).Distinct();
        }
        if (!Version.TryParse(update.Update.FixedBuild, out var mine) || mine.Revision < 0) return [];
        return OfRelease(update.Update.Product).Where(s => s != update && Version.TryParse(s.Update.FixedBuild, out var theirs) && theirs.Revision >= 0
            && theirs.Major == mine.Major && theirs.Minor == mine.Minor && theirs.Build == mine.Build && theirs > mine);
    }

    private static bool IeCumulative(CatalogUpdate u) => u.Update.SubType?.Equals("IE Cumulative", StringComparison.OrdinalIgnoreCase) == true;

    private static bool SecurityOnly(CatalogUpdate u) => u.Update.SubType?.Contains("Security Only", StringComparison.OrdinalIgnoreCase) == true;
}
