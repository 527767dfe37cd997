using Patch.Application.Catalog.Formats;
using Patch.Domain.Agents;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;

namespace Patch.Bench;

/// <summary>One Windows release of the generated estate: how the agent reports it, its first build, and its share.</summary>
public sealed record FleetRelease(string Name, string Caption, string FirstBuild, bool Server, double Share, string[] Architectures);

/// <summary>
/// A modern Windows estate (issue 16 §1), computer by computer and deterministic by index: the agent's inventory model
/// (<see cref="AgentInventory"/>) with a release mix of 2026 (Windows 10 22H2, 11 23H2 and 24H2, Server 2016–2025 with a
/// share of Server Core, a few 10 1809 LTSC and 2012 R2), architectures, cultures, and a patch level spread like a real
/// estate — most computers 0–2 months behind, a tail a year or more behind, a few never patched. Installed KBs and the
/// OS build are consistent with that level: for each of the computer's products (its OS release and the .NET Framework
/// the build implies) the latest update released by its cutoff is installed — what Windows lists after cumulative
/// updates replaced the earlier ones — and the OS build is that cumulative update's fixed build.
/// </summary>
public sealed class RealisticFleet
{
    public static readonly FleetRelease[] Releases =
    [
        new("Windows 10 22H2", "Microsoft Windows 10 Enterprise", "10.0.19045.2130", false, 0.30, ["x64", "x64", "x64", "x64", "x86"]),
        new("Windows 11 23H2", "Microsoft Windows 11 Enterprise", "10.0.22631.2428", false, 0.18, ["x64", "x64", "x64", "x64", "x64", "x64", "x64", "x64", "x64", "arm64"]),
        new("Windows 11 24H2", "Microsoft Windows 11 Enterprise", "10.0.26100.1742", false, 0.27, ["x64", "x64", "x64", "x64", "x64", "x64", "x64", "x64", "x64", "arm64"]),
        new("Windows 10 1809 LTSC", "Microsoft Windows 10 Enterprise LTSC 2019", "10.0.17763.107", false, 0.02, ["x64"]),
        new("Windows Server 2016", "Microsoft Windows Server 2016 Standard", "10.0.14393.447", true, 0.04, ["x64"]),
        new("Windows Server 2019", "Microsoft Windows Server 2019 Standard", "10.0.17763.107", true, 0.06, ["x64"]),
        new("Windows Server 2022", "Microsoft Windows Server 2022 Standard", "10.0.20348.169", true, 0.08, ["x64"]),
        new("Windows Server 2025", "Microsoft Windows Server 2025 Standard", "10.0.26100.1742", true, 0.03, ["x64"]),
        new("Windows Server 2012 R2", "Microsoft Windows Server 2012 R2 Standard", "6.3.9600.16384", true, 0.02, ["x64"]),
    ];

