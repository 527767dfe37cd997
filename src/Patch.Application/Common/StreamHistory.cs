using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Marten;

namespace Patch.Application.Common;

public sealed record HistoryEntry(
    long Version,
    long Sequence,
    string Type,
    DateTimeOffset Timestamp,
    string? Actor,
    string? ActorKind,
    string? ActorId,
    string? CorrelationId,
    string? CausationId,
    JsonNode? Data);

/// <summary>Any stream's events with who/what caused each (C12). Stored hashes of secrets (passwords, tokens, credentials) are shown as "redacted".</summary>
public static class StreamHistory
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public static async Task<IReadOnlyList<HistoryEntry>> ReadAsync(IQuerySession session, string streamId, CancellationToken ct)
    {
        var events = await session.Events.FetchStreamAsync(streamId, token: ct);
        return events.Select(e => new HistoryEntry(e.Version, e.Sequence, e.EventTypeName, e.Timestamp, e.UserName, Header(e.Headers, "actorKind"),
            Header(e.Headers, "actorId"), e.CorrelationId, e.CausationId, Redacted(JsonSerializer.SerializeToNode(e.Data, e.Data.GetType(), Json)))).ToList();
    }

    public static JsonNode? Redacted(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o.ToList())
                {
                    if (IsSecret(name) && value is not null) o[name] = "redacted";
                    else Redacted(value);
                }
                break;
            case JsonArray a:
                foreach (var item in a) Redacted(item);
                break;
        }
        return node;
    }

    private static bool IsSecret(string name) =>
        name.EndsWith("Hash", StringComparison.OrdinalIgnoreCase) || name.EndsWith("Sha256", StringComparison.OrdinalIgnoreCase);

    private static string? Header(Dictionary<string, object>? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value) ? Text(value) : null;

    private static string? Text(object? value) => value switch
    {
        null => null,
        JsonElement { ValueKind: JsonValueKind.String } j => j.GetString(),
        _ => value.ToString(),
    };
}
