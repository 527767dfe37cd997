using System.Text.Json;

namespace Patch.Domain;

/// <summary>Structural equality for records that hold lists (record equality compares list references).</summary>
public static class ValueEquality
{
    public static bool Same<T>(T a, T b) => JsonSerializer.Serialize(a) == JsonSerializer.Serialize(b);
}
