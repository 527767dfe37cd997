namespace Patch.Domain.Compliance;

/// <summary>One computer's need of one update: how long it lasted, and whether it ended by remediation (else it is censored: still open, or no longer applicable).</summary>
public readonly record struct RemediationSpell(double Days, bool Remediated);

/// <summary>Percentiles of time to remediate and the counts behind them.</summary>
public sealed record RemediationSummary(int Items, int Remediated, int Open, double? P50Days, double? P90Days, double? P99Days);

/// <summary>
/// Time to remediate with the items still open counted, not dropped: the Kaplan–Meier estimate of the share remediated
/// by each time, open items leaving the population at risk when observation stops. A percentile the curve never
/// reaches (too many open items) is null — never a figure computed from the closed items alone, which would flatter.
/// </summary>
public static class RemediationTimes
{
    public static RemediationSummary Summarize(IReadOnlyCollection<RemediationSpell> spells)
    {
        var remediated = spells.Count(s => s.Remediated);
        return new RemediationSummary(spells.Count, remediated, spells.Count - remediated,
            Percentile(spells, 0.5), Percentile(spells, 0.9), Percentile(spells, 0.99));
    }

    /// <summary>The first time by which at least <paramref name="share"/> of the items are estimated remediated; null if never.</summary>
    public static double? Percentile(IReadOnlyCollection<RemediationSpell> spells, double share)
    {
        var atRisk = spells.Count;
        var surviving = 1.0;
        // At equal times remediations come before censorings (the usual convention: an item open at t was at risk at t).
        foreach (var group in spells.GroupBy(s => s.Days).OrderBy(g => g.Key))
        {
            var events = group.Count(s => s.Remediated);
            if (events > 0 && atRisk > 0)
            {
                surviving *= 1.0 - (double)events / atRisk;
                if (1.0 - surviving >= share - 1e-12) return group.Key;
            }
            atRisk -= group.Count();
        }
        return null;
    }
}
