namespace Patch.Domain.Catalog;

/// <summary>What a vendor says about a software bulletin (everything but its updates).</summary>
public sealed record BulletinFacts(
    string Vendor,
    string Number,
    string Title,
    Severity Severity,
    DateTimeOffset? Released,
    DateTimeOffset? Revised,
    string? Description,
    string? Url,
    IReadOnlyList<string> Cves,
    IReadOnlyList<string> Supersedes,
    IReadOnlyList<string> SupersedesText,
    int? NamedCves = null);

/// <summary>What a vendor says about one software update: one package of a bulletin for one product and culture.</summary>
public sealed record UpdateFacts(
    string UpdateId,
    string Product,
    string? ProductId,
    string Culture,
    string? FileName,
    string? DownloadUrl,
    long? Size,
    string? Sha256,
    RestartBehavior Restart,
    string? CommandLine,
    string? SubType,
    string? FixedBuild,
    string? ApplicabilityRule,
    string? InstalledRule,
    IReadOnlyList<string> Supersedes,
    string? Excluded,
    string? Kb = null,
    int Revision = 1,
    bool ReinstallOnRevision = false,
    IReadOnlyList<UpdateFile>? Files = null)
{
    /// <summary>The KB (or Q) number an installed copy shows in the inventory: the update's own, else its bulletin's.</summary>
    public string InstalledAs(string bulletinNumber) => Kb ?? bulletinNumber;
}

/// <summary>One field a revision changed, rendered as text for auditors.</summary>
public sealed record FieldChange(string Field, string? Before, string? After)
{
    private static readonly System.Text.Json.JsonSerializerOptions Json = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <summary>
    /// A structured value (a policy's options, a schedule) as a change shows it: its JSON, as the API writes it — a record's
    /// own text named its lists by their type ("List`1[System.DayOfWeek]"), so Monday → Tuesday read as no change.
    /// </summary>
    public static string? Text(object? value) => value is null ? null : System.Text.Json.JsonSerializer.Serialize(value, value.GetType(), Json);
}

public static class FactChanges
{
    public static IReadOnlyList<FieldChange> Between(BulletinFacts before, BulletinFacts after)
    {
        var changes = new List<FieldChange>();
        Compare(changes, "vendor", before.Vendor, after.Vendor);
        Compare(changes, "number", before.Number, after.Number);
        Compare(changes, "title", before.Title, after.Title);
        Compare(changes, "severity", before.Severity.ToString(), after.Severity.ToString());
        Compare(changes, "released", Text(before.Released), Text(after.Released));
        Compare(changes, "revised", Text(before.Revised), Text(after.Revised));
        Compare(changes, "description", before.Description, after.Description);
        Compare(changes, "url", before.Url, after.Url);
        Compare(changes, "cves", before.Cves, after.Cves);
        Compare(changes, "supersedes", before.Supersedes, after.Supersedes);
        Compare(changes, "supersedesText", before.SupersedesText, after.SupersedesText);
        return changes;
    }

    public static IReadOnlyList<FieldChange> Between(UpdateFacts before, UpdateFacts after)
    {
        var changes = new List<FieldChange>();
        Compare(changes, "product", before.Product, after.Product);
        Compare(changes, "productId", before.ProductId, after.ProductId);
        Compare(changes, "culture", before.Culture, after.Culture);
        Compare(changes, "fileName", before.FileName, after.FileName);
        Compare(changes, "downloadUrl", before.DownloadUrl, after.DownloadUrl);
        Compare(changes, "size", before.Size?.ToString(), after.Size?.ToString());
        Compare(changes, "sha256", before.Sha256, after.Sha256);
        Compare(changes, "restart", before.Restart.ToString(), after.Restart.ToString());
        Compare(changes, "commandLine", before.CommandLine, after.CommandLine);
        Compare(changes, "subType", before.SubType, after.SubType);
        Compare(changes, "fixedBuild", before.FixedBuild, after.FixedBuild);
        Compare(changes, "applicabilityRule", before.ApplicabilityRule, after.ApplicabilityRule);
        Compare(changes, "installedRule", before.InstalledRule, after.InstalledRule);
        Compare(changes, "supersedes", before.Supersedes, after.Supersedes);
        Compare(changes, "excluded", before.Excluded, after.Excluded);
        Compare(changes, "kb", before.Kb, after.Kb);
        Compare(changes, "revision", before.Revision.ToString(), after.Revision.ToString());
        Compare(changes, "reinstallOnRevision", before.ReinstallOnRevision.ToString(), after.ReinstallOnRevision.ToString());
        Compare(changes, "files", Files(before.Files), Files(after.Files));
        return changes;
    }

    private static string? Text(DateTimeOffset? value) => value?.ToString("O");

    private static IReadOnlyList<string> Files(IReadOnlyList<UpdateFile>? files) =>
        (files ?? []).Select(f => $"{f.FileName} {f.Url} {f.Size} {f.Sha256 ?? f.Sha1}").ToList();

    private static void Compare(List<FieldChange> changes, string field, string? before, string? after)
    {
        if (!string.Equals(before, after, StringComparison.Ordinal)) changes.Add(new FieldChange(field, before, after));
    }

    private static void Compare(List<FieldChange> changes, string field, IReadOnlyList<string> before, IReadOnlyList<string> after)
    {
        if (!before.SequenceEqual(after, StringComparer.Ordinal))
            changes.Add(new FieldChange(field, string.Join(", ", before), string.Join(", ", after)));
    }
}
