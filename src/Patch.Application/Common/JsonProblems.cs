using System.Text.Json;

namespace Patch.Application.Common;

/// <summary>What System.Text.Json's refusal says, in the API's words: the place, never a .NET type or member name.</summary>
public static class JsonProblems
{
    /// <summary><paramref name="subject"/>: "The request body", "line 3".</summary>
    public static string Describe(JsonException json, string subject = "The request body")
    {
        var where = json.Path is { Length: > 0 } path ? $" at {path}" : "";
        if (json.LineNumber is { } line) where += $" (line {line + 1}, position {json.BytePositionInLine + 1})";
        var message = json.Message;
        if (message.Contains("could not be converted", StringComparison.Ordinal)) return $"{subject} has a value of the wrong type{where}.";
        if (message.Contains("could not be mapped", StringComparison.Ordinal)) return $"{subject} has a property this operation does not take{where}.";
        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase)) return $"{subject} gives a property twice{where} (names compare without case).";
        if (message.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase)) return $"{subject} nests objects and arrays too deep{where}.";
        return $"{subject} is not valid JSON{where}.";
    }
}