    private static readonly string[] Cultures = ["en-US", "en-US", "en-US", "en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "es-ES", "pt-BR", "it-IT", "nl-NL", "zh-CN", "ko-KR"];

    /// <summary>Months behind the newest catalog month (−1: never patched) and their shares.</summary>
    private static readonly (int From, int To, double Share)[] Lag =
        [(-1, -1, 0.02), (0, 0, 0.45), (1, 1, 0.22), (2, 2, 0.11), (3, 5, 0.08), (6, 11, 0.06), (12, 23, 0.06)];

    private readonly PreparedCatalog _catalog;
    private readonly DateTimeOffset _newestMonth;

    public RealisticFleet(PreparedCatalog catalog)
    {
        _catalog = catalog;
        var newest = catalog.Updates.Max(u => u.Released) ?? DateTimeOffset.UtcNow;
        _newestMonth = new DateTimeOffset(newest.Year, newest.Month, 1, 0, 0, 0, TimeSpan.Zero);
    }

    public PreparedCatalog Catalog => _catalog;

    /// <summary>The real months a fleet of 2026 is patched against: 2024-Jan (kept raw) and the archive's 2024–2025 months.</summary>
    public static PreparedCatalog LoadCatalog(string shared, int fromYear = 2024, int toYear = 2025, DateTime? through = null)
    {
        var bulletins = new Dictionary<string, ImportedBulletin>(StringComparer.Ordinal);
        // Oldest first: a later document's copy of a bulletin is its newer revision.
        foreach (var file in Bench.CvrfFiles(shared, fromYear, toYear).Where(f => through is null || Bench.CvrfMonth(f) <= through))
            foreach (var b in CvrfCatalogReader.Read(new MemoryStream(Bench.ReadCvrf(file))).Bulletins) bulletins[b.StreamId] = b;
        return new PreparedCatalog(bulletins.Values.SelectMany(b => b.Updates.Select(u => new CatalogUpdate(b.StreamId, b.Facts.Number, u, b.Facts.Released))).ToList());
    }

    /// <summary>
    /// Computer number <paramref name="index"/> of the estate (the same index gives the same computer), at its own patch
    /// level or at <paramref name="monthsBehind"/> (0: the newest month installed).
    /// </summary>
    public (AgentInventory Inventory, FleetRelease Release, int MonthsBehind) Computer(int index, int? monthsBehind = null)
    {
        var random = new Random(unchecked(index * 7919 + 17));
        var release = Pick(random, Releases, r => r.Share);
        var arch = release.Architectures[random.Next(release.Architectures.Length)];
        var lag = Pick(random, Lag, l => l.Share);
        var behind = lag.From < 0 ? -1 : random.Next(lag.From, lag.To + 1);
        if (monthsBehind is { } wanted) behind = wanted;
        string? installation = release.Server ? (random.NextDouble() < 0.3 ? "Server Core" : "Server") : "Client";
        var caption = release.Caption.Replace("Standard", random.NextDouble() < 0.3 ? "Datacenter" : "Standard", StringComparison.Ordinal);
        var skeleton = new AgentInventory(caption, release.FirstBuild, arch, 0, release.Server, [Cultures[random.Next(Cultures.Length)]], [], [], "0.1.0", installation);
        if (behind < 0) return (skeleton, release, behind);

        // For each product the computer has: the latest of its updates released before the cutoff is installed.
        var cutoff = _newestMonth.AddMonths(1 - behind);
        var latest = UpdateStates.Applicable(_catalog, InventoryFacts.Of(skeleton))
            .Where(s => s.Update.Released is { } r && r < cutoff)
            .GroupBy(s => s.Update.Update.Product, StringComparer.OrdinalIgnoreCase)
            // An OS update: the newest by fixed build (a month's document lists the later KBs Microsoft revised it to);
            // the others (.NET, whose builds are not versions of the OS) by release.
            .Select(g => g.MaxBy(s => (OsBuild(s.Update.Update.FixedBuild, release) ?? new Version(0, 0), s.Update.Released)).Update)
            .ToList();
        var build = latest.Select(u => OsBuild(u.Update.FixedBuild, release)).OfType<Version>().DefaultIfEmpty(Version.Parse(release.FirstBuild)).Max()!;
        var kbs = latest.Select(u => u.Update.InstalledAs(u.BulletinNumber)).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal).ToList();
        return (skeleton with { OsVersion = build.ToString(), InstalledKbs = kbs }, release, behind);
    }

    /// <summary>A fixed build of the release's own build line (major.minor.build), else null.</summary>
    private static Version? OsBuild(string? fixedBuild, FleetRelease release) =>
        Version.TryParse(fixedBuild, out var v) && Version.Parse(release.FirstBuild) is var first && v.Major == first.Major && v.Minor == first.Minor && v.Build == first.Build
            ? v : null;

    private static T Pick<T>(Random random, IReadOnlyList<T> items, Func<T, double> share)
    {
        var x = random.NextDouble() * items.Sum(share);
        foreach (var item in items)
            if ((x -= share(item)) < 0) return item;
        return items[^1];
    }
}
