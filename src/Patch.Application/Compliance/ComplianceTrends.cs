using System.Globalization;
using Marten;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.Compliance;
using Patch.Projections;

namespace Patch.Application.Compliance;

/// <summary>One day's compliance of one group (All, a vendor severity, or KnownExploited): applicable installs and how many were compliant at the day's end.</summary>
/// <summary><c>CompliancePercent</c> is null on a day the group had nothing applicable (no computer analysed, or no such bulletin yet).</summary>
public sealed record TrendPoint(DateOnly Day, string Group, long Applicable, long Compliant, double? CompliancePercent);

/// <summary>Time to remediate one group: items (a computer's need of an update), remediated, still open (censored), and the percentiles in days.</summary>
public sealed record RemediationRow(string Group, int Items, int Remediated, int Open, double? P50Days, double? P90Days, double? P99Days);

/// <summary>
/// Compliance over time and time to remediate (C11, beyond the seed), both from the read models' history (ADR 0019):
/// the state at each day's end, and each computer's need of each update from the first moment it was missing to the
/// moment it was installed or superseded — open needs counted as censored (<see cref="RemediationTimes"/>).
/// </summary>
public static class ComplianceTrends
{
    private const string S = ReadModels.Schema;
    public static readonly string[] Groups = ["All", "Critical", "Important", "Moderate", "Low", "None", "KnownExploited"];
    public static readonly string[] Starts = ["needed", "released"];

    public sealed record Range(DateOnly From, DateOnly To);

    /// <summary>The earliest day a range may start on.</summary>
    public static readonly DateOnly Earliest = new(2000, 1, 1);

    /// <summary>from/to as dates (default: the 30 days up to today), at most 366 days, not past today nor before 2000.</summary>
    public static (Range? Range, string? Problem) ParseRange(string? from, string? to, DateTimeOffset now, int defaultDays)
    {
        static bool Date(string? text, out DateOnly day) => DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var end = today;
        if (to is not null && !Date(to, out end)) return (null, $"to: '{Domain.Users.UserDecisions.Printable(to)}' is not a date like 2026-11-30");
        // The default range starts no earlier than the calendar does (to=0001-01-01 is a range of one day, not an overflow).
        var start = DateOnly.FromDayNumber(Math.Max(0, end.DayNumber - (defaultDays - 1)));
        if (from is not null && !Date(from, out start)) return (null, $"from: '{Domain.Users.UserDecisions.Printable(from)}' is not a date like 2026-11-01");
        if (end > today) return (null, $"to: {end:yyyy-MM-dd} is in the future");
        // Nothing Patch records is older; the calendar's first day would be read as "-infinity" by the database.
        if (start < Earliest) return (null, $"from/to: not before {Earliest:yyyy-MM-dd}");
        if (start > end) return (null, "from: must be on or before to");
        if (end.DayNumber - start.DayNumber > 365) return (null, "from/to: at most 366 days");
        return (new Range(start, end), null);
    }

