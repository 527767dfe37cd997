using Patch.Domain.Hierarchy;

namespace Patch.Domain.Tests;

/// <summary>A child's roll-up report is input like any other: counts that cannot be, or do not agree, are refused by name.</summary>
public class when_a_child_reports_its_figures
{
    private static HierarchyFigures Figures(long computers = 100, long withAgent = 90, long notReporting = 5, long executed = 40, long succeeded = 30, long failed = 5,
        long notCompleted = 5, long restarts = 3, int servers = 1, long critical = 12) =>
        new(servers, computers, withAgent, notReporting, [new SeverityFigures("Critical", critical * 3, critical)], executed, succeeded, failed, notCompleted, restarts);

    [Fact]
    public void plausible_figures_are_taken() => Assert.Null(Figures().Problem());

    [Theory]
    [InlineData(long.MaxValue, 10, "at most 1000000000000")]
    [InlineData(10, long.MaxValue, "at most 1000000000000")]
    [InlineData(-1, 0, "never negative")]
    public void counts_that_cannot_be_are_refused(long computers, long withAgent, string expected) =>
        Assert.Contains(expected, Figures(computers: computers, withAgent: withAgent, notReporting: 0, restarts: 0, critical: 0).Problem());

    /// <summary>
    /// The child reads each figure by its own query: during a read-model rebuild its computer count empties and refills
    /// while its compliance does not, so figures that disagree for a while are a child's honest report, taken.
    /// </summary>
    [Fact]
    public void figures_read_apart_may_disagree_for_a_while() =>
        Assert.Null(Figures(computers: 10, withAgent: 90, restarts: 30, critical: 50, executed: 10, succeeded: 11).Problem());

    /// <summary>At most a hundred thousand servers of at most a trillion each: their sum stays a count (no wrap-around to a negative total).</summary>
    [Fact]
    public void the_largest_reports_summed_stay_positive()
    {
        var largest = Figures(computers: HierarchyFigures.MaxCount, withAgent: 0, servers: 1);
        Assert.Null(largest.Problem());
        var sum = HierarchyFigures.Sum(Enumerable.Repeat(largest, 100_000));
        Assert.Equal(100_000 * HierarchyFigures.MaxCount, sum.Computers);
    }

    [Fact]
    public void a_subtree_holds_the_server_itself()
    {
        Assert.Null(Figures(computers: 300, servers: 3).SubtreeProblem(Figures()));
        Assert.Contains("include the server's own", Figures(computers: 50, withAgent: 40).SubtreeProblem(Figures()));
    }
}
