using System.Text.Json;

namespace Patch.Application.Common;

/// <summary>What System.Text.Json's refusal says, in the API's words: the place, never a .NET type or member name.</summary>
public static class JsonProblems
{
    /// <summary>
    /// <paramref name="subject"/>: "The request body", "line 3"; <paramref name="body"/>: the type read, whose property at the
    /// error's path says what a value there looks like (System.Text.Json names the record, not the property's type).
    /// </summary>
    public static string Describe(JsonException json, string subject = "The request body", Type? body = null)
    {
        var where = json.Path is { Length: > 0 } path ? $" at {path}" : "";
        if (json.LineNumber is { } line) where += $" (line {line + 1}, position {json.BytePositionInLine + 1})";
        var message = json.Message;
        if (message.Contains("could not be converted", StringComparison.Ordinal)) return $"{subject} has a value of the wrong type{where}{Expected(At(body, json.Path))}.";
        if (message.Contains("could not be mapped", StringComparison.Ordinal)) return $"{subject} has a property this operation does not take{where}.";
        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase)) return $"{subject} gives a property twice{where} (names compare without case).";
        if (message.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase)) return $"{subject} nests objects and arrays too deep{where}.";
        // "…was missing required properties including: 'isServer', 'servicePack'." (RequiredValues): the names, not the type.
        if (message.IndexOf("missing required properties including:", StringComparison.Ordinal) is var at and >= 0)
            return $"{subject} leaves out{where} what has no default: {message[(at + "missing required properties including:".Length)..].Trim().TrimEnd('.').Replace("'", "")} (required).";
        return $"{subject} is not valid JSON{where}.";
    }

    /// <summary>The type of the property at <paramref name="path"/> ($.options.ownSchedule.start, $.updates[0].enabled) of <paramref name="body"/>, when it can be told.</summary>
    private static Type? At(Type? body, string? path)
    {
        if (body is null || path is null) return null;
        var type = body;
        foreach (var part in path.TrimStart('$').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = part.Split('[')[0];
            type = type.GetProperty(name, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase)?.PropertyType;
            if (type is null) return null;
            if (part.Contains('[') && type.IsGenericType) type = type.GetGenericArguments()[0];
        }
        return Nullable.GetUnderlyingType(type) ?? type;
    }

    /// <summary>What a value of <paramref name="type"/> looks like (never the type's own name).</summary>
    private static string Expected(Type? type) =>
        type == typeof(DateTimeOffset) || type == typeof(DateTime) ? ": an ISO 8601 instant with its offset, such as 2026-12-31T00:00:00Z"
        : type == typeof(TimeOnly) || type == typeof(TimeSpan) ? ": a time such as 02:30:00"
        : type == typeof(DateOnly) ? ": a date such as 2026-12-31"
        : type == typeof(bool) ? ": true or false"
        : type == typeof(int) || type == typeof(long) ? ": a whole number"
        : type is { IsEnum: true } ? $": one of {string.Join(", ", Enum.GetNames(type))}"
        : "";
}
