using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// A read model's indexes are mirrored on its history (reports asked asOf get the same access paths); an index the live
/// table no longer has loses its mirror at the next start, instead of being written by every version kept and read by
/// nothing (found when ADR 0043 replaced the computers list's operating-system index: its 145 MB mirror stayed).
/// </summary>
public class when_a_read_model_index_is_replaced(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task its_mirror_on_the_history_goes_and_the_others_stay()
    {
        var ct = TestContext.Current.CancellationToken;
        var db = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>();
        async Task<List<string>> MirrorsAsync()
        {
            await using var cmd = db.CreateCommand("select indexname from pg_indexes where schemaname = 'patch' and tablename = 'compliance_member_history' order by 1");
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            var names = new List<string>();
            while (await reader.ReadAsync(ct)) names.Add(reader.GetString(0));
            return names;
        }
        async Task RunAsync(string sql)
        {
            await using var cmd = db.CreateCommand(sql);
            await cmd.ExecuteNonQueryAsync(ct);
        }

        var before = await MirrorsAsync();
        await RunAsync("create index ix_test_member_analysed on patch.compliance_member (analysed_at)");
        try
        {
            await Patch.Projections.History.ReadModelHistory.EnsureAsync(db, ct);
            Assert.Equal(before.Append("h_ix_test_member_analysed").Order(StringComparer.Ordinal), (await MirrorsAsync()).Order(StringComparer.Ordinal));
        }
        finally
        {
            await RunAsync("drop index if exists patch.ix_test_member_analysed");
        }
        await Patch.Projections.History.ReadModelHistory.EnsureAsync(db, ct);
        Assert.Equal(before, await MirrorsAsync());
    }
}
