using Patch.Domain.Compliance;

namespace Patch.Domain.Tests;

/// <summary>Time to remediate with open items censored (Kaplan–Meier), against figures computed by hand.</summary>
public class RemediationTimesTests
{
    [Fact]
    public void with_every_item_remediated_the_percentiles_are_the_plain_order_statistics()
    {
        var spells = new[] { 1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10 }.Select(d => new RemediationSpell(d, true)).ToList();
        var summary = RemediationTimes.Summarize(spells);
        Assert.Equal(new RemediationSummary(10, 10, 0, 5, 9, 10), summary);
    }

    [Fact]
    public void open_items_leave_the_population_at_risk_instead_of_being_dropped()
    {
        // Times 2 (done), 3 (open), 4 (done), 5 (done), 8 (open).
        // S(2) = 4/5 = 0.8; at 3 one leaves (at risk 3); S(4) = 0.8 × 2/3 = 0.5333; S(5) = 0.5333 × 1/2 = 0.2667.
        // Remediated share: 0.2 at 2, 0.4667 at 4, 0.7333 at 5 — p50 = 5; p90 never reached (one item still open at 8).
        var spells = new List<RemediationSpell> { new(2, true), new(3, false), new(4, true), new(5, true), new(8, false) };
        var summary = RemediationTimes.Summarize(spells);
        Assert.Equal((5, 3, 2), (summary.Items, summary.Remediated, summary.Open));
        Assert.Equal(5, summary.P50Days);
        Assert.Null(summary.P90Days);
        // Dropping the open items would have said p50 = 4: the estimate does not flatter.
        Assert.Equal(4, RemediationTimes.Percentile(spells.Where(s => s.Remediated).ToList(), 0.5));
    }

    [Fact]
    public void nothing_remediated_or_nothing_at_all_has_no_percentile()
    {
        Assert.Null(RemediationTimes.Percentile([new RemediationSpell(3, false)], 0.5));
        Assert.Equal(new RemediationSummary(0, 0, 0, null, null, null), RemediationTimes.Summarize([]));
    }
}
