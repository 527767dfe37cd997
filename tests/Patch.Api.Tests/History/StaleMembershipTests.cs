using Marten;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Agents;
using Patch.Domain.Computers;

namespace Patch.Api.Tests.History;

/// <summary>
/// A computer whose inventory was stored but not analysed yet (its own analysis had not committed when the fleet
/// analysis ran) is analysed by the fleet analysis as of its own inventory, not as of the catalog's last change: its
/// rows are not true before it reported them, and a rebuild from the events writes the same versions.
/// </summary>
public class when_the_fleet_analysis_finds_a_computer_not_yet_analysed(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task its_rows_are_true_from_its_inventory_and_the_rebuild_writes_the_same()
    {
        await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
        await Task.Delay(50, TestContext.Current.CancellationToken);
        // The inventory is stored as the agents' requests store it, without the analysis their requests then run.
        DateTimeOffset reported;
        await using (var session = App.Store.LightweightSession())
        {
            var id = Computer.StreamId("STALE-1");
            var stream = await session.Events.FetchForWriting<Computer>(id, TestContext.Current.CancellationToken);
            stream.AppendMany(Computer.Decide(null, "STALE-1", "lab.example", "Microsoft Windows 10 Enterprise", null).Events);
            stream.AppendOne(new InventoryReported(id, new AgentInventory("Microsoft Windows 10 Enterprise", "10.0.19045.3930", "x64", 0, false, ["en-US"], [], ["KB5034122"], "0.1.0"),
                App.Clock.GetUtcNow()));
            await session.SaveChangesAsync(TestContext.Current.CancellationToken);
        }
        await using (var at = App.Store.QuerySession())
            reported = (await at.Events.FetchStreamAsync(Computer.StreamId("STALE-1"), token: TestContext.Current.CancellationToken))[^1].Timestamp;

        using (var client = App.Client())
            Assert.True((await client.PostAsync("/api/server-tasks/vulnerability-analysis/run?wait=true", null, TestContext.Current.CancellationToken)).IsSuccessStatusCode);

        var db = (Npgsql.NpgsqlDataSource)App.Host.Services.GetService(typeof(Npgsql.NpgsqlDataSource))!;
        await using (var cmd = db.CreateCommand("select valid_from from patch.compliance_member_history where computer_id = 'computer:stale-1'"))
        await using (var row = await cmd.ExecuteReaderAsync(TestContext.Current.CancellationToken))
        {
            Assert.True(await row.ReadAsync(TestContext.Current.CancellationToken));
            // PostgreSQL keeps microseconds.
            Assert.Equal(reported.UtcTicks / 10, row.GetFieldValue<DateTimeOffset>(0).UtcTicks / 10);
        }
        await PastAnswers.RebuildAndCompareAsync(App);
    }
}
