using System.Security.Cryptography;
using Patch.Domain.Cycle;

namespace Patch.Agent.Cycle;

/// <summary>The packages: the agent's cache, the vendor's alternate location, downloads with retries, each verified by SHA-256.</summary>
public sealed partial class CycleRunner
{
    /// <summary>
    /// The package in the agent's cache, verified by SHA-256, with its prerequisites (a checkpoint cumulative update's
    /// earlier files) beside it in the same folder, each verified too: the command line finds them there.
    /// </summary>
    private async Task<string?> DownloadAsync(AgentState state, Evaluation e, CancellationToken ct)
    {
        var file = await DownloadMainAsync(state, e, ct);
        if (file is null || e.Update.Prerequisites is not { Count: > 0 } prerequisites) return file;
        var folder = Path.GetDirectoryName(file)!;
        foreach (var p in prerequisites)
        {
            var path = Path.Combine(folder, SafeName(p.FileName) ?? p.Sha256);
            if (File.Exists(path) && await HashAsync(path, ct) == p.Sha256) continue;
            string? problem = null;
            try
            {
                await context.Client.DownloadAsync(state.Credential, p.PackageUrl, path, new Progress<long>(_ => { }), ct);
                if (await HashAsync(path, ct) != p.Sha256) { File.Delete(path); problem = $"the prerequisite {p.FileName}'s SHA-256 does not match the policy's"; }
            }
            catch (Exception ex) when (ex is HttpRequestException or AgentException or IOException or UnauthorizedAccessException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                problem = $"the prerequisite {p.FileName} could not be downloaded: {ex.Message}";
            }
            if (problem is null) continue;
            Record(e.Policy.PolicyId, e.Update, UpdateStatus.DownloadRequired, null, null, null, $"{problem}; tried again next cycle");
            return null;
        }
        return file;
    }

    private async Task<string?> DownloadMainAsync(AgentState state, Evaluation e, CancellationToken ct)
    {
        var u = e.Update;
        var folder = Path.Combine(PackageDirectory, u.Sha256);
        var file = Path.Combine(folder, SafeName(u.FileName) ?? u.Sha256);
        if (File.Exists(file) && await HashAsync(file, ct) == u.Sha256) return file;
        Directory.CreateDirectory(folder);
        // The vendor's alternate download location on the client: used when it holds the file with the right hash.
        if (e.Policy.AlternateLocation is { Length: > 0 } alternate && SafeName(u.FileName) is { } name && File.Exists(Path.Combine(alternate, name))
            && await HashAsync(Path.Combine(alternate, name), ct) == u.Sha256)
        {
            File.Copy(Path.Combine(alternate, name), file, overwrite: true);
            context.Log?.Invoke($"  {u.UpdateId}: taken from the alternate location {alternate}");
            return file;
        }
        var status = Entry(u.UpdateId)?.Status;
        var showProgress = _ledger.Assignments?.Configuration.Notifications.ShowProgress != false;
        Record(e.Policy.PolicyId, u, UpdateStatus.DownloadRequired, null, null, null, $"{u.Size:N0} bytes to download");
        for (var attempt = 1; attempt <= DownloadAttempts; attempt++)
        {
            string problem;
            try
            {
                var lastShown = 0L;
                var progress = new Progress<long>(bytes =>
                {
                    if (context.Log is null || !showProgress || u.Size <= 0 || bytes - lastShown < u.Size / 10 && bytes < u.Size) return;
                    lastShown = bytes;
                    context.Log($"  {u.UpdateId}: {bytes:N0} of {u.Size:N0} bytes ({100.0 * bytes / u.Size:0}%)");
                });
                await context.Client.DownloadAsync(state.Credential, u.PackageUrl, file, progress, ct);
                if (await HashAsync(file, ct) == u.Sha256)
                {
                    Record(e.Policy.PolicyId, u, status == UpdateStatus.FailedRescheduled ? UpdateStatus.FailedRescheduled : UpdateStatus.InstallationScheduled, null, null, null, "package downloaded and verified");
                    return file;
                }
                File.Delete(file);
                problem = "the package's SHA-256 does not match the policy's";
            }
            catch (Exception ex) when (ex is HttpRequestException or AgentException or IOException or UnauthorizedAccessException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                problem = ex.Message;
            }
            if (attempt < DownloadAttempts) Record(e.Policy.PolicyId, u, UpdateStatus.Retry, null, null, null, $"download attempt {attempt} failed: {problem}");
            else Record(e.Policy.PolicyId, u, UpdateStatus.DownloadRequired, null, null, null, $"download failed {DownloadAttempts} times: {problem}; tried again next cycle");
        }
        return null;
    }

    private static string? SafeName(string? fileName) =>
        fileName is null ? null : Path.GetFileName(fileName) is { Length: > 0 } name && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 ? name : null;

    private static async Task<string> HashAsync(string file, CancellationToken ct)
    {
        await using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }
}
