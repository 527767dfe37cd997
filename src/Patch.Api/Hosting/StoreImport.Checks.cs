using System.Text;
using System.Text.Json.Nodes;
using JasperFx.Events;
using Marten;
using Marten.Events;
using Npgsql;

namespace Patch.Api.Hosting;

/// <summary>
/// What an archive whose lines hash to its manifest may still hold that a store cannot: an event this server cannot read
/// (a type it does not have, data that is not that type's), and a stream whose version is not its events' count. Checked
/// before the load commits, so that a refusal writes nothing, rather than found by a projection half-way through the
/// rebuild.
/// </summary>
public static partial class StoreImport
{
    /// <summary>The gzip header's first two bytes: a file without them is not an archive <c>export</c> wrote.</summary>
    private static async Task RefuseUncompressedAsync(string file, CancellationToken ct)
    {
        var magic = new byte[2];
        await using var input = File.OpenRead(file);
        if (await input.ReadAtLeastAsync(magic, 2, throwOnEndOfStream: false, ct) < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
            throw new StoreArchiveException("Not a Patch store archive: the file is not gzip-compressed (an archive written by 'export' is).");
    }

    /// <summary>Whether the line is the manifest, however its JSON is spaced (a line naming "manifest" elsewhere is read to be sure).</summary>
    private static bool IsManifest(string line) =>
        line.Contains("\"manifest\"", StringComparison.Ordinal) && JsonNode.Parse(line) is JsonObject o && o["kind"] is JsonValue kind
        && kind.TryGetValue<string>(out var text) && text == "manifest";

    /// <summary>
    /// The event on line <paramref name="number"/> as Marten will read it: its .NET type (<c>mt_dotnet_type</c>) one this server
    /// has, under the name (<c>type</c>) the server gives it, and its data that type's JSON.
    /// </summary>
    private static void CheckEvent(IDocumentStore store, JsonNode row, long number)
    {
        var name = (row["type"] as JsonValue)?.TryGetValue<string>(out var n) == true ? n : null;
        var dotnet = (row["mt_dotnet_type"] as JsonValue)?.TryGetValue<string>(out var d) == true ? d : null;
        var type = dotnet is null ? null : Type.GetType(dotnet, throwOnError: false);
        var printable = Domain.Users.UserDecisions.Printable(name ?? "(none)");
        if (type is null || ((EventGraph)store.Options.Events).EventMappingFor(type).EventTypeName != name)
            throw new StoreArchiveException($"Line {number}: the event type '{printable}' is not one this server has (its .NET type '{Domain.Users.UserDecisions.Printable(dotnet ?? "(none)")}'): an archive from another product or a newer Patch.");
        try
        {
            using var data = new MemoryStream(Encoding.UTF8.GetBytes(row["data"]?.ToJsonString() ?? "null"));
            if (store.Options.Serializer().FromJson(type, data) is null) throw new FormatException("it has no data");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or InvalidOperationException or NotSupportedException or ArgumentException)
        {
            throw new StoreArchiveException($"Line {number}: the '{printable}' event's data cannot be read as that event: {e.Message}");
        }
    }

    /// <summary>Every stream's version is its events' count, numbered from 1 (the version its writers and readers check).</summary>
    private static async Task CheckStreamsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"""
            select s.id, s.version, count(e.seq_id), min(e.version), max(e.version)
            from {S}.mt_streams s left join {S}.mt_events e on e.stream_id = s.id
            group by s.id, s.version
            having count(e.seq_id) <> s.version or coalesce(max(e.version), 0) <> s.version or coalesce(min(e.version), 1) <> 1
            order by s.id limit 1
            """, conn, tx);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (await reader.ReadAsync(ct))
            throw new StoreArchiveException($"The archive's stream '{Domain.Users.UserDecisions.Printable(reader.GetString(0))}' is at version {reader.GetInt64(1)} but holds "
                + (reader.IsDBNull(3) ? "no event" : $"{reader.GetInt64(2)} events, versions {reader.GetInt64(3)} to {reader.GetInt64(4)}") + ": events are missing or were added.");
    }

    /// <summary>
    /// A rebuild that failed after the load committed: every event, document and read model it wrote is removed, so the
    /// target is empty again, as it was, and can take another archive.
    /// </summary>
    private static async Task EmptyAsync(NpgsqlDataSource db, IDocumentStore store, CancellationToken ct)
    {
        await store.Advanced.Clean.DeleteAllEventDataAsync(ct);
        await store.Advanced.Clean.DeleteAllDocumentsAsync(ct);
        await using var conn = await db.OpenConnectionAsync(ct);
        await Projections.Compliance.ComplianceTables.TruncateAsync(conn, null, ct);
        await Projections.Delivery.DeliveryTables.TruncateAsync(conn, ct);
        await Projections.History.ReadModelHistory.TruncateAsync(conn, ct);
        await using var keys = new NpgsqlCommand($"delete from {S}.data_protection_keys", conn);
        await keys.ExecuteNonQueryAsync(ct);
    }
}
