using System.Text.Json;
using Marten;

namespace Patch.Application.Common;

public sealed record HistoryEntry(
    long Version,
    long Sequence,
    string Type,
    DateTimeOffset Timestamp,
    string? Actor,
    string? ActorKind,
    string? CorrelationId,
    string? CausationId,
    object Data);

/// <summary>Any stream's events with who/what caused each (C12).</summary>
public static class StreamHistory
{
    public static async Task<IReadOnlyList<HistoryEntry>> ReadAsync(IQuerySession session, string streamId, CancellationToken ct)
    {
        var events = await session.Events.FetchStreamAsync(streamId, token: ct);
        return events.Select(e => new HistoryEntry(e.Version, e.Sequence, e.EventTypeName, e.Timestamp, e.UserName,
            e.Headers is { } h && h.TryGetValue("actorKind", out var kind) ? Text(kind) : null, e.CorrelationId, e.CausationId, e.Data)).ToList();
    }

    private static string? Text(object? value) => value switch
    {
        null => null,
        JsonElement { ValueKind: JsonValueKind.String } j => j.GetString(),
        _ => value.ToString(),
    };
}
