using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.Configuration;
using Patch.Application.Common;
using Patch.Application.ServerTasks;
using Patch.Domain.Hierarchy;
using Patch.Domain.ServerTasks;
using Wolverine;

namespace Patch.Application.Hierarchy;

/// <summary>What importing a bundle did; <c>Mismatched</c>: bulletins whose digest differs from the parent's.</summary>
public sealed record BundleImported(string RunId, string Status, int Pages, int Events, int Applied, int AlreadyApplied, int Skipped, int UnknownTypes, int Verified,
    IReadOnlyList<string> Mismatched, long Checkpoint, int Packages = 0, int PoliciesApplied = 0, IReadOnlyList<string>? PoliciesWaiting = null);

/// <summary>
/// The child's side of a bundle (<see cref="ReplicationBundles"/>): nothing is applied before the whole file was read
/// and its signature, format, parent and child checked, and its packages verified and stored; then each page is applied
/// in its own transaction with its checkpoint (a page already applied is passed over, a page after a gap stops the
/// import), the policies, and the digests compared.
/// </summary>
public sealed class BundleImporter(IDocumentStore store, ParentClient parent, TimeProvider time, Projections.Compliance.CatalogCache catalog, IMessageBus bus,
    ServerTaskRunner runner, IConfiguration config, PolicyReplicator policyReplicator, Staging.PackageStore packages)
{
    public async Task<(BundleImported? Result, string? Problem)> ImportAsync(byte[] content, Actor actor, CancellationToken ct)
    {
        if (await ParentLinks.LoadAsync(store, ct) is not { } link) return (null, ParentLinks.NoParent);
        if (Check(content, link, parent.KeyOf(link)) is { } problem) return (null, problem);

        // Never beside a replication run (the runner's lock of the task whose runs this records).
        await using var hold = await runner.TryHoldAsync(CatalogReplicator.TaskName, ct);
        if (hold is null) return (null, ReplicationRunning);
        var parameters = new Dictionary<string, string> { ["mode"] = "bundle", ["bytes"] = content.Length.ToString() };
        var runId = await ServerTaskRecorder.StartAsync(store, time, actor, CatalogReplicator.TaskName, "bundle", parameters, ct);
        var replication = new Actor("replication", link.ParentName, actor.CorrelationId, $"replication:{link.ParentId}");
        var cultures = await ParentLinks.CulturesAsync(store, ct);
        var tally = new ApplyTally();
        int pages = 0, events = 0, already = 0;
        IReadOnlyDictionary<string, string?> digests = new Dictionary<string, string?>();
        IReadOnlyList<ReplicatedPolicy>? policies = null;
        var packagesStored = 0;
        var pagesApplied = 0;
        try
        {
            // The packages first, each verified against the SHA-256 it is named by: a bundle carrying a package that does
            // not verify (the parent's copy is corrupt) is refused before any of its pages is applied.
            foreach (var line in Lines(content).Skip(1).Where(MayBeChunk))
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("chunk", out _) && await ChunkAsync(doc.RootElement.Deserialize<BundleChunk>(ReplicationProtocol.Json)!.Chunk, ct))
                    packagesStored++;
            }
            foreach (var line in Lines(content).Skip(1))
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("chunk", out _)) continue;
                if (doc.RootElement.TryGetProperty("events", out _))
                {
                    var page = doc.RootElement.Deserialize<FeedPage>(ReplicationProtocol.Json)!;
                    var outcome = await ReplicationPages.ApplyAsync(store, time, replication, runId, page, cultures, tally, ct);
                    if (outcome == PageOutcome.Gap)
                        throw new InvalidOperationException($"The bundle's page after {page.After} does not follow this server's checkpoint: export a bundle from this server's checkpoint (GET /api/hierarchy/parent).");
                    if (outcome == PageOutcome.AlreadyApplied) already++;
                    else pagesApplied++;
                    pages++;
                    events += page.Events.Count;
                }
                else if (doc.RootElement.TryGetProperty("digests", out _)) digests = doc.RootElement.Deserialize<BundleDigests>(ReplicationProtocol.Json)!.Digests;
                else if (doc.RootElement.TryGetProperty("policies", out _)) policies = doc.RootElement.Deserialize<BundlePolicies>(ReplicationProtocol.Json)!.Policies;
            }
            var (policyCounts, waiting) = policies is null ? (null, new List<string>())
                : await policyReplicator.ApplyAllAsync(link, replication, runId, policies, cultures, complete: false,
                    (sha, _, _) => Task.FromResult<string?>(packages.Reuse(sha) ? null : $"package {sha} is neither in the bundle nor in this server's package store"), ct);
            var mismatched = (await ReplicationVerification.CompareAsync(store, time, replication, runId, digests, cultures, ct)).Mismatched;
            if (tally.Applied > 0)
                await Catalog.CatalogChanged.FollowAsync(catalog, bus, runner, config, $"replication bundle {runId}", tally.Changed, ct);
            var policiesApplied = policyCounts?["applied"] + policyCounts?["disabled"] ?? 0;
            var status = tally.Applied == 0 && mismatched.Count == 0 && policiesApplied == 0 && packagesStored == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed;
            await ServerTaskRecorder.CompleteAsync(store, time, actor, runId, new TaskOutcome(new Dictionary<string, int>
            {
                ["pages"] = pages, ["events"] = events, ["applied"] = tally.Applied, ["alreadyApplied"] = already, ["skipped"] = tally.Skipped,
                ["unknownTypes"] = tally.Unknown.Count, ["verified"] = digests.Count, ["mismatched"] = mismatched.Count,
                ["packages"] = packagesStored, ["policiesApplied"] = policiesApplied, ["policiesWaiting"] = waiting.Count,
            }, status));
            var checkpoint = (await ParentLinks.RequireAsync(store, ct)).Checkpoint;
            return (new BundleImported(runId, status, pages, events, tally.Applied, already, tally.Skipped, tally.Unknown.Count, digests.Count, mismatched, checkpoint,
                packagesStored, policiesApplied, waiting), null);
        }
        catch (Exception e) when (e is InvalidOperationException or JsonException)
        {
            await ServerTaskRecorder.FailAsync(store, time, actor, runId, e.Message);
            await FollowAppliedAsync(tally, runId);
            return (null, e.Message);
        }
        catch (Exception e)
        {
            await FollowAppliedAsync(tally, runId);
            // Each page applied is kept with its checkpoint; the run is not left "running".
            await ServerTaskRecorder.FailAsync(store, time, actor, runId, e is OperationCanceledException
                ? "Cancelled before the bundle was imported: the pages applied until then are kept (each with its checkpoint)."
                : $"{e.GetType().Name}: {e.Message}");
            if (e is OperationCanceledException || pagesApplied + packagesStored == 0) throw;
            throw new PartlySavedException($"The bundle's packages were stored ({packagesStored}) and {pagesApplied} new page(s) applied, each with its "
                + "checkpoint; the rest of the bundle may not have been. Importing the same bundle again is safe: it passes over what was applied and goes on.", e);
        }
    }

    /// <summary>A line that may be a package's piece (a <see cref="BundleChunk"/>): the others are not parsed in the packages' pass.</summary>
    private static bool MayBeChunk(string line) => line.Contains("\"chunk\"", StringComparison.Ordinal);

    /// <summary>
    /// Pages applied before a failure are committed with their checkpoint (imported again, the bundle passes them over):
    /// their analysis and policy revision are asked for now, or never.
    /// </summary>
    private async Task FollowAppliedAsync(ApplyTally tally, string runId)
    {
        if (tally.Applied > 0)
            await Catalog.CatalogChanged.FollowAsync(catalog, bus, runner, config, $"replication bundle {runId} (failed part-way)", tally.Changed, CancellationToken.None);
    }

    /// <summary>The refusal while a catalog replication runs (409).</summary>
    public const string ReplicationRunning = "A catalog replication is running on this server: import the bundle once it has ended.";

    /// <summary>The whole file checked before anything is applied: gzip, JSON lines, header, the signature last.</summary>
    private static string? Check(byte[] content, ParentLink link, string key)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Convert.FromHexString(key));
        string? previous = null, signature;
        var count = 0;
        try
        {
            foreach (var line in Lines(content))
            {
                if (count++ == 0)
                {
                    var header = JsonSerializer.Deserialize<BundleHeader>(line, ReplicationProtocol.Json);
                    if (header?.Format != ReplicationBundles.Format) return "not a Patch replication bundle (its first line is no bundle header)";
                    if (header.Version != ReplicationProtocol.Version) return $"the bundle is version {header.Version}; this server reads version {ReplicationProtocol.Version}";
                    if (header.ParentId != link.ParentId) return $"the bundle was made by another server ({header.ParentName}, {header.ParentId}), not this server's parent";
                    if (header.ChildId != link.ChildId) return "the bundle was made for another child of the parent";
                }
                if (previous is not null) hmac.AppendData(Encoding.UTF8.GetBytes(previous + "\n"));
                previous = line;
            }
            if (count < 3 || previous is null) return "the bundle is incomplete (no pages or no signature)";
            signature = JsonSerializer.Deserialize<BundleSignature>(previous, ReplicationProtocol.Json)?.Signature;
        }
        catch (InvalidDataException e) { return e.Message.StartsWith("the bundle", StringComparison.Ordinal) ? e.Message : "not a gzip file"; }
        catch (DecoderFallbackException) { return "the bundle is not UTF-8 (a parent writes its bundles in UTF-8): it was damaged or converted"; }
        // A line cut short (a truncated file) or damaged: where, not the parser's own words.
        catch (JsonException e) { return $"line {count}: not JSON{(e.BytePositionInLine is { } at ? $" (at byte {at + 1})" : "")}: the bundle was damaged or cut short"; }
        var expected = "sha256=" + Convert.ToHexStringLower(hmac.GetHashAndReset());
        return signature is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(signature), Encoding.ASCII.GetBytes(expected)) ? null
            : "the signature does not match: the bundle was changed, truncated or not made for this server";
    }

    /// <summary>Appends a piece of a package; at its last piece the file is stored when its SHA-256 and size are the ones named (true), else dropped.</summary>
    private async Task<bool> ChunkAsync(PackageChunk chunk, CancellationToken ct)
    {
        if (!Staging.PackageStore.IsSha256(chunk.Sha256) || chunk.Offset < 0 || chunk.Size < 0) throw new InvalidOperationException("A package piece of the bundle names no valid package.");
        if (packages.Reuse(chunk.Sha256)) return false;
        var partial = packages.PartialPath($"bundle|{chunk.Sha256}");
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        await using (var file = new FileStream(partial, chunk.Offset == 0 ? FileMode.Create : FileMode.Open, FileAccess.Write))
        {
            if (file.Length != chunk.Offset) throw new InvalidOperationException($"The bundle's pieces of package {chunk.Sha256} are out of order.");
            file.Seek(chunk.Offset, SeekOrigin.Begin);
            await file.WriteAsync(chunk.Data, ct);
        }
        if (chunk.Offset + chunk.Data.Length < chunk.Size) return false;
        var actual = await Staging.PackageStore.HashAsync(partial, ct);
        if (actual != chunk.Sha256 || new FileInfo(partial).Length != chunk.Size)
        {
            File.Delete(partial);
            throw new InvalidOperationException($"Package {chunk.Sha256} in the bundle does not verify (SHA-256 {actual}).");
        }
        packages.Commit(partial, chunk.Sha256);
        return true;
    }

    /// <summary>A bundle's text expands at most this many times its compressed size: JSON compresses well, packages hardly; a gzip bomb far more.</summary>
    private const int MaxExpansion = 64;

    private static IEnumerable<string> Lines(byte[] content)
    {
        var gzip = new GZipStream(new MemoryStream(content, writable: false), CompressionMode.Decompress);
        // UTF-8 only, as the parent writes it: a byte-order mark is not looked for (a bundle in UTF-16 is refused as not UTF-8).
        using var reader = new StreamReader(new Bounded(gzip, (long)content.Length * MaxExpansion), new UTF8Encoding(false, true), detectEncodingFromByteOrderMarks: false);
        while (reader.ReadLine() is { } line) yield return line;
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes of the inner stream; past it the bundle is refused as malformed.</summary>
    private sealed class Bounded(Stream inner, long limit) : Stream
    {
        private long _read;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            if ((_read += n) > limit) throw new InvalidDataException($"the bundle expands to more than {limit} bytes");
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
