namespace Patch.Domain.Catalog;

/// <summary>One downloadable file of an update, as a catalog gives it: URL, name, size and the digests it states (often only SHA-1).</summary>
public sealed record UpdateFile(string Url, string FileName, long? Size, string? Sha256, string? Sha1);

/// <summary>A staged file of an update's package other than its main one (a checkpoint cumulative update's prerequisite), by the SHA-256 the store computed.</summary>
public sealed record PackageFile(string Sha256, long Size, string? FileName);

/// <summary>
/// The Microsoft Update Catalog named the update's files (in install order; the last is the update's own) for the bulletin
/// as revised at <c>BulletinRevised</c> (null: not revised).
/// </summary>
public sealed record UpdateFilesResolved(string BulletinId, string UpdateId, string CatalogUpdateId, IReadOnlyList<UpdateFile> Files, DateTimeOffset At,
    DateTimeOffset? BulletinRevised = null);

/// <summary>The update's files could not be found without guessing: no match, several candidates, or a page whose shape changed.</summary>
public sealed record UpdateFilesUnresolved(string BulletinId, string UpdateId, string Reason, DateTimeOffset At);

/// <summary>Where an update's files were found, or why they were not.</summary>
public sealed record UpdateResolution(bool Resolved, string? CatalogUpdateId, IReadOnlyList<UpdateFile> Files, string? Reason, DateTimeOffset At,
    DateTimeOffset? BulletinRevised = null)
{
    /// <summary>
    /// Whether these files were found for the bulletin as it is revised now: a revision imported since — whatever date
    /// Microsoft gave it, often before the lookup when it is imported late — has them looked up again. (A lookup recorded
    /// before the revision was kept with it counts as another revision's, once: the next lookup records it.)
    /// </summary>
    public bool ForRevision(DateTimeOffset? revised) => BulletinRevised == revised;
}

/// <summary>What a resolution attempt found for one update.</summary>
public sealed record ResolutionOutcome(string? CatalogUpdateId, IReadOnlyList<UpdateFile> Files, string? Reason)
{
    public static ResolutionOutcome Found(string catalogUpdateId, IReadOnlyList<UpdateFile> files) => new(catalogUpdateId, files, null);

    public static ResolutionOutcome NotFound(string reason) => new(null, [], reason);
}

public static class FileResolution
{
    /// <summary>The event that records the outcome, or null when it is what the bulletin already records (a re-run appends nothing).</summary>
    public static object? Decide(Bulletin bulletin, string updateId, ResolutionOutcome outcome, DateTimeOffset at)
    {
        var current = bulletin.Resolutions.GetValueOrDefault(updateId);
        if (outcome.Reason is null)
        {
            // The same files for the same revision: nothing new. For a revision they were not found for: confirmed for it.
            if (current is { Resolved: true } && current.CatalogUpdateId == outcome.CatalogUpdateId && current.Files.SequenceEqual(outcome.Files)
                && current.BulletinRevised == bulletin.Facts.Revised) return null;
            return new UpdateFilesResolved(bulletin.Id, updateId, outcome.CatalogUpdateId!, outcome.Files, at, bulletin.Facts.Revised);
        }
        if (current is { Resolved: false } && current.Reason == outcome.Reason) return null;
        return new UpdateFilesUnresolved(bulletin.Id, updateId, outcome.Reason, at);
    }

    /// <summary>
    /// The files staging fetches for an update, in install order (the last is the update's own): the catalog's own list,
    /// else its single download, else what the Update Catalog resolved. Empty when none is known (the mirror may still have it).
    /// </summary>
    public static IReadOnlyList<UpdateFile> FilesOf(Bulletin bulletin, UpdateFacts update)
    {
        if (update.Files is { Count: > 0 } files) return files;
        if (update.DownloadUrl is { } url && !IsCatalogPage(url))
            return [new UpdateFile(url, update.FileName ?? Path.GetFileName(new Uri(url).AbsolutePath), update.Size, update.Sha256, null)];
        return bulletin.Resolutions.GetValueOrDefault(update.UpdateId) is { Resolved: true } r ? r.Files : [];
    }

    /// <summary>
    /// Why a finished download may not be recorded for the update as it was read (<paramref name="used"/>, of
    /// <paramref name="then"/>): the bulletin as it is <paramref name="now"/> names another package or other files for it —
    /// an import or a resolution revised it while it downloaded, and the download is the old one's. Null when it is the same.
    /// </summary>
    public static string? ChangedWhileDownloading(Bulletin now, Bulletin then, UpdateFacts used)
    {
        if (now.Updates.FirstOrDefault(u => u.UpdateId == used.UpdateId) is not { } current) return null;
        var same = current.Sha256 == used.Sha256 && current.DownloadUrl == used.DownloadUrl && current.FileName == used.FileName && current.Size == used.Size
                   && (current.Files ?? []).SequenceEqual(used.Files ?? []) && FilesOf(now, current).SequenceEqual(FilesOf(then, used));
        return same ? null : "the catalog changed this update's package while it downloaded: the old one was not recorded; stage it again";
    }

    /// <summary>A Microsoft Update Catalog search link (what CVRF gives for a download): a page, not a file.</summary>
    public static bool IsCatalogPage(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.AbsolutePath.EndsWith(".aspx", StringComparison.OrdinalIgnoreCase) || uri.Query.Contains("q=", StringComparison.OrdinalIgnoreCase));
}
