using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Common;
using Patch.Projections;
using Patch.Projections.History;

namespace Patch.Api.Tests.History;

/// <summary>
/// A key's versions can end at the same instant: the one valid until then, and a zero-length one that began and ended at
/// it (a counter set to 0 and deleted in one statement, a write clamped to a later one). Asked as of an instant inside the
/// first, the key is there — whichever of the two its index gives first (here the zero-length one, written first).
/// </summary>
public class when_a_key_has_a_zero_length_version(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task the_version_valid_at_the_instant_is_found()
    {
        var db = App.Host.Services.GetRequiredService<NpgsqlDataSource>();
        await using var conn = await db.OpenConnectionAsync(TestContext.Current.CancellationToken);
        await using var tx = await conn.BeginTransactionAsync(TestContext.Current.CancellationToken);
        const string key = "test:zero-length";
        var history = $"{PatchStore.Schema}.{ReadModels.ComplianceBulletin}_history";
        await using (var write = new NpgsqlCommand($"""
            insert into {history} (bulletin_id, applicable, missing, valid_from, valid_to) values (@k, 0, 0, '2026-10-20T00:00:00Z', '2026-10-20T00:00:00Z');
            insert into {history} (bulletin_id, applicable, missing, valid_from, valid_to) values (@k, 3, 3, '2026-10-01T00:00:00Z', '2026-10-20T00:00:00Z');
            insert into {PatchStore.Schema}.{ReadModels.ComplianceBulletin}_history_keys (bulletin_id) values (@k) on conflict do nothing;
            """, conn, tx))
        {
            write.Parameters.AddWithValue("k", key);
            await write.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }

        async Task<List<int>> ApplicableAsync(string at)
        {
            await using var read = new NpgsqlCommand($"select r.applicable from {ReadModelHistory.Relation(ReadModels.ComplianceBulletin, true)} r where r.bulletin_id = @k", conn, tx);
            read.Parameters.AddWithValue("k", key);
            read.Parameters.AddWithValue("asOf", DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture));
            var found = new List<int>();
            await using var reader = await read.ExecuteReaderAsync(TestContext.Current.CancellationToken);
            while (await reader.ReadAsync(TestContext.Current.CancellationToken)) found.Add(reader.GetInt32(0));
            return found;
        }

        Assert.Equal([3], await ApplicableAsync("2026-10-10T00:00:00Z"));
        Assert.Empty(await ApplicableAsync("2026-10-25T00:00:00Z"));
        Assert.Empty(await ApplicableAsync("2026-09-25T00:00:00Z"));
        await tx.RollbackAsync(TestContext.Current.CancellationToken);
    }
}
