using Patch.Domain.Catalog;

namespace Patch.Projections.Catalog;

/// <summary>
/// One row of the Patch Remediation Center (C2), projected inline from the bulletin stream. Cross-stream facts
/// (superseded-by, known-exploited, custom severity names) are joined when the row is read, so they can never
/// be stale.
/// </summary>
public sealed record BulletinRow(
    string Id,
    string Number,
    string Vendor,
    string Title,
    Severity Severity,
    string? CustomSeverityId,
    DateTimeOffset? Released,
    DateTimeOffset? Revised,
    string? Description,
    IReadOnlyList<string> Cves,
    IReadOnlyList<string> Supersedes,
    int Updates,
    int ExcludedUpdates,
    int Downloaded,
    int Policies)
{
    public int SeverityRank => (int)Severity;

    public int CveCount => Cves.Count;

    /// <summary>Staged = every enabled, non-excluded update downloaded.</summary>
    public bool Staged => Updates > 0 && Downloaded >= Updates;

    public static BulletinRow Create(BulletinImported e) => From(e.BulletinId, e.Facts, null, 0, 0);

    public static BulletinRow Apply(BulletinRevised e, BulletinRow row) =>
        From(row.Id, e.Facts, row.CustomSeverityId, row.Updates, row.ExcludedUpdates) with { Downloaded = row.Downloaded, Policies = row.Policies };

    public static BulletinRow Apply(SoftwareUpdateAdded e, BulletinRow row) => e.Update.Excluded is null
        ? row with { Updates = row.Updates + 1 }
        : row with { ExcludedUpdates = row.ExcludedUpdates + 1 };

    public static BulletinRow Apply(SoftwareUpdateRevised e, BulletinRow row)
    {
        var exclusion = e.Changes.FirstOrDefault(c => c.Field == "excluded");
        if (exclusion is null || (exclusion.Before is null) == (exclusion.After is null)) return row;
        var nowExcluded = exclusion.After is not null;
        return row with
        {
            Updates = row.Updates + (nowExcluded ? -1 : 1),
            ExcludedUpdates = row.ExcludedUpdates + (nowExcluded ? 1 : -1),
        };
    }

    public static BulletinRow Apply(CustomSeverityAssigned e, BulletinRow row) => row with { CustomSeverityId = e.LevelId };

    public static BulletinRow Apply(CustomSeverityCleared e, BulletinRow row) => row with { CustomSeverityId = null };

    private static BulletinRow From(string id, BulletinFacts f, string? customSeverityId, int updates, int excluded) =>
        new(id, f.Number, f.Vendor, f.Title, f.Severity, customSeverityId, f.Released, f.Revised, f.Description, f.Cves, f.Supersedes,
            updates, excluded, 0, 0);
}
