namespace Patch.Application.Staging;

/// <summary>Patch:Staging settings.</summary>
public sealed class StagingOptions
{
    /// <summary>Package store folder; default {Patch:DataDirectory}/packages.</summary>
    public string? PackageDirectory { get; set; }

    /// <summary>"Download from staging location": a folder or http(s)/file URL tried before the vendor URL. Null = vendor only.</summary>
    public string? StagingLocation { get; set; }

    /// <summary>Downloads running at once, over all staging jobs.</summary>
    public int MaxConcurrentDownloads { get; set; } = 4;

    /// <summary>Attempts per source for transient failures (connection lost, 5xx, timeouts), resuming with Range.</summary>
    public int Attempts { get; set; } = 4;

    /// <summary>First retry delay; doubles each attempt.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Folders a catalog's file:// download URL may point into. Empty (the default): a catalog cannot make the server
    /// read its own files; the staging location is always allowed.
    /// </summary>
    public List<string> AllowedFileFolders { get; set; } = [];

    /// <summary>
    /// How long a partial download nothing writes is kept for a resume (a source that failed for good, an update never staged
    /// again); the package cleanup task deletes older ones.
    /// </summary>
    public TimeSpan PartialRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Largest package accepted, in bytes (a larger one is refused as "too large").</summary>
    public long MaxPackageBytes { get; set; } = 8L * 1024 * 1024 * 1024;
}
