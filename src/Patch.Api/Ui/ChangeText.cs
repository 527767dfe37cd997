using System.Text.Json;
using System.Text.Json.Nodes;

namespace Patch.Api.Ui;

/// <summary>
/// A changed value as the audit page shows it: the API answers lists and objects as JSON text (the CSV keeps it so); the
/// console reads them in words — a list as its items, an object as "key: value" pairs, an empty list as "(none)".
/// </summary>
public static class ChangeText
{
    /// <summary><paramref name="value"/> in words; a text that is no JSON list or object is shown as it is.</summary>
    public static string Readable(string? value)
    {
        if (value is null) return "(none)";
        var t = value.TrimStart();
        if (t.Length == 0 || (t[0] != '[' && t[0] != '{')) return value;
        try
        {
            return Of(JsonNode.Parse(value), nested: false);
        }
        catch (JsonException)
        {
            return value;
        }
    }

    private static string Of(JsonNode? node, bool nested) => node switch
    {
        null => "(none)",
        JsonArray { Count: 0 } => "(none)",
        JsonArray a when a.All(i => i is JsonObject) => string.Join("; ", a.Select(i => Of(i, nested: false))),
        JsonArray a => Wrap(string.Join(", ", a.Select(i => Of(i, nested: true))), nested && a.Count > 1),
        JsonObject { Count: 0 } => "(none)",
        JsonObject o => Wrap(string.Join(", ", o.Where(p => p.Value is not null).Select(p => $"{RunText.Words(p.Key)}: {Of(p.Value, nested: true)}")), nested),
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "yes" : "no",
        _ => node.ToJsonString(),
    };

    private static string Wrap(string text, bool nested) => nested ? $"({text})" : text;
}
