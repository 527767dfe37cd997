namespace Patch.Domain.Catalog;

/// <summary>
/// An update's package is in the package store (content-addressed by its SHA-256). <c>Package</c> is the vendor's package
/// defaults when it was downloaded (deletion interval, multicast, distribution, alternate locations): the package keeps
/// them when the vendor settings change later.
/// </summary>
public sealed record UpdateDownloaded(string BulletinId, string UpdateId, string Sha256, long Size, string Source, bool Verified, int Attempts, DateTimeOffset At,
    Settings.PackageDefaults? Package = null, IReadOnlyList<PackageFile>? Prerequisites = null, string? FileName = null);

/// <summary>Downloading an update's package failed; the reason names what happened (404, host gone, hash mismatch, too large, no hash known).</summary>
public sealed record UpdateDownloadFailed(string BulletinId, string UpdateId, string Reason, string? Source, int Attempts, DateTimeOffset At);

/// <summary>The package left the store (deletion interval, or the vendor changed the package); the update must be staged again.</summary>
public sealed record UpdatePackageRemoved(string BulletinId, string UpdateId, string Sha256, string Reason, DateTimeOffset At);

public enum DownloadStatus { Downloaded, Failed }

/// <summary>Where an update's package stands in the package store.</summary>
/// <summary>An update's download; <c>Prerequisites</c> are the files installed before the main one (a checkpoint cumulative update's), in order.</summary>
public sealed record UpdateDownload(DownloadStatus Status, string? Sha256, long? Size, string? Source, bool Verified, string? Reason, int Attempts, DateTimeOffset At,
    Settings.PackageDefaults? Package = null, IReadOnlyList<PackageFile>? Prerequisites = null, string? FileName = null)
{
    /// <summary>The download's files in the package store by SHA-256: those installed before it, then its package.</summary>
    public IEnumerable<string> StoredHashes() => (Prerequisites ?? []).Select(f => f.Sha256).Append(Sha256!);
}

public static class StagingRules
{
    /// <summary>Package fields whose revision makes a downloaded package stale.</summary>
    public static readonly string[] PackageFields = ["sha256", "downloadUrl", "fileName", "size", "files"];

    /// <summary>The updates staging must (still) download: not excluded and not downloaded. Re-staging retries only these.</summary>
    public static IReadOnlyList<UpdateFacts> Missing(Bulletin bulletin) =>
        bulletin.Updates.Where(u => u.Excluded is null && bulletin.DownloadOf(u.UpdateId)?.Status != DownloadStatus.Downloaded).ToList();

    /// <summary>Staged = every non-excluded update downloaded (and there is at least one).</summary>
    public static bool IsStaged(Bulletin bulletin) => bulletin.UpdateCount > 0 && Missing(bulletin).Count == 0;

    /// <summary>
    /// "Verify authenticity": an update with no known hash can only be staged with verification off — from its own file, or
    /// a copy in the staging location. One whose catalog names no file at all (a Microsoft Update Catalog page, as CVRF
    /// gives) is first of all without a file: <paramref name="resolution"/> says what the Update Catalog's lookup found.
    /// </summary>
    public static string? RefuseBeforeDownload(UpdateFacts update, bool verifyAuthenticity, UpdateResolution? resolution = null)
    {
        if (!verifyAuthenticity || update.Sha256 is not null) return null;
        if (update.DownloadUrl is null || FileResolution.IsCatalogPage(update.DownloadUrl))
            return (resolution is { Resolved: false, Reason: { } reason }
                    ? $"no file is known for this update: the Microsoft Update Catalog's lookup found none ({reason})"
                    : "no file is known for this update: its files have not been found in the Microsoft Update Catalog yet (the microsoft-file-resolution task)")
                + "; a copy in the staging location has no digest to be verified against, so only 'Verify authenticity' off stages one";
        return "no SHA-256 is known for this update, so its authenticity cannot be verified: stage it with 'Verify authenticity' off";
    }

    /// <summary>With several files (or resolved ones), each needs a digest the catalog stated (SHA-256 or SHA-1) to be verified.</summary>
    public static string? RefuseBeforeDownload(IReadOnlyList<UpdateFile> files, bool verifyAuthenticity) =>
        verifyAuthenticity && files.FirstOrDefault(f => f.Sha256 is null && f.Sha1 is null) is { } bare
            ? $"no digest is known for {bare.FileName}, so its authenticity cannot be verified: stage it with 'Verify authenticity' off"
            : null;
}

/// <summary>The package deletion interval as a pure rule.</summary>
public static class PackageRetention
{
    /// <summary>
    /// A package may leave the store when no enabled policy needs it, deletion is on (days &gt; 0), and its newest download
    /// is older than the interval.
    /// </summary>
    public static bool Expired(string sha256, ISet<string> neededByEnabledPolicies, int deleteUnusedAfterDays, DateTimeOffset newestDownload, DateTimeOffset now) =>
        !neededByEnabledPolicies.Contains(sha256) && deleteUnusedAfterDays > 0 && now - newestDownload >= TimeSpan.FromDays(deleteUnusedAfterDays);
}
