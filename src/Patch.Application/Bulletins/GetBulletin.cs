using Marten;
using Patch.Domain;
using Patch.Domain.Catalog;
using Patch.Domain.Settings;
using Patch.Domain.Vulnerabilities;
using Patch.Projections.Catalog;

namespace Patch.Application.Bulletins;

public sealed record CveDetails(string Cve, bool KnownExploited, DateOnly? DueDate, string? KnownExploitedName);

public sealed record BulletinDetails(
    string Id,
    string Bulletin,
    string Vendor,
    string Title,
    string Severity,
    string? CustomSeverityId,
    string? CustomSeverity,
    DateTimeOffset? Released,
    DateTimeOffset? Revised,
    string? Description,
    string? Url,
    string Source,
    IReadOnlyList<CveDetails> Cves,
    IReadOnlyList<string> Supersedes,
    IReadOnlyList<string> SupersedesText,
    IReadOnlyList<string> SupersededBy,
    IReadOnlyList<UpdateFacts> Updates);

public sealed class GetBulletin(IQuerySession session)
{
    /// <summary>Accepts a stream id ('microsoft:KB5034441') or a bare bulletin number ('KB5034441').</summary>
    public static async Task<string?> ResolveIdAsync(IQuerySession session, string id, CancellationToken ct)
    {
        if (id.Contains(':'))
        {
            var (vendor, number) = (id[..id.IndexOf(':')], id[(id.IndexOf(':') + 1)..]);
            var streamId = StreamIds.Bulletin(vendor, number);
            return await session.LoadAsync<BulletinRow>(streamId, ct) is null ? null : streamId;
        }
        var bare = id.Trim().ToUpperInvariant();
        return await session.Query<BulletinRow>().Where(r => r.Number == bare).Select(r => r.Id).FirstOrDefaultAsync(ct);
    }

    public async Task<BulletinDetails?> ExecuteAsync(string id, CancellationToken ct)
    {
        var streamId = await ResolveIdAsync(session, id, ct);
        if (streamId is null) return null;
        var bulletin = await session.LoadAsync<Bulletin>(streamId, ct);
        if (bulletin is null) return null;
        var f = bulletin.Facts;
        var kev = (await session.LoadManyAsync<KnownExploitedVulnerability>(ct, f.Cves.Select(StreamIds.KnownExploited).ToArray()))
            .ToDictionary(k => k.Facts.Cve, StringComparer.OrdinalIgnoreCase);
        var supersededBy = await session.Query<BulletinRow>()
            .Where(r => r.Vendor == f.Vendor && r.Supersedes.Contains(f.Number)).OrderBy(r => r.Number).Select(r => r.Number).ToListAsync(ct);
        var levels = await session.LoadAsync<CustomSeverityLevels>(StreamIds.CustomSeverityLevels, ct) ?? CustomSeverityLevels.Empty;
        var cves = f.Cves.Select(c => kev.TryGetValue(c, out var k)
            ? new CveDetails(c, true, k.Facts.DueDate, k.Facts.Name)
            : new CveDetails(c, false, null, null)).ToList();
        return new BulletinDetails(bulletin.Id, f.Number, f.Vendor, f.Title, f.Severity.ToString(), bulletin.CustomSeverityId,
            bulletin.CustomSeverityId is null ? null : levels.Find(bulletin.CustomSeverityId)?.Name, f.Released, f.Revised, f.Description, f.Url,
            bulletin.Source, cves, f.Supersedes, f.SupersedesText, supersededBy, bulletin.Updates);
    }
}
