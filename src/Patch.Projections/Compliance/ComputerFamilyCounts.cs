using Npgsql;
using Patch.Domain.Catalog;

namespace Patch.Projections.Compliance;

/// <summary>The counters of compliance by computer over some of a computer's rows: one pass, the same for the whole computer and for one family.</summary>
public sealed record ComplianceCounts(int Applicable, int Installed, int Missing, int Superseded, int Critical, int Important)
{
    public static ComplianceCounts Of(IEnumerable<(short State, Severity Severity)> rows)
    {
        int applicable = 0, installed = 0, missing = 0, superseded = 0, critical = 0, important = 0;
        foreach (var (state, severity) in rows)
        {
            applicable++;
            if (state == VulnerabilityAnalysis.Installed) installed++;
            else if (state == VulnerabilityAnalysis.Superseded) superseded++;
            else if (state == VulnerabilityAnalysis.Missing)
            {
                missing++;
                if (severity == Severity.Critical) critical++;
                else if (severity == Severity.Important) important++;
            }
        }
        return new(applicable, installed, missing, superseded, critical, important);
    }
}

/// <summary>
/// Per computer and product family, the counters of compliance by computer (compliance_computer_family), kept with the
/// computer's rows in the same transaction: "compliance by computer" filtered by a family reads a page of them instead
/// of grouping the family's state rows at every request.
/// </summary>
public static class ComputerFamilyCounts
{
    private const string S = ComplianceTables.Schema;

    public const string Ddl = $"""
        create table if not exists {S}.{ReadModels.ComplianceComputerFamily} (
            computer_id text not null, family text not null, name text not null, applicable int not null, installed int not null, missing int not null,
            superseded int not null, missing_critical int not null, missing_important int not null, analysed_at timestamptz not null,
            primary key (computer_id, family));
        drop index if exists {S}.ix_compliance_computer_family_missing;
        create index if not exists ix_compliance_computer_family_by_missing on {S}.{ReadModels.ComplianceComputerFamily} (family, missing desc nulls last, name);
        """;

    public static IEnumerable<(string Family, ComplianceCounts Counts)> Of(IEnumerable<(string Family, short State, Severity Severity)> rows) =>
        rows.GroupBy(r => r.Family).Select(g => (g.Key, ComplianceCounts.Of(g.Select(r => (r.State, r.Severity)))));

    public static readonly string[] Values = ["name", "applicable", "installed", "missing", "superseded", "missing_critical", "missing_important", "analysed_at"];

    /// <summary>Every computer's counters into <paramref name="table"/> (the full analysis's staging table).</summary>
    public static async Task CopyAllAsync(NpgsqlConnection conn, string table,
        IEnumerable<(string ComputerId, string Name, DateTimeOffset At, IEnumerable<(string, short, Severity)> Rows)> all, CancellationToken ct)
    {
        await using var copy = await conn.BeginBinaryImportAsync(
            $"copy {table} (computer_id, family, name, applicable, installed, missing, superseded, missing_critical, missing_important, analysed_at) from stdin (format binary)", ct);
        foreach (var (computerId, name, at, rows) in all)
            foreach (var (family, c) in Of(rows))
                await copy.WriteRowAsync(ct, computerId, family, name, c.Applicable, c.Installed, c.Missing, c.Superseded, c.Critical, c.Important, at);
        await copy.CompleteAsync(ct);
    }

    /// <summary>Fills the counters of a store analysed before they existed, from its state rows (once: the table is empty and rows are not).</summary>
    public static async Task FillAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            insert into {S}.{ReadModels.ComplianceComputerFamily} (computer_id, family, name, applicable, installed, missing, superseded, missing_critical, missing_important, analysed_at)
            select s.computer_id, s.family, c.name, count(*), count(*) filter (where s.state = 1), count(*) filter (where s.state = 2), count(*) filter (where s.state = 3),
                   count(*) filter (where s.state = 2 and (r.data->>'severityRank')::int = {(int)Severity.Critical}),
                   count(*) filter (where s.state = 2 and (r.data->>'severityRank')::int = {(int)Severity.Important}), c.analysed_at
            from {S}.{ReadModels.ComplianceState} s join {S}.{ReadModels.ComplianceComputer} c on c.computer_id = s.computer_id join {S}.{Projections.PatchProjections.BulletinRowTable} r on r.id = s.bulletin_id
            where not exists (select 1 from {S}.{ReadModels.ComplianceComputerFamily}) and s.family <> ''
            group by s.computer_id, s.family, c.name, c.analysed_at
            """);
        cmd.CommandTimeout = 0;
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
