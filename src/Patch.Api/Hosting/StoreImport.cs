using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Marten;
using Npgsql;
using Patch.Projections;

namespace Patch.Api.Hosting;

/// <summary>
/// Loads a store archive (<see cref="StoreArchive"/>) into an empty server in one transaction, verified line by line
/// against the manifest: a newer format, a checksum or count mismatch, a truncated or unreadable archive, or a target
/// that already holds events is refused with the reason and nothing is written. Then every read model is rebuilt from
/// the imported events.
/// </summary>
public static partial class StoreImport
{
    private const string S = ReadModels.Schema;
    private const int Batch = 1000;

    public static async Task<StoreArchiveCounts> ImportAsync(NpgsqlDataSource db, IDocumentStore store, string file, string? packageDirectory, CancellationToken ct)
    {
        await ReadModelSchema.EnsureAsync(db, store, ct);
        await using (var keys = db.CreateCommand(Patch.Application.Security.PostgresXmlRepository.Ddl)) await keys.ExecuteNonQueryAsync(ct);
        await using (var existing = db.CreateCommand($"select count(*) from {S}.mt_events"))
            if ((long)(await existing.ExecuteScalarAsync(ct))! is var held and > 0)
                throw new StoreArchiveException($"The target store is not empty: it holds {held:N0} events. Import into a new, empty database.");
        await RefuseUncompressedAsync(file, ct);
        await VerifyAsync(file, ct);
        var staging = packageDirectory is null ? null : Path.Combine(packageDirectory, "partial", $"import-{Guid.NewGuid():N}");
        try
        {
            var counts = await LoadAsync(db, store, file, staging, ct);
            if (staging is not null && Directory.Exists(staging))
            {
                // Where the server looks for them: PackageStore's own layout.
                var packageStore = new Patch.Application.Staging.PackageStore(packageDirectory!);
                foreach (var path in Directory.EnumerateFiles(staging))
                {
                    var target = packageStore.PathOf(Path.GetFileName(path));
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    File.Move(path, target, overwrite: true);
                }
            }
            try
            {
                await RebuildAsync(db, store, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await EmptyAsync(db, store, CancellationToken.None);
                throw new StoreArchiveException($"The archive's events could not be projected ({e.GetBaseException().Message}): nothing was kept, the store is empty again.");
            }
            return counts;
        }
        finally
        {
            if (staging is not null && Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static async Task<StoreArchiveCounts> LoadAsync(NpgsqlDataSource db, IDocumentStore store, string file, string? staging, CancellationToken ct)
    {
        await using var input = File.OpenRead(file);
        await using var gzip = new GZipStream(input, CompressionMode.Decompress);
        using var text = new StreamReader(gzip, new UTF8Encoding(false, throwOnInvalidBytes: true));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var importing = new NpgsqlCommand("select set_config('patch.importing', 'on', true)", conn, tx)) await importing.ExecuteNonQueryAsync(ct);
        var streams = new List<JsonNode>();
        var events = new List<JsonNode>();
        long streamCount = 0, eventCount = 0, keyCount = 0;
        var packages = new HashSet<string>();
        var header = false;
        string? line;
        long number = 0;
        try
        {
            while ((line = await text.ReadLineAsync(ct)) is not null)
            {
                number++;
                var node = JsonNode.Parse(line) as JsonObject ?? throw new StoreArchiveException($"Line {number} is not a JSON object.");
                var kind = node["kind"]?.GetValue<string>();
                if (!header)
                {
                    if (kind != "header" || node["format"]?.GetValue<string>() != StoreArchive.Format)
                        throw new StoreArchiveException("Not a Patch store archive: its first line is not a patch-store header.");
                    var version = node["version"]?.GetValue<int>() ?? 0;
                    if (version > StoreArchive.Version)
                        throw new StoreArchiveException($"The archive's format version {version} is newer than this server reads ({StoreArchive.Version}): import it with a newer Patch.");
                    header = true;
                }
                else if (kind == "manifest")
                {
                    await FlushAsync(conn, tx, "mt_streams", streams, ct);
                    await FlushAsync(conn, tx, "mt_events", events, ct);
                    var expected = node["sha256"]?.GetValue<string>();
                    if (expected != Convert.ToHexStringLower(hash.GetHashAndReset()))
                        throw new StoreArchiveException("Checksum mismatch: the archive's content is not what its manifest says (it was altered or damaged).");
                    if (node["streams"]?.GetValue<long>() != streamCount || node["events"]?.GetValue<long>() != eventCount || node["keys"]?.GetValue<long>() != keyCount
                        || node["packages"]?.GetValue<long>() != packages.Count)
                        throw new StoreArchiveException("Count mismatch: the archive holds other numbers of streams, events, keys or packages than its manifest says.");
                    if (await text.ReadLineAsync(ct) is not null) throw new StoreArchiveException("Content after the manifest: the archive was altered.");
                    await CheckStreamsAsync(conn, tx, ct);
                    if (staging is not null) VerifyPackages(staging, packages);
                    await using (var sequence = new NpgsqlCommand($"select setval('{S}.mt_events_sequence', greatest((select max(seq_id) from {S}.mt_events), 1))", conn, tx))
                        await sequence.ExecuteNonQueryAsync(ct);
                    await tx.CommitAsync(ct);
                    return new StoreArchiveCounts(streamCount, eventCount, keyCount, packages.Count, node["keys"]!.GetValue<long>() > 0);
                }
                else
                {
                    switch (kind)
                    {
                        case "stream": streams.Add(node["row"]!.DeepClone()); streamCount++; break;
                        case "event":
                            CheckEvent(store, node["row"]!, number);
                            events.Add(node["row"]!.DeepClone());
                            eventCount++;
                            break;
                        case "key":
                            await using (var key = new NpgsqlCommand($"insert into {S}.data_protection_keys (friendly_name, xml) values (@name, @xml)", conn, tx))
                            {
                                key.Parameters.AddWithValue("name", node["row"]!["friendlyName"]!.GetValue<string>());
                                key.Parameters.AddWithValue("xml", node["row"]!["xml"]!.GetValue<string>());
                                await key.ExecuteNonQueryAsync(ct);
                            }
                            keyCount++;
                            break;
                        case "package":
                            var sha = node["sha256"]!.GetValue<string>();
                            if (!Patch.Application.Staging.PackageStore.IsSha256(sha)) throw new StoreArchiveException($"Line {number}: '{sha}' is not a package's SHA-256.");
                            packages.Add(sha);
                            if (staging is not null)
                            {
                                Directory.CreateDirectory(staging);
                                await using var part = new FileStream(Path.Combine(staging, sha), FileMode.OpenOrCreate, FileAccess.Write);
                                part.Seek(node["offset"]!.GetValue<long>(), SeekOrigin.Begin);
                                await part.WriteAsync(Convert.FromBase64String(node["data"]!.GetValue<string>()), ct);
                            }
                            break;
                        default: throw new StoreArchiveException($"Line {number}: unknown record kind '{kind}'.");
                    }
                    if (streams.Count >= Batch) await FlushAsync(conn, tx, "mt_streams", streams, ct);
                    if (events.Count >= Batch)
                    {
                        // Every stream comes before the events (their foreign key): the streams still held go first.
                        await FlushAsync(conn, tx, "mt_streams", streams, ct);
                        await FlushAsync(conn, tx, "mt_events", events, ct);
                    }
                }
                hash.AppendData(Encoding.UTF8.GetBytes(line + "\n"));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or DecoderFallbackException or FormatException or InvalidOperationException or EndOfStreamException)
        {
            throw new StoreArchiveException($"The archive is not readable at line {number + 1}: {e.Message}");
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.ForeignKeyViolation or PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.InvalidTextRepresentation
                                              or PostgresErrorCodes.NotNullViolation or PostgresErrorCodes.DatetimeFieldOverflow)
        {
            throw new StoreArchiveException($"The archive's rows do not fit a store (line {number}): {e.MessageText}");
        }
        throw new StoreArchiveException(header ? "The archive is truncated: it ends before its manifest." : "The archive is empty.");
    }

    /// <summary>
    /// A first pass over the archive before anything is written: its header (a newer format is refused), every line's
    /// bytes against the manifest's SHA-256, and the end (a truncated archive has no manifest).
    /// </summary>
    private static async Task VerifyAsync(string file, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long number = 0;
        try
        {
            await using var input = File.OpenRead(file);
            await using var gzip = new GZipStream(input, CompressionMode.Decompress);
            using var text = new StreamReader(gzip, new UTF8Encoding(false, throwOnInvalidBytes: true));
            string? line;
            while ((line = await text.ReadLineAsync(ct)) is not null)
            {
                number++;
                if (number == 1)
                {
                    var header = JsonNode.Parse(line) as JsonObject;
                    if (header?["kind"]?.GetValue<string>() != "header" || header["format"]?.GetValue<string>() != StoreArchive.Format)
                        throw new StoreArchiveException("Not a Patch store archive: its first line is not a patch-store header.");
                    if (header["version"]?.GetValue<int>() is var version and > StoreArchive.Version)
                        throw new StoreArchiveException($"The archive's format version {version} is newer than this server reads ({StoreArchive.Version}): import it with a newer Patch.");
                }
                else if (IsManifest(line))
                {
                    if (JsonNode.Parse(line)?["sha256"]?.GetValue<string>() != Convert.ToHexStringLower(hash.GetHashAndReset()))
                        throw new StoreArchiveException("Checksum mismatch: the archive's content is not what its manifest says (it was altered or damaged).");
                    if (await text.ReadLineAsync(ct) is not null) throw new StoreArchiveException("Content after the manifest: the archive was altered.");
                    return;
                }
                hash.AppendData(Encoding.UTF8.GetBytes(line + "\n"));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or DecoderFallbackException or InvalidOperationException or EndOfStreamException)
        {
            throw new StoreArchiveException($"The archive is not readable at line {number + 1}: {e.Message}");
        }
        throw new StoreArchiveException(number == 0 ? "The archive is empty." : "The archive is truncated: it ends before its manifest.");
    }

    private static async Task FlushAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string table, List<JsonNode> rows, CancellationToken ct)
    {
        if (rows.Count == 0) return;
        await using var cmd = new NpgsqlCommand($"insert into {S}.{table} select * from jsonb_populate_recordset(null::{S}.{table}, @rows::jsonb)", conn, tx);
        cmd.Parameters.AddWithValue("rows", new JsonArray([.. rows]).ToJsonString());
        await cmd.ExecuteNonQueryAsync(ct);
        rows.Clear();
    }

    private static void VerifyPackages(string staging, IEnumerable<string> packages)
    {
        foreach (var sha in packages)
        {
            using var stream = File.OpenRead(Path.Combine(staging, sha));
            if (Convert.ToHexStringLower(SHA256.HashData(stream)) != sha)
                throw new StoreArchiveException($"Package {sha}: its bytes do not hash to its name.");
        }
    }

    /// <summary>
    /// Every read model from the imported events: the documents through Marten's projections, the delivery and compliance
    /// tables (with their history) through their rebuilds. Document histories start at the import.
    /// </summary>
    private static async Task RebuildAsync(NpgsqlDataSource db, IDocumentStore store, CancellationToken ct)
    {
        using (var daemon = await store.BuildProjectionDaemonAsync())
            foreach (var type in PatchProjections.Documents) await daemon.RebuildProjectionAsync(type, ct);
        await Projections.Delivery.DeliveryTables.RebuildAsync(db, ct);
        await new Projections.Compliance.ComplianceRebuild(store, db).RunAsync(null, ct);
        await using var kept = db.CreateCommand($"update {S}.{Projections.History.ReadModelHistory.KeptSinceTable} set kept_since = now()");
        await kept.ExecuteNonQueryAsync(ct);
    }
}
