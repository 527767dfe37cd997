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
/// Per shape and product family, the counters of compliance by computer (compliance_shape_family, shown per computer by
/// the compliance_computer_family view): "compliance by computer" filtered by a family reads a page of them instead of
/// grouping the family's rows at every request.
/// </summary>
public static class ComputerFamilyCounts
{
    public static IEnumerable<(string Family, ComplianceCounts Counts)> Of(IEnumerable<(string Family, short State, Severity Severity)> rows) =>
        rows.GroupBy(r => r.Family).Select(g => (g.Key, ComplianceCounts.Of(g.Select(r => (r.State, r.Severity)))));
}
