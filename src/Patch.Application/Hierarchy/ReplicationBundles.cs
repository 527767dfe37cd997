using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Application.Staging;
using Patch.Domain.Catalog;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>The first line of a bundle: whose it is and which part of the parent's log it carries.</summary>
public sealed record BundleHeader(string Format, int Version, string ParentId, string ParentName, string ChildId, long After, DateTimeOffset Created);

/// <summary>The digests line: the parent's digest of a share of the bulletins the bundle touches, for the child's verification.</summary>
public sealed record BundleDigests(IReadOnlyDictionary<string, string?> Digests);

public sealed record BundleSignature(string Signature);

/// <summary>The policies line: the Software Update policies chosen for the child, as the policy feed gives them.</summary>
public sealed record BundlePolicies(IReadOnlyList<ReplicatedPolicy> Policies);

/// <summary>One piece (at most 1 MiB) of a package the bundle carries: where it goes in the file, and the file's hash and size.</summary>
public sealed record PackageChunk(string Sha256, long Size, long Offset, byte[] Data);

public sealed record BundleChunk(PackageChunk Chunk);

/// <summary>
/// A replication bundle for a disconnected site (issue 17 §6): the catalog events a child lacks, exported on the parent
/// to a file, carried over, imported on the child with the same checks as online replication. The file is gzip'd JSON
/// lines: the header, one line per page (the feed's own page), the digests, and last the signature — HMAC-SHA256 of
/// every byte before it, keyed like the feed's answers by the SHA-256 of the child's credential: only that child can
/// check it, and nobody without the parent's record of the child can make one.
/// </summary>
public static class ReplicationBundles
{
    public const string Format = "patch-replication-bundle";

