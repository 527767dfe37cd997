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
    IReadOnlyList<UpdateFacts> Updates,
    IReadOnlyDictionary<string, UpdateResolution>? FileResolutions = null);

public sealed class GetBulletin(IQuerySession session, Npgsql.NpgsqlDataSource db)
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
        // By the list's index on the number (the documents would be read whole, one by one).
        return (await session.AdvancedSql.QueryAsync<string>(
            $"select id from {Projections.ReadModels.Schema}.{BulletinList.Table} where bulletin = ? order by id limit 1", ct, bare)).FirstOrDefault();
    }

    /// <summary>The bulletin now, or as it stood at <paramref name="asOf"/>: its streams folded up to then (null if it did not exist yet).</summary>
    public async Task<BulletinDetails?> ExecuteAsync(string id, CancellationToken ct, DateTimeOffset? asOf = null)
    {
        var streamId = await ResolveIdAsync(session, id, ct);
        if (streamId is null) return null;
        var bulletin = await LoadAsync<Bulletin>(streamId, asOf, ct);
        if (bulletin is null) return null;
        var f = bulletin.Facts;
        var kev = new Dictionary<string, KnownExploitedVulnerability>(StringComparer.OrdinalIgnoreCase);
        var listed = asOf is null ? (await session.LoadManyAsync<KnownExploitedVulnerability>(ct, f.Cves.Select(StreamIds.KnownExploited).ToArray())).ToList()
            : [];
        foreach (var cve in asOf is null ? [] : f.Cves)
            if (await LoadAsync<KnownExploitedVulnerability>(StreamIds.KnownExploited(cve), asOf, ct) is { } k) listed.Add(k);
        foreach (var k in listed) kev[k.Facts.Cve] = k;
        var supersededBy = await SupersededByAsync(streamId, f, asOf, ct);
        var levels = await LoadAsync<CustomSeverityLevels>(StreamIds.CustomSeverityLevels, asOf, ct) ?? CustomSeverityLevels.Empty;
        var cves = f.Cves.Select(c => kev.TryGetValue(c, out var k)
            ? new CveDetails(c, true, k.Facts.DueDate, k.Facts.Name)
            : new CveDetails(c, false, null, null)).ToList();
        return new BulletinDetails(bulletin.Id, f.Number, f.Vendor, f.Title, f.Severity.ToString(), bulletin.CustomSeverityId,
            bulletin.CustomSeverityId is null ? null : levels.Find(bulletin.CustomSeverityId)?.Name, f.Released, f.Revised, f.Description, f.Url,
            bulletin.Source, cves, f.Supersedes, f.SupersedesText, supersededBy, bulletin.Updates, bulletin.Resolutions);
    }

    private Task<T?> LoadAsync<T>(string id, DateTimeOffset? asOf, CancellationToken ct) where T : class =>
        asOf is { } at ? session.Events.AggregateStreamAsync<T>(id, timestamp: at, token: ct) : session.LoadAsync<T>(id, ct);

    /// <summary>Now: kept on the Remediation Center's list row; asOf: the bulletin rows of then that name it.</summary>
    private async Task<List<string>> SupersededByAsync(string streamId, BulletinFacts f, DateTimeOffset? asOf, CancellationToken ct)
    {
        var numbers = new List<string>();
        await using var cmd = db.CreateCommand(asOf is null
            ? $"select unnest(superseded_by) from {Projections.ReadModels.Schema}.{BulletinList.Table} where id = @id"
            : $"""
              select s.data->>'number' from {Common.ReadSql.At(Projections.PatchProjections.BulletinRowTable, asOf)} s
              where s.data @> jsonb_build_object('supersedes', jsonb_build_array(@number::text), 'vendor', @vendor::text) order by 1
              """);
        cmd.Parameters.AddWithValue("id", streamId);
        cmd.Parameters.AddWithValue("number", f.Number);
        cmd.Parameters.AddWithValue("vendor", f.Vendor);
        cmd.Parameters.AddRange(Common.ReadSql.AsOfParameters(asOf).ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) numbers.Add(reader.GetString(0));
        return numbers;
    }
}
