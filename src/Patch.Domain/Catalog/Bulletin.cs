namespace Patch.Domain.Catalog;

public sealed record BulletinImported(string BulletinId, BulletinFacts Facts, string Source);

public sealed record BulletinRevised(string BulletinId, BulletinFacts Facts, IReadOnlyList<FieldChange> Changes, string Source);

public sealed record SoftwareUpdateAdded(string BulletinId, UpdateFacts Update, string Source);

public sealed record SoftwareUpdateRevised(string BulletinId, UpdateFacts Update, IReadOnlyList<FieldChange> Changes, string Source);

public sealed record CustomSeverityAssigned(string BulletinId, string LevelId);

public sealed record CustomSeverityCleared(string BulletinId, string LevelId);

/// <summary>
/// A software bulletin with its software updates: the state of one bulletin stream. Immutable; every change
/// is a new instance built from an event.
/// </summary>
public sealed record Bulletin(string Id, BulletinFacts Facts, IReadOnlyList<UpdateFacts> Updates, string? CustomSeverityId, string Source)
{
    /// <summary>Download state per update id; an update missing here was never staged.</summary>
    public IReadOnlyDictionary<string, UpdateDownload> Downloads { get; init; } = new Dictionary<string, UpdateDownload>();

    public UpdateDownload? DownloadOf(string updateId) => Downloads.GetValueOrDefault(updateId);

    /// <summary>Where the Microsoft Update Catalog said each update's files are (or why it could not say).</summary>
    public IReadOnlyDictionary<string, UpdateResolution> Resolutions { get; init; } = new Dictionary<string, UpdateResolution>();

    /// <summary>Files found anew (Microsoft re-released them) make a package staged from the old ones stale.</summary>
    public static Bulletin Apply(UpdateFilesResolved e, Bulletin b) => b with
    {
        Resolutions = new Dictionary<string, UpdateResolution>(b.Resolutions) { [e.UpdateId] = new(true, e.CatalogUpdateId, e.Files, null, e.At, e.BulletinRevised) },
        Downloads = b.Resolutions.GetValueOrDefault(e.UpdateId) is { Resolved: true } old && !old.Files.SequenceEqual(e.Files) ? Without(b.Downloads, e.UpdateId) : b.Downloads,
    };

    public static Bulletin Apply(UpdateFilesUnresolved e, Bulletin b) =>
        b with { Resolutions = new Dictionary<string, UpdateResolution>(b.Resolutions) { [e.UpdateId] = new(false, null, [], e.Reason, e.At) } };

    /// <summary>Updates that are neither excluded by core settings nor withdrawn: the ones staging must download.</summary>
    public int UpdateCount => Updates.Count(u => u.Excluded is null);

    public int ExcludedUpdateCount => Updates.Count(u => u.Excluded is not null);

    public static Bulletin Create(BulletinImported e) => new(e.BulletinId, e.Facts, [], null, e.Source);

    public static Bulletin Apply(BulletinRevised e, Bulletin b) => b with { Facts = e.Facts, Source = e.Source };

    public static Bulletin Apply(SoftwareUpdateAdded e, Bulletin b) => b with { Updates = [.. b.Updates, e.Update] };

    /// <summary>A revised package (hash, URL, file, size) makes the downloaded one stale: it must be staged again.</summary>
    public static Bulletin Apply(SoftwareUpdateRevised e, Bulletin b) => b with
    {
        Updates = b.Updates.Select(u => u.UpdateId == e.Update.UpdateId ? e.Update : u).ToList(),
        Downloads = e.Changes.Any(c => StagingRules.PackageFields.Contains(c.Field)) ? Without(b.Downloads, e.Update.UpdateId) : b.Downloads,
    };

    public static Bulletin Apply(UpdateDownloaded e, Bulletin b) =>
        b with { Downloads = With(b.Downloads, e.UpdateId, new UpdateDownload(DownloadStatus.Downloaded, e.Sha256, e.Size, e.Source, e.Verified, null, e.Attempts, e.At, e.Package,
            e.Prerequisites, e.FileName)) };

    public static Bulletin Apply(UpdateDownloadFailed e, Bulletin b) =>
        b with { Downloads = With(b.Downloads, e.UpdateId, new UpdateDownload(DownloadStatus.Failed, null, null, e.Source, false, e.Reason, e.Attempts, e.At)) };

    public static Bulletin Apply(UpdatePackageRemoved e, Bulletin b) => b with { Downloads = Without(b.Downloads, e.UpdateId) };

    private static Dictionary<string, UpdateDownload> With(IReadOnlyDictionary<string, UpdateDownload> d, string key, UpdateDownload value) =>
        new(d) { [key] = value };

    private static Dictionary<string, UpdateDownload> Without(IReadOnlyDictionary<string, UpdateDownload> d, string key) =>
        d.Where(p => p.Key != key).ToDictionary(p => p.Key, p => p.Value);

    public static Bulletin Apply(CustomSeverityAssigned e, Bulletin b) => b with { CustomSeverityId = e.LevelId };

    public static Bulletin Apply(CustomSeverityCleared e, Bulletin b) => b with { CustomSeverityId = null };
}