    public static void MapReplicationBundles(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/hierarchy/children/{id}/bundle", async (string id, long? after, int? verify, bool? policies, bool? packages, HttpContext http, IQuerySession session,
                NpgsqlDataSource db, IDocumentStore store, HierarchyOptions options, PackageStore packageStore, TimeProvider time, CancellationToken ct) =>
            {
                if (await session.LoadAsync<ChildServer>(id, ct) is not { } child) return Problems.NotFound($"No child server '{id}'.");
                if (child.Revoked) return Results.Problem(title: "Child revoked", detail: $"'{child.Name}' was revoked: no bundle is made for it.", statusCode: 409);
                // Decided against the settings now: a disconnected child never reports again, so the alert it raised stays
                // stored after an administrator of this server came to manage its cultures.
                var missing = ChildServer.Missing(child.Cultures, (await Settings.CoreSettingsEndpoints.CurrentAsync(session, ct)).ManagedCultures);
                if (missing.Count > 0)
                    return Results.Problem(title: "Language alert", detail: $"This server does not manage {string.Join(", ", missing)}, which '{child.Name}' manages.", statusCode: 409);
                if (after is < 0) return Problems.Invalid("Invalid checkpoint", "after: 0 or a sequence number of this server's log (default: the child's last reported checkpoint)");
                if (after is > 0 and var asked && asked > await ReplicationFeed.HeadAsync(db, ct)) return ReplicationFeed.Diverged(asked);
                if (verify is < 0 or > 100) return Problems.Invalid("Invalid verify", "verify: a percentage from 0 to 100");
                if (packages == true && policies != true) return Problems.Invalid("Invalid bundle", "packages: only with policies=true (the packages of the policies chosen for the child)");
                var parentId = await ServerIdentities.GetAsync(store, time, ct);
                var header = new BundleHeader(Format, ReplicationProtocol.Version, parentId, options.Name, child.Id, after ?? child.Checkpoint, time.GetUtcNow());
                http.Response.Headers.ContentDisposition = $"attachment; filename=\"{Printable(child.Name)}-{header.After}.patch-bundle.gz\"";
                var chosen = policies == true ? await PolicyReplicationFeed.PoliciesAsync(session, child, ct) : null;
                return Results.Stream(body => WriteAsync(body, header, child, db, session, verify ?? options.VerifyPercent, chosen, packages == true ? packageStore : null, ct),
                    "application/gzip");
            })
            .WithTags("Hierarchy").ForAdministrator().WithName("ExportReplicationBundle")
            .WithSummary("A signed replication bundle for a disconnected child: the catalog events after 'after' (default: the child's last reported checkpoint) in pages, with digests of 'verify' % of the bulletins it touches (default Patch:Hierarchy:VerifyPercent); policies=true adds the Software Update policies chosen for the child, packages=true their packages. Import it on the child with POST /api/hierarchy/bundles.")
            .Produces(StatusCodes.Status200OK, contentType: "application/gzip").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);

        app.MapPost("/api/hierarchy/bundles", async (HttpContext http, BundleImporter importer, Catalog.CatalogImportOptions limits, CancellationToken ct) =>
            {
                byte[]? content;
                try
                {
                    (content, _) = await UploadedFile.ReadAsync(http, limits.MaxBytes, ct);
                }
                catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
                {
                    return Problems.Invalid("Unreadable upload", $"The upload could not be read: {UploadedFile.Describe(e)}");
                }
                if (content is null or { Length: 0 }) return Problems.Invalid("Missing bundle", "Send the bundle as the request body, or as the multipart form field 'file'.");
                if (content.Length > limits.MaxBytes)
                    return Results.Problem(title: "Bundle too large", detail: $"A bundle may have at most {limits.MaxBytes} bytes (Patch:Import:MaxBytes).", statusCode: 413);
                var (result, problem) = await importer.ImportAsync(content, Actor.From(http), ct);
                return problem == BundleImporter.ReplicationRunning ? Results.Problem(title: "Replication running", detail: problem, statusCode: StatusCodes.Status409Conflict)
                    : problem is not null ? Problems.Invalid("Invalid bundle", problem) : Results.Ok(result);
            })
            .WithTags("Hierarchy").ForAdministrator().WithName("ImportReplicationBundle").ChecksOwnBody().WithBodyLimit(_ => null)
            .WithSummary("Import a replication bundle from this server's parent (the request body or the multipart field 'file': the file GET /api/hierarchy/children/{id}/bundle made on the parent): signature, parent and child checked first, then its packages verified and stored (one that does not verify refuses the bundle before any page is applied), then page by page like online replication, then the policies and the digests. Recorded as a catalog-replication run (trigger 'bundle'); 409 while a catalog replication runs.")
            .Produces<BundleImported>().ProducesProblem(400).ProducesProblem(409).ProducesProblem(413);
    }

    private static string Printable(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());

    private static async Task WriteAsync(Stream body, BundleHeader header, ChildServer child, NpgsqlDataSource db, IQuerySession session, int verify,
        IReadOnlyList<ReplicatedPolicy>? policies, PackageStore? packages, CancellationToken ct)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Convert.FromHexString(child.CredentialSha256));
        await using var gzip = new GZipStream(body, CompressionLevel.Fastest, leaveOpen: true);
        async Task LineAsync(object value, bool signed = true)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(value, ReplicationProtocol.Json).Append((byte)'\n').ToArray();
            if (signed) hmac.AppendData(bytes);
            await gzip.WriteAsync(bytes, ct);
        }
        await LineAsync(header);
        var touched = new HashSet<string>(StringComparer.Ordinal);
        for (var after = header.After; ;)
        {
            var (events, next, head, nextId) = await CatalogLog.ReadAsync(db, after, 1000, ct);
            if (events.Count > 0 || after == header.After) await LineAsync(new FeedPage(ReplicationProtocol.Version, header.ParentId, after, next, head, events, nextId));
            foreach (var e in events.Where(e => e.Type.StartsWith("bulletin_", StringComparison.Ordinal) || e.Type.StartsWith("software_update_", StringComparison.Ordinal)))
                touched.Add(e.Stream);
            if (events.Count < 1000) break;
            after = next;
        }
        if (policies is not null) await LineAsync(new BundlePolicies(policies));
        if (policies is not null && packages is not null)
            // The packages of the updates the child takes (its cultures and neutral ones): it leaves the others out of its policies.
            foreach (var sha in policies.SelectMany(p => p.Updates).Where(u => Domain.Hierarchy.CatalogReplication.Wanted(u.Culture, child.Cultures))
                         .SelectMany(u => u.PackageHashes()).Distinct().Where(packages.Has))
            {
                await using var file = File.OpenRead(packages.PathOf(sha));
                var buffer = new byte[1024 * 1024];
                for (long offset = 0; ;)
                {
                    var read = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
                    if (read == 0 && offset > 0) break;
                    await LineAsync(new BundleChunk(new PackageChunk(sha, file.Length, offset, buffer[..read])));
                    offset += read;
                    if (read < buffer.Length) break;
                }
            }
        var sample = touched.OrderBy(_ => Random.Shared.Next()).Take((int)Math.Ceiling(touched.Count * verify / 100.0)).ToArray();
        var bulletins = sample.Length == 0 ? [] : await session.LoadManyAsync<Bulletin>(ct, sample);
        await LineAsync(new BundleDigests(bulletins.ToDictionary(b => b.Id, b => (string?)CatalogReplication.Digest(b.Facts, b.Updates, child.Cultures))));
        await LineAsync(new BundleSignature("sha256=" + Convert.ToHexStringLower(hmac.GetHashAndReset())), signed: false);
    }
}
