using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Patch.Application.Staging;

/// <summary>
/// The content-addressed package store: <c>{root}/sha256/ab/abcdef…</c>. A package's name is its hash, so nothing
/// a request sends can name any other file; partial downloads wait in <c>{root}/partial</c> until verified.
/// </summary>
public sealed partial class PackageStore
{
    public PackageStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(Root, "sha256"));
        Directory.CreateDirectory(Path.Combine(Root, "partial"));
    }

    public string Root { get; }

    public static bool IsSha256(string? value) => value is not null && Sha256Pattern().IsMatch(value);

    public string PathOf(string sha256)
    {
        if (!IsSha256(sha256)) throw new ArgumentException($"'{sha256}' is not a lower-case SHA-256.", nameof(sha256));
        return Path.Combine(Root, "sha256", sha256[..2], sha256);
    }

    public bool Has(string sha256) => IsSha256(sha256) && File.Exists(PathOf(sha256));

    /// <summary>
    /// <see cref="Has"/> for a file about to be recorded again (staged from the store, a replicated or bundled package
    /// already here): its time is renewed, so the package cleanup's sweep of files nothing records — which spares files
    /// touched within the partial retention — cannot take it between now and its record.
    /// </summary>
    public bool Reuse(string sha256)
    {
        if (!Has(sha256)) return false;
        try { File.SetLastWriteTimeUtc(PathOf(sha256), DateTime.UtcNow); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return Has(sha256);
    }

    /// <summary>Where the partial download of one update from one source waits; kept between attempts for Range resumes.</summary>
    public string PartialPath(string updateKey) =>
        Path.Combine(Root, "partial", Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(updateKey)))[..32] + ".part");

    /// <summary>Moves a verified file into the store under its hash (replacing nothing that is already there).</summary>
    public string Commit(string partialPath, string sha256)
    {
        var target = PathOf(sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (Reuse(sha256)) File.Delete(partialPath);
        else File.Move(partialPath, target);
        return target;
    }

    /// <summary>Deletes a stored package (nothing when it is not there); the failure when it cannot be (in use, read-only, immutable).</summary>
    public Exception? Remove(string sha256)
    {
        try
        {
            if (Has(sha256)) File.Delete(PathOf(sha256));
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e;
        }
    }

    /// <summary>
    /// Deletes the stored packages outside <paramref name="keep"/> that nothing touched since <paramref name="before"/>
    /// (<see cref="Reuse"/> renews a package's time); each file's time is read again just before it goes. Answers how
    /// many went, and how many could not.
    /// </summary>
    public (int Removed, int Failed) RemoveUntouchedSince(DateTimeOffset before, IReadOnlySet<string> keep)
    {
        int removed = 0, failed = 0;
        foreach (var (sha, file) in All().Where(f => !keep.Contains(f.Sha256)).ToList())
        {
            file.Refresh();
            if (!file.Exists || file.LastWriteTimeUtc >= before.UtcDateTime) continue;
            if (Remove(sha) is null) removed++;
            else failed++;
        }
        return (removed, failed);
    }

    /// <summary>
    /// Deletes the partial downloads nothing wrote since <paramref name="before"/> (a source that failed for good, an update
    /// never staged again): a download under way writes its file at every read. Answers how many went, and how many could not.
    /// </summary>
    public (int Removed, int Failed) RemovePartialsUntouchedSince(DateTimeOffset before)
    {
        int removed = 0, failed = 0;
        foreach (var file in new DirectoryInfo(Path.Combine(Root, "partial")).EnumerateFiles("*.part"))
        {
            if (file.LastWriteTimeUtc >= before.UtcDateTime) continue;
            try { file.Delete(); removed++; }
            catch (IOException) { failed++; }
            catch (UnauthorizedAccessException) { failed++; }
        }
        return (removed, failed);
    }

    /// <summary>Deletes a partial download, if there is one (its update was staged from another source); one that cannot be is left to the cleanup task.</summary>
    public void RemovePartial(string key)
    {
        try
        {
            var path = PartialPath(key);
            if (File.Exists(path)) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    public IEnumerable<(string Sha256, FileInfo File)> All() =>
        Directory.EnumerateFiles(Path.Combine(Root, "sha256"), "*", SearchOption.AllDirectories)
            .Select(f => new FileInfo(f)).Where(f => IsSha256(f.Name)).Select(f => (f.Name, f));

    public static async Task<string> HashAsync(string path, CancellationToken ct)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();
}
