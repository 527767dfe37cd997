using System.Text.Json;
using System.Text.Json.Serialization;

namespace Patch.Application.Common;

/// <summary>
/// An instant in a request body, read as a query parameter's is (<see cref="IsoInstant"/>): a date, or a time with its
/// offset. System.Text.Json alone reads <c>"2026-12-07T00:00:00"</c> as the server's local time — a token's expiry or a
/// maintenance check asked in the caller's zone would be taken in another. The offset given is kept. Written as before.
/// </summary>
public sealed class InstantJsonConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String || !IsoInstant.TryParse(reader.GetString(), out var at, keepOffset: true))
            throw new JsonException("The JSON value could not be converted to an instant.");
        return at;
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