    private static DateTimeOffset EndOf(DateOnly day, DateTimeOffset now) =>
        new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).AddDays(1) is var end && end > now ? now : end;

    private static IEnumerable<string> GroupsOf(int severity, bool kev) => ["All", ((Severity)severity).ToString(), .. kev ? ["KnownExploited"] : Array.Empty<string>()];

    private static string KnownExploited(string row, string at) => $"""
        exists (select 1 from jsonb_array_elements_text({row}.data->'cves') x(cve)
                join {S}.{PatchProjections.KnownExploitedTable}_history k on k.id = 'cve:' || upper(x.cve) and k.valid_from <= {at} and k.valid_to > {at})
        """;

    /// <summary>Per day and group, the compliance at the day's end (today: now): fleet-wide from the bulletin counters, for a target from its members of that day.</summary>
    public static async Task<QueryAnswer<IReadOnlyList<TrendPoint>>> TrendAsync(NpgsqlDataSource db, IQuerySession session, IConfiguration config, TimeProvider time,
        string? from, string? to, string? target, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (range, problem) = ParseRange(from, to, now, 30);
        if (problem is not null) return QueryAnswer<IReadOnlyList<TrendPoint>>.Invalid(problem);
        if (target is not null && !await TargetExistsAsync(session, target, ct)) return QueryAnswer<IReadOnlyList<TrendPoint>>.Missing($"No target '{target}'.");
        var totals = new Dictionary<(DateOnly, string), (long Applicable, long Compliant)>();
        await using var conn = await db.OpenConnectionAsync(ct);
        for (var day = range!.From; day <= range.To; day = day.AddDays(1))
        {
            var at = EndOf(day, now);
            string sql;
            var ps = new List<NpgsqlParameter> { new("at", at) };
            if (target is null)
            {
                sql = $"""
                    select (r.data->>'severityRank')::int, {KnownExploited("r", "@at")}, sum(b.applicable), sum(b.installed + b.superseded)
                    from {S}.{ReadModels.ComplianceBulletin}_history b
                    join {S}.{PatchProjections.BulletinRowTable}_history r on r.id = b.bulletin_id and r.valid_from <= @at and r.valid_to > @at
                    where b.valid_from <= @at and b.valid_to > @at and b.applicable > 0 group by 1, 2
                    """;
            }
            else
            {
                var custom = await Targets.TargetEndpoints.CustomTargetsAsync(session, ct, db, at);
                ps.Add(new("ids", await Targets.TargetSql.MemberIdsAsync(db, target, custom, FleetQueries.CurrentAgentVersion(config), ct, at)));
                sql = $"""
                    select (r.data->>'severityRank')::int, {KnownExploited("r", "@at")}, count(*), count(*) filter (where s.state <> {Projections.Compliance.VulnerabilityAnalysis.Missing})
                    from {Projections.History.ReadModelHistory.Relation(ReadModels.ComplianceState, true, "at")} s
                    join {S}.{PatchProjections.BulletinRowTable}_history r on r.id = s.bulletin_id and r.valid_from <= @at and r.valid_to > @at
                    where s.computer_id = any(@ids) group by 1, 2
                    """;
            }
            await using var cmd = new NpgsqlCommand(sql, conn);
            cmd.Parameters.AddRange(ps.ToArray());
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                foreach (var group in GroupsOf(reader.GetInt32(0), reader.GetBoolean(1)))
                {
                    var (a, c) = totals.GetValueOrDefault((day, group));
                    totals[(day, group)] = (a + reader.GetInt64(2), c + reader.GetInt64(3));
                }
        }
        var points = new List<TrendPoint>();
        for (var day = range.From; day <= range.To; day = day.AddDays(1))
            foreach (var group in Groups)
            {
                var (a, c) = totals.GetValueOrDefault((day, group));
                points.Add(new TrendPoint(day, group, a, c, a == 0 ? null : Math.Round(100.0 * c / a, 1)));
            }
        return points;
    }

    /// <summary>
    /// Per group, the time from the moment each computer first needed an update (or from the bulletin's release) to the
    /// moment it was installed or superseded, for needs that began in the range; needs still open — or that ended
    /// otherwise (the computer or the update went) — are censored at that moment.
    /// </summary>
    public static async Task<QueryAnswer<IReadOnlyList<RemediationRow>>> TimeToRemediateAsync(NpgsqlDataSource db, IQuerySession session, IConfiguration config,
        TimeProvider time, string? from, string? to, string? target, string? start, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (range, problem) = ParseRange(from, to, now, 90);
        if (problem is null && start is not null && !Starts.Contains(start)) problem = $"start: '{Domain.Users.UserDecisions.Printable(start)}' is not one of {string.Join(", ", Starts)}";
        if (problem is not null) return QueryAnswer<IReadOnlyList<RemediationRow>>.Invalid(problem);
        if (target is not null && !await TargetExistsAsync(session, target, ct)) return QueryAnswer<IReadOnlyList<RemediationRow>>.Missing($"No target '{target}'.");
        var fromReleased = start == "released";
        var h = $"{S}.{ReadModels.ComplianceState}_history";
        await using var cmd = db.CreateCommand($"""
            with n as (
              select computer_id, update_key, min(bulletin_id) bulletin_id, min(valid_from) filter (where state = {Projections.Compliance.VulnerabilityAnalysis.Missing}) needed
              from {h} {(target is null ? "" : "where computer_id = any(@ids)")} group by 1, 2),
            e as (
              select n.*, (select min(x.valid_from) from {h} x where x.computer_id = n.computer_id and x.update_key = n.update_key
                             and x.state <> {Projections.Compliance.VulnerabilityAnalysis.Missing} and x.valid_from > n.needed) remediated,
                          (select nullif(max(x.valid_to), 'infinity') from {h} x where x.computer_id = n.computer_id and x.update_key = n.update_key) last_seen
              from n where n.needed is not null)
            select e.needed, e.remediated, e.last_seen, (r.data->>'released')::timestamptz, (r.data->>'severityRank')::int, {KnownExploited("r", "@now")}
            from e join {S}.{PatchProjections.BulletinRowTable}_history r on r.id = e.bulletin_id and r.valid_from <= @now and r.valid_to > @now
            """);
        cmd.Parameters.AddWithValue("now", now);
        if (target is not null)
            cmd.Parameters.AddWithValue("ids", await Targets.TargetSql.MemberIdsAsync(db, target, await Targets.TargetEndpoints.CustomTargetsAsync(session, ct),
                FleetQueries.CurrentAgentVersion(config), ct));
        var first = new DateTimeOffset(range!.From.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var last = new DateTimeOffset(range.To.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).AddDays(1);
        var spells = Groups.ToDictionary(g => g, _ => new List<RemediationSpell>());
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var needed = reader.GetFieldValue<DateTimeOffset>(0);
                var began = fromReleased && !reader.IsDBNull(3) ? reader.GetFieldValue<DateTimeOffset>(3) : needed;
                if (began < first || began >= last) continue;
                var remediated = reader.IsDBNull(1) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(1);
                var seen = reader.IsDBNull(2) ? now : reader.GetFieldValue<DateTimeOffset>(2);
                var end = remediated ?? (seen < now ? seen : now);
                var spell = new RemediationSpell(Math.Max(0, (end - began).TotalDays), remediated is not null);
                foreach (var group in GroupsOf(reader.GetInt32(4), reader.GetBoolean(5))) spells[group].Add(spell);
            }
        }
        return Groups.Select(g => (g, RemediationTimes.Summarize(spells[g])))
            .Select(x => new RemediationRow(x.g, x.Item2.Items, x.Item2.Remediated, x.Item2.Open, x.Item2.P50Days, x.Item2.P90Days, x.Item2.P99Days)).ToList();
    }

    private static async Task<bool> TargetExistsAsync(IQuerySession session, string target, CancellationToken ct) =>
        Domain.Targets.Targets.IsBuiltIn(target) || (await Targets.TargetEndpoints.CustomTargetsAsync(session, ct)).ContainsKey(target);
}
