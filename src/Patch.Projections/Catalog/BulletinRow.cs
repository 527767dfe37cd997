using Patch.Domain.Inventory.Products;
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
    IReadOnlyList<string> UpdateIds,
    IReadOnlyList<string> ExcludedUpdateIds,
    IReadOnlyList<string> DownloadedUpdateIds,
    IReadOnlyList<string> FailedUpdateIds)
{
    public int SeverityRank => (int)Severity;

    /// <summary>The product family of each update (<see cref="ProductFamilies"/>), by update id.</summary>
    public IReadOnlyDictionary<string, string> UpdateFamilies { get; init; } = new Dictionary<string, string>();

    /// <summary>The product families of the bulletin's updates (the Remediation Center's family column and filter).</summary>
    public IReadOnlyList<string> Families => UpdateFamilies.Values.Distinct().Order(StringComparer.Ordinal).ToList();

    public int CveCount => Cves.Count;

    /// <summary>Updates whose files the Microsoft Update Catalog could not name (no match, several candidates, a changed page), with the reason.</summary>
    public IReadOnlyDictionary<string, string> UnresolvedUpdates { get; init; } = new Dictionary<string, string>();

    /// <summary>Updates whose files the Update Catalog named (they can be staged from Microsoft, verified).</summary>
    public IReadOnlyList<string> ResolvedUpdateIds { get; init; } = [];

    /// <summary>Updates whose catalog names no file of their own (CVRF's are a Microsoft Update Catalog page): theirs must be found.</summary>
    public IReadOnlyList<string> FilelessUpdateIds { get; init; } = [];

    /// <summary>
    /// The Remediation Center's "without files": updates not downloaded that the Update Catalog's lookup found no file for,
    /// or whose catalog names none that no lookup has found yet (not looked up, or the catalog could not be reached). A
    /// downloaded update (from the staging location, say) has its file.
    /// </summary>
    public int Unresolved => UpdateIds.Count(id => !DownloadedUpdateIds.Contains(id)
        && (UnresolvedUpdates.ContainsKey(id) || FilelessUpdateIds.Contains(id) && !ResolvedUpdateIds.Contains(id)));

    public int Resolved => ResolvedUpdateIds.Count(UpdateIds.Contains);

    /// <summary>Updates staging must download: neither excluded by core settings.</summary>
    public int Updates => UpdateIds.Count;

    public int ExcludedUpdates => ExcludedUpdateIds.Count;

    public int Downloaded => DownloadedUpdateIds.Count(UpdateIds.Contains);

    public int FailedDownloads => FailedUpdateIds.Count(UpdateIds.Contains);

    /// <summary>Staged = every non-excluded update downloaded.</summary>
    public bool Staged => Updates > 0 && Downloaded == Updates;

    public static BulletinRow Create(BulletinImported e) =>
        With(new BulletinRow(e.BulletinId, "", "", "", Severity.None, null, null, null, null, [], [], [], [], [], []), e.Facts);

    public static BulletinRow Apply(BulletinRevised e, BulletinRow row) => With(row, e.Facts);

    public static BulletinRow Apply(SoftwareUpdateAdded e, BulletinRow row) => WithFamily(e.Update.Excluded is null
        ? row with { UpdateIds = Add(row.UpdateIds, e.Update.UpdateId) }
        : row with { ExcludedUpdateIds = Add(row.ExcludedUpdateIds, e.Update.UpdateId) }, e.Update);

    public static BulletinRow Apply(SoftwareUpdateRevised e, BulletinRow row)
    {
        var id = e.Update.UpdateId;
        var excluded = e.Update.Excluded is not null;
        row = WithFamily(row, e.Update) with
        {
            UpdateIds = excluded ? Remove(row.UpdateIds, id) : Add(row.UpdateIds, id),
            ExcludedUpdateIds = excluded ? Add(row.ExcludedUpdateIds, id) : Remove(row.ExcludedUpdateIds, id),
        };
        return e.Changes.Any(c => StagingRules.PackageFields.Contains(c.Field))
            ? row with { DownloadedUpdateIds = Remove(row.DownloadedUpdateIds, id), FailedUpdateIds = Remove(row.FailedUpdateIds, id) }
            : row;
    }

    public static BulletinRow Apply(UpdateDownloaded e, BulletinRow row) =>
        row with { DownloadedUpdateIds = Add(row.DownloadedUpdateIds, e.UpdateId), FailedUpdateIds = Remove(row.FailedUpdateIds, e.UpdateId) };

    public static BulletinRow Apply(UpdateDownloadFailed e, BulletinRow row) =>
        row with { FailedUpdateIds = Add(row.FailedUpdateIds, e.UpdateId), DownloadedUpdateIds = Remove(row.DownloadedUpdateIds, e.UpdateId) };

    public static BulletinRow Apply(UpdatePackageRemoved e, BulletinRow row) => row with { DownloadedUpdateIds = Remove(row.DownloadedUpdateIds, e.UpdateId) };

    public static BulletinRow Apply(UpdateFilesResolved e, BulletinRow row) => row with
    {
        ResolvedUpdateIds = Add(row.ResolvedUpdateIds, e.UpdateId),
        UnresolvedUpdates = row.UnresolvedUpdates.Where(u => u.Key != e.UpdateId).ToDictionary(u => u.Key, u => u.Value),
    };

    public static BulletinRow Apply(UpdateFilesUnresolved e, BulletinRow row) => row with
    {
        ResolvedUpdateIds = Remove(row.ResolvedUpdateIds, e.UpdateId),
        UnresolvedUpdates = new Dictionary<string, string>(row.UnresolvedUpdates) { [e.UpdateId] = e.Reason },
    };

    public static BulletinRow Apply(CustomSeverityAssigned e, BulletinRow row) => row with { CustomSeverityId = e.LevelId };

    public static BulletinRow Apply(CustomSeverityCleared e, BulletinRow row) => row with { CustomSeverityId = null };

    private static BulletinRow With(BulletinRow row, BulletinFacts f) => row with
    {
        Number = f.Number, Vendor = f.Vendor, Title = f.Title, Severity = f.Severity, Released = f.Released, Revised = f.Revised,
        Description = f.Description, Cves = f.Cves, Supersedes = f.Supersedes,
    };

    private static BulletinRow WithFamily(BulletinRow row, UpdateFacts update) => row with
    {
        UpdateFamilies = new Dictionary<string, string>(row.UpdateFamilies) { [update.UpdateId] = ProductFamilies.Of(update.Product).Id },
        FilelessUpdateIds = update.Files is { Count: > 0 } || update.DownloadUrl is { } url && !FileResolution.IsCatalogPage(url)
            ? Remove(row.FilelessUpdateIds, update.UpdateId) : Add(row.FilelessUpdateIds, update.UpdateId),
    };

    private static IReadOnlyList<string> Add(IReadOnlyList<string> list, string id) => list.Contains(id) ? list : [.. list, id];

    private static IReadOnlyList<string> Remove(IReadOnlyList<string> list, string id) => list.Contains(id) ? list.Where(x => x != id).ToList() : list;
}
