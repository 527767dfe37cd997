using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Logging;
using Patch.Domain.Catalog;

namespace Patch.Application.Staging;

public sealed record DownloadOutcome(bool Success, string? Sha256, long Size, string? Source, bool Verified, string? Reason, int Attempts,
    IReadOnlyList<PackageFile>? Prerequisites = null, string? FileName = null);

/// <summary>Bytes received so far per update, for the staging status API (live, not history: the outcome is an event).</summary>
public sealed class StagingProgress
{
    private readonly ConcurrentDictionary<string, (long Received, long? Total)> _progress = new();

    public void Report(string updateKey, long received, long? total) => _progress[updateKey] = (received, total);

    public void Done(string updateKey) => _progress.TryRemove(updateKey, out _);

    public (long Received, long? Total)? Of(string updateKey) => _progress.TryGetValue(updateKey, out var p) ? p : null;
}

/// <summary>
/// Downloads one update's package: each source in order, transient failures retried with exponential backoff and
/// resumed with a Range request, the hash verified against the catalog when "Verify authenticity" is on, and the
/// file committed to the store under its SHA-256. A bounded number of downloads run at once.
/// </summary>
public sealed class PackageDownloader(IHttpClientFactory http, PackageStore store, StagingOptions options, StagingProgress progress, ILogger<PackageDownloader> logger)
{
    // A singleton: this bounds downloads over all staging jobs at once.
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.MaxConcurrentDownloads));

    public async Task<DownloadOutcome> DownloadAsync(string updateKey, string bulletinNumber, UpdateFacts update, bool verify, string? stagingLocation, CancellationToken ct,
        UpdateResolution? resolution = null)
    {
        if (StagingRules.RefuseBeforeDownload(update, verify, resolution) is { } refusal) return new DownloadOutcome(false, null, 0, null, false, refusal, 0);
        if (update.Sha256 is { } known && store.Reuse(known))
            return new DownloadOutcome(true, known, new FileInfo(store.PathOf(known)).Length, "package store", verify, null, 0);
        var unreadable = new List<string>();
        var candidates = DownloadSources.For(bulletinNumber, update, stagingLocation, unreadable);
        var sources = candidates.Where(s => !s.IsFile || FileAllowed(s, stagingLocation)).ToList();
        var refused = candidates.Except(sources)
            .Select(s => $"{s}: a file outside the staging location and Patch:Staging:AllowedFileFolders (the server does not read its own files for a catalog)")
            .Concat(unreadable).ToList();
        if (sources.Count == 0 && refused.Count > 0) return new DownloadOutcome(false, null, 0, update.DownloadUrl, false, refused[^1], 0);
        if (sources.Count == 0)
            return new DownloadOutcome(false, null, 0, update.DownloadUrl, false,
                update.DownloadUrl is null ? "no download URL and no staging location to find the file in"
                    : $"the vendor URL is not a file ({update.DownloadUrl}) and the staging location has no matching file", 0);

        await _slots.WaitAsync(ct);
        try
        {
            var reasons = new List<string>();
            var attempts = 0;
            foreach (var source in sources)
            {
                var (outcome, tries) = await FromSourceAsync(updateKey, source, update, verify, ct);
                attempts += tries;
                // The file's name as the catalog gives it, else as its source names it: a policy's command line runs it by
                // its name (a CVRF update staged from the mirror has none in the catalog).
                if (outcome.Success)
                {
                    // What the sources tried before left for a resume is of no more use.
                    foreach (var tried in sources.TakeWhile(s => s != source)) store.RemovePartial(updateKey + "|" + tried);
                    return outcome with { Attempts = tries, FileName = update.FileName ?? NameOf(source) };
                }
                reasons.Add($"{source}: {outcome.Reason}");
            }
            reasons.AddRange(refused);
            // The last source is the vendor's (or the mirror's only candidate): its answer leads; the others follow.
            var reason = reasons[^1] + (reasons.Count > 1 ? $" (also tried {string.Join("; ", reasons[..^1])})" : "");
            return new DownloadOutcome(false, null, 0, sources[^1].ToString(), false, reason, attempts);
        }
        finally
        {
            progress.Done(updateKey);
            _slots.Release();
        }
    }

    /// <summary>The file name a source's URL ends in, when it has an extension (a store path "sha256/…" or "/get?id=1" names no file).</summary>
    internal static string? NameOf(Uri source)
    {
        var name = Path.GetFileName(Uri.UnescapeDataString(source.AbsolutePath));
        return Path.HasExtension(name) && !source.AbsolutePath.Contains("/sha256/", StringComparison.Ordinal) ? name : null;
    }

    private Task<(DownloadOutcome Outcome, int Attempts)> FromSourceAsync(string updateKey, Uri source, UpdateFacts update, bool verify, CancellationToken ct) =>
        FromSourceAsync(updateKey, new Progress(updateKey, 0, null, Announced: true), source, update.UpdateId, update.Sha256, null, update.Size, verify, ct);

    /// <summary>
    /// Where a file's bytes count in its update's progress: the update's key, the bytes of the files before it, and the
    /// update's total when the catalog gives every file's size; <paramref name="Announced"/>: else the file's own as its
    /// server announces it (the update's only file).
    /// </summary>
    private sealed record Progress(string UpdateKey, long Before, long? Total, bool Announced);

    /// <summary>
    /// Fetches one file from one source with retries; with verification on, its SHA-256 (or, when the catalog states only
    /// that, its SHA-1) must match. The store keys it by the SHA-256 it computed.
    /// </summary>
    private async Task<(DownloadOutcome Outcome, int Attempts)> FromSourceAsync(string fileKey, Progress progressOf, Uri source, string what, string? expectedSha256,
        string? expectedSha1, long? expectedSize, bool verify, CancellationToken ct)
    {
        var partial = store.PartialPath(fileKey + "|" + source);
        var delay = options.RetryDelay;
        string reason = "not tried";
        for (var attempt = 1; attempt <= Math.Max(1, options.Attempts); attempt++)
        {
            try
            {
                var failure = await FetchAsync(progressOf, source, partial, expectedSize, ct);
                if (failure is not null)
                {
                    File.Delete(partial);
                    return (new DownloadOutcome(false, null, 0, source.ToString(), false, failure, 0), attempt);
                }

                var sha = await PackageStore.HashAsync(partial, ct);
                var size = new FileInfo(partial).Length;
                var sha1 = expectedSha256 is null && expectedSha1 is not null ? await Sha1Async(partial, ct) : null;
                var mismatch = expectedSha256 is { } e256 && !string.Equals(e256, sha, StringComparison.OrdinalIgnoreCase)
                    ? $"hash mismatch: the catalog says SHA-256 {e256}, the file is {sha}; the file was discarded"
                    : sha1 is not null && !string.Equals(expectedSha1, sha1, StringComparison.OrdinalIgnoreCase)
                        ? $"hash mismatch: the catalog says SHA-1 {expectedSha1}, the file is {sha1}; the file was discarded"
                        : null;
                if (verify && mismatch is not null)
                {
                    File.Delete(partial);
                    return (new DownloadOutcome(false, null, 0, source.ToString(), false, mismatch, 0), attempt);
                }
                store.Commit(partial, sha);
                var verified = mismatch is null && (expectedSha256 is not null || expectedSha1 is not null);
                return (new DownloadOutcome(true, sha, size, source.ToString(), verified, null, 0), attempt);
            }
            catch (Exception e) when (e is HttpRequestException or IOException or UnauthorizedAccessException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                reason = e is TaskCanceledException ? "timed out" : e.Message;
                logger.LogInformation("Download of {Update} from {Source} failed (attempt {Attempt}): {Reason}", what, source, attempt, reason);
                if (attempt < options.Attempts) await Task.Delay(delay, ct);
                delay *= 2;
            }
        }
        return (new DownloadOutcome(false, null, 0, source.ToString(), false, $"gave up after {options.Attempts} attempts: {reason}", 0), options.Attempts);
    }

    /// <summary>
    /// Downloads an update whose files a catalog listed (Patch catalog 1.1 <c>files</c>, or the Microsoft Update
    /// Catalog's resolution), in install order: each from the staging location first (by its file name, or by its
    /// SHA-256), then from its URL, each verified; the last is the update's own package, the others its prerequisites.
    /// </summary>
    public async Task<DownloadOutcome> DownloadFilesAsync(string updateKey, IReadOnlyList<UpdateFile> files, bool verify, string? stagingLocation, CancellationToken ct)
    {
        if (StagingRules.RefuseBeforeDownload(files, verify) is { } refusal) return new DownloadOutcome(false, null, 0, null, false, refusal, 0);
        await _slots.WaitAsync(ct);
        try
        {
            var staged = new List<(DownloadOutcome Outcome, UpdateFile File)>();
            var attempts = 0;
            long? total = files.All(f => f.Size is not null) ? files.Sum(f => f.Size!.Value) : null;
            foreach (var file in files)
            {
                var sources = DownloadSources.ForFile(file, stagingLocation).Where(s => !s.IsFile || FileAllowed(s, stagingLocation)).ToList();
                if (sources.Count == 0) return new DownloadOutcome(false, null, 0, file.Url, false, $"{file.FileName}: its URL is not an http, https or allowed file URL", attempts);
                DownloadOutcome? got = null;
                var reasons = new List<string>();
                foreach (var source in sources)
                {
                    var before = staged.Sum(s => s.Outcome.Size);
                    var (outcome, tries) = await FromSourceAsync($"{updateKey}|{file.FileName}", new Progress(updateKey, before, total, files.Count == 1), source, file.FileName,
                        file.Sha256, file.Sha1, file.Size, verify, ct);
                    attempts += tries;
                    if (outcome.Success)
                    {
                        foreach (var tried in sources.TakeWhile(s => s != source)) store.RemovePartial($"{updateKey}|{file.FileName}|{tried}");
                        got = outcome;
                        progress.Report(updateKey, before + outcome.Size, total);
                        break;
                    }
                    reasons.Add($"{source}: {outcome.Reason}");
                }
                if (got is null) return new DownloadOutcome(false, null, 0, sources[^1].ToString(), false, $"{file.FileName}: {string.Join("; ", reasons)}", attempts);
                staged.Add((got, file));
            }
            var main = staged[^1];
            return new DownloadOutcome(true, main.Outcome.Sha256, main.Outcome.Size, main.Outcome.Source, staged.All(s => s.Outcome.Verified), null, attempts,
                staged.SkipLast(1).Select(s => new PackageFile(s.Outcome.Sha256!, s.Outcome.Size, s.File.FileName)).ToList(), main.File.FileName);
        }
        finally
        {
            progress.Done(updateKey);
            _slots.Release();
        }
    }

    private static async Task<string> Sha1Async(string path, CancellationToken ct)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await System.Security.Cryptography.SHA1.HashDataAsync(stream, ct));
    }

    /// <summary>Fetches into the partial file, resuming from its length. Returns a permanent failure's reason, or null when complete.</summary>
    private async Task<string?> FetchAsync(Progress progressOf, Uri source, string partial, long? expectedSize, CancellationToken ct)
    {
        if (source.IsFile)
        {
            var file = new FileInfo(source.LocalPath);
            if (!file.Exists) return "not found";
            if (TooLarge(file.Length, expectedSize) is { } tooLarge) return tooLarge;
            File.Copy(file.FullName, partial, overwrite: true);
            return null;
        }

        var existing = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, source);
        if (existing > 0) request.Headers.Range = new RangeHeaderValue(existing, null);
        using var client = http.CreateClient("staging");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && existing > 0)
        {
            File.Delete(partial);
            throw new IOException("the server refused to resume; starting over");
        }
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone or HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized)
            return $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");

        var resumed = response.StatusCode == HttpStatusCode.PartialContent && existing > 0;
        var total = resumed ? response.Content.Headers.ContentRange?.Length : response.Content.Headers.ContentLength;
        if (TooLarge(total ?? 0, expectedSize) is { } large) return large;
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        await using var output = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write);
        var buffer = new byte[81920];
        long received = resumed ? existing : 0;
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            await output.WriteAsync(buffer.AsMemory(0, read), ct);
            received += read;
            progress.Report(progressOf.UpdateKey, progressOf.Before + received, progressOf.Total ?? (progressOf.Announced ? total : null));
            if (TooLarge(received, expectedSize) is { } grew) return grew;
        }
        if (total is { } t && received < t) throw new IOException($"connection closed after {received} of {t} bytes");
        return null;
    }

    /// <summary>A file URL must lie under the staging location or a configured folder, never anywhere on the server.</summary>
    private bool FileAllowed(Uri source, string? stagingLocation)
    {
        var path = Path.GetFullPath(source.LocalPath);
        var roots = options.AllowedFileFolders.AsEnumerable();
        if (stagingLocation is not null)
            roots = roots.Append(Uri.TryCreate(stagingLocation, UriKind.Absolute, out var u) && u.IsFile ? u.LocalPath : stagingLocation);
        return roots.Where(r => !string.IsNullOrWhiteSpace(r) && !(Uri.TryCreate(r, UriKind.Absolute, out var x) && !x.IsFile))
            .Select(r => Path.GetFullPath(r).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar)
            .Any(root => path.StartsWith(root, StringComparison.Ordinal));
    }

    private string? TooLarge(long size, long? expected)
    {
        if (size > options.MaxPackageBytes) return $"too large: {size} bytes, the limit (Patch:Staging:MaxPackageBytes) is {options.MaxPackageBytes}";
        if (expected is { } e && size > e) return $"too large: {size} bytes where the catalog says {e}";
        return null;
    }
}
