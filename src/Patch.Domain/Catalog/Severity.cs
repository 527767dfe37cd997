namespace Patch.Domain.Catalog;

/// <summary>Vendor severity, ordered so that a larger value is more severe.</summary>
public enum Severity { None = 0, Low = 1, Moderate = 2, Important = 3, Critical = 4 }

/// <summary>What a software update needs after it is installed.</summary>
public enum RestartBehavior { Unknown = 0, NotRequired = 1, Required = 2, Maybe = 3 }

public static class SeverityNames
{
    /// <summary>Parses a vendor's severity word; anything unknown or empty is <see cref="Severity.None"/>.</summary>
    public static Severity Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "critical" => Severity.Critical,
        "important" or "high" => Severity.Important,
        "moderate" or "medium" => Severity.Moderate,
        "low" => Severity.Low,
        _ => Severity.None,
    };

    public static bool TryParseStrict(string? text, out Severity severity)
    {
        severity = Parse(text);
        return severity != Severity.None || string.Equals(text?.Trim(), "none", StringComparison.OrdinalIgnoreCase);
    }
}
