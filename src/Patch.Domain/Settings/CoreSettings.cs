using System.Text.RegularExpressions;
using Patch.Domain.Catalog;

namespace Patch.Domain.Settings;

public sealed record CoreSettingsChanged(IReadOnlyList<string> ManagedCultures, IReadOnlyList<string> ExcludedSoftwareReleases);

/// <summary>
/// Core settings: the managed languages (cultures) and the excluded software releases. They decide which imported
/// updates are excluded; an excluded update is recorded with the reason, never dropped.
/// </summary>
public sealed partial record CoreSettings(string Id, IReadOnlyList<string> ManagedCultures, IReadOnlyList<string> ExcludedSoftwareReleases)
{
    /// <summary>The culture of updates that are not language specific; always managed.</summary>
    public const string Neutral = "neutral";

    public static readonly CoreSettings Default = new(StreamIds.CoreSettings, ["en-US"], []);

    public static CoreSettings Create(CoreSettingsChanged e) => new(StreamIds.CoreSettings, e.ManagedCultures, e.ExcludedSoftwareReleases);

    public static CoreSettings Apply(CoreSettingsChanged e, CoreSettings s) => s with
    {
        ManagedCultures = e.ManagedCultures,
        ExcludedSoftwareReleases = e.ExcludedSoftwareReleases,
    };

    public string? ExclusionReason(UpdateFacts update)
    {
        if (ExcludedSoftwareReleases.Contains(update.Product, StringComparer.OrdinalIgnoreCase))
            return $"software release '{update.Product}' is excluded in core settings";
        if (!string.Equals(update.Culture, Neutral, StringComparison.OrdinalIgnoreCase)
            && !ManagedCultures.Contains(update.Culture, StringComparer.OrdinalIgnoreCase))
            return $"culture '{update.Culture}' is not a managed language";
        return null;
    }

    public static Outcome Decide(CoreSettings? current, IReadOnlyList<string>? cultures, IReadOnlyList<string>? excludedReleases)
    {
        current ??= Default;
        if (cultures is null || excludedReleases is null)
            return Outcome.Refuse(RejectionKind.Invalid, "Missing field", "Both 'managedCultures' and 'excludedSoftwareReleases' are required (use [] for none).");
        var bad = cultures.Where(c => !CultureNames.IsKnown(c)).ToList();
        if (bad.Count > 0)
            return Outcome.Refuse(RejectionKind.Invalid, "Invalid culture", $"managedCultures: not a culture name (like 'en-US') this server knows: {string.Join(", ", bad.Select(b => $"'{b}'"))}.");
        if (excludedReleases.Any(string.IsNullOrWhiteSpace))
            return Outcome.Refuse(RejectionKind.Invalid, "Invalid software release", "excludedSoftwareReleases: names must not be empty.");

        var newCultures = cultures.Select(c => c.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var newReleases = excludedReleases.Select(r => r.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var same = newCultures.SequenceEqual(current.ManagedCultures) && newReleases.SequenceEqual(current.ExcludedSoftwareReleases);
        return same ? Outcome.Nothing : Outcome.Append(new CoreSettingsChanged(newCultures, newReleases));
    }
}
