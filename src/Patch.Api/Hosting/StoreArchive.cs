using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Marten;
using Npgsql;
using Patch.Projections;

namespace Patch.Api.Hosting;

/// <summary>What an export or import did.</summary>
public sealed record StoreArchiveCounts(long Streams, long Events, long Keys, long Packages, bool Secrets);

/// <summary>An archive refused: the reason names the problem; nothing was written.</summary>
public sealed class StoreArchiveException(string message) : Exception(message);

/// <summary>
/// The whole store as a portable archive (docs/store-archive.md): gzip-compressed JSON lines — a header (format and
/// version), every stream and every event with its metadata in global order, the Data Protection key ring and
/// optionally the package store, then a manifest with the counts and the SHA-256 of every line before it. Written and
/// read as a stream: memory stays flat whatever the store's size. Secrets (password, token and agent credential
/// hashes, the key ring) are carried, marked sensitive, unless left out.
/// </summary>
public static class StoreArchive
{
    public const string Format = "patch-store";
    public const int Version = 1;
    private const int PackageChunk = 512 * 1024;
    private static readonly string[] SecretFields = ["passwordHash", "secretSha256", "credentialSha256", "previousCredentialSha256"];
    private const string S = ReadModels.Schema;

    public static async Task<StoreArchiveCounts> ExportAsync(NpgsqlDataSource db, string file, bool withSecrets, string? packageDirectory, CancellationToken ct)
    {
        await using (var ring = db.CreateCommand(Patch.Application.Security.PostgresXmlRepository.Ddl)) await ring.ExecuteNonQueryAsync(ct);
        await using var output = File.Create(file);
        await using var gzip = new GZipStream(output, CompressionLevel.Fastest);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        async Task LineAsync(JsonNode line)
        {
            var bytes = Encoding.UTF8.GetBytes(line.ToJsonString() + "\n");
            hash.AppendData(bytes);
            await gzip.WriteAsync(bytes, ct);
        }
        await LineAsync(new JsonObject { ["kind"] = "header", ["format"] = Format, ["version"] = Version, ["createdAt"] = DateTimeOffset.UtcNow, ["sensitive"] = withSecrets });
        await using var conn = await db.OpenConnectionAsync(ct);
        // One snapshot for the whole archive: streams and events agree even while the server keeps writing.
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        long streams = 0, events = 0, keys = 0, packages = 0;
        await foreach (var row in RowsAsync(conn, tx, $"select to_jsonb(s)::text from {S}.mt_streams s order by s.id", ct))
        {
            await LineAsync(new JsonObject { ["kind"] = "stream", ["row"] = JsonNode.Parse(row) });
            streams++;
        }
        await foreach (var row in RowsAsync(conn, tx, $"select to_jsonb(e)::text from {S}.mt_events e order by e.seq_id", ct))
        {
            var node = JsonNode.Parse(row)!;
            if (!withSecrets && node["data"] is JsonObject data) Redact(data);
            await LineAsync(new JsonObject { ["kind"] = "event", ["row"] = node });
            events++;
        }
        if (withSecrets)
            await foreach (var row in RowsAsync(conn, tx, $"select jsonb_build_object('friendlyName', friendly_name, 'xml', xml)::text from {S}.data_protection_keys order by id", ct))
            {
                await LineAsync(new JsonObject { ["kind"] = "key", ["row"] = JsonNode.Parse(row) });
                keys++;
            }
        // Every package of the store (sha256/ab/abcd…, as PackageStore keeps them), in hash order.
        if (packageDirectory is not null && Directory.Exists(Path.Combine(packageDirectory, "sha256")))
            foreach (var path in new Patch.Application.Staging.PackageStore(packageDirectory).All().OrderBy(p => p.Sha256, StringComparer.Ordinal).Select(p => p.File.FullName))
            {
                await using var package = File.OpenRead(path);
                var buffer = new byte[PackageChunk];
                long offset = 0;
                int read;
                while ((read = await package.ReadAsync(buffer, ct)) > 0)
                {
                    await LineAsync(new JsonObject { ["kind"] = "package", ["sha256"] = Path.GetFileName(path), ["offset"] = offset, ["data"] = Convert.ToBase64String(buffer, 0, read) });
                    offset += read;
                }
                packages++;
            }
        var counts = new StoreArchiveCounts(streams, events, keys, packages, withSecrets);
        var manifest = new JsonObject
        {
            ["kind"] = "manifest", ["streams"] = streams, ["events"] = events, ["keys"] = keys, ["packages"] = packages,
            ["sha256"] = Convert.ToHexStringLower(hash.GetHashAndReset()),
        };
        var last = Encoding.UTF8.GetBytes(manifest.ToJsonString() + "\n");
        await gzip.WriteAsync(last, ct);
        return counts;
    }

    private static void Redact(JsonObject node)
    {
        foreach (var (name, value) in node.ToList())
        {
            // An empty hash matches no password or credential: the accounts and agents exist, nobody can sign in as them.
            if (SecretFields.Contains(name, StringComparer.OrdinalIgnoreCase) && value is not null) node[name] = "";
            else if (value is JsonObject inner) Redact(inner);
            else if (value is JsonArray array) foreach (var item in array.OfType<JsonObject>()) Redact(item);
        }
    }

    private static async IAsyncEnumerable<string> RowsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx) { CommandTimeout = 0 };
        await using var reader = await cmd.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, ct);
        while (await reader.ReadAsync(ct)) yield return reader.GetString(0);
    }
}
