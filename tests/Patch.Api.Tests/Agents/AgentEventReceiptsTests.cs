using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Agents;
using Patch.Domain.Computers;

namespace Patch.Api.Tests.Agents;

/// <summary>An agent's event appended is its own receipt: its id in the store comes from its computer and the agent's id (ADR 0034, amended).</summary>
public class when_agent_events_are_their_own_receipts(AppFixture app) : AppTest(app)
{
    [Fact]
    public void an_events_id_comes_from_its_computer_and_the_agents_id_alone()
    {
        var agentIds = Enumerable.Range(0, 20_000).Select(_ => Guid.NewGuid()).ToList();
        var mine = AgentEventReceipts.EventIds("computer:a", agentIds);
        Assert.Equal(mine, AgentEventReceipts.EventIds("computer:a", agentIds));
        // Another computer's agent sending the same ids shadows nothing.
        var other = AgentEventReceipts.EventIds("computer:b", agentIds);
        Assert.Empty(mine.Intersect(other));
        Assert.Equal(agentIds.Count, mine.Distinct().Count());
        // An RFC 9562 version 8 UUID; one computer's ids share their first four bytes (they sit together in the index).
        Assert.All(mine, id => Assert.Equal(8, id.Version));
        Assert.All(mine, id => Assert.Equal(0x80, id.ToByteArray(bigEndian: true)[8] & 0xC0));
        Assert.Single(mine.Select(id => Convert.ToHexString(id.ToByteArray(bigEndian: true)[..4])).Distinct());
        Assert.NotEqual(mine[0].ToByteArray(bigEndian: true)[..4], other[0].ToByteArray(bigEndian: true)[..4]);
        // Not the agent's id, and a change of one bit of it gives another id.
        Assert.DoesNotContain(mine, id => agentIds.Contains(id));
        var flipped = agentIds[0].ToByteArray();
        flipped[15] ^= 1;
        Assert.NotEqual(mine[0], AgentEventReceipts.EventIds("computer:a", [new Guid(flipped)])[0]);
    }

    [Fact]
    public async Task the_store_keeps_event_ids_unique()
    {
        var definition = (string?)await SqlScalarAsync($"select indexdef from pg_indexes where schemaname = 'patch' and indexname = '{AgentEventReceipts.UniqueIndex}'");
        Assert.NotNull(definition);
        Assert.StartsWith("CREATE UNIQUE INDEX", definition);
        Assert.EndsWith("(id)", definition);
    }

    /// <summary>
    /// One writer, so the batches share transactions: a batch received before, resent beside other agents' new ones, fails
    /// the combined append, which goes back and appends the new events alone; two nodes given the same batch at once append it once.
    /// </summary>
    [Fact]
    public async Task a_resent_batch_among_new_ones_and_one_sent_to_two_nodes_at_once_are_appended_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Patch:Ingest:EventWriters"] = "1" }).Build();
        var one = new AgentEventIngest(App.Store, Db, NullLogger<AgentEventIngest>.Instance, config);
        var two = new AgentEventIngest(App.Store, Db, NullLogger<AgentEventIngest>.Instance, config);
        await one.StartAsync(ct);
        await two.StartAsync(ct);
        try
        {
            var run = Guid.NewGuid().ToString("N")[..8];
            var callers = Enumerable.Range(0, 3).Select(i => new AgentCaller($"computer:{run}-{i}", $"PC-R{run}-{i}", $"agent-{run}-{i}")).ToList();
            var first = Events(10, 0);
            Assert.Equal((10, 0), Counts(await one.SubmitAsync(callers[0], first, ct)));

            var resent = one.SubmitAsync(callers[0], [.. first, .. Events(2, 10)], ct);
            var others = callers.Skip(1).Select(c => one.SubmitAsync(c, Events(10, 0), ct)).ToList();
            Assert.Equal((2, 10), Counts(await resent));
            Assert.All(await Task.WhenAll(others), r => Assert.Equal((10, 0), Counts(r)));

            // The same batch through two nodes at once, five times: each event is new on exactly one of them.
            for (var round = 0; round < 5; round++)
            {
                var batch = Events(20, 12 + 20 * round);
                var answers = await Task.WhenAll(one.SubmitAsync(callers[1], batch, ct), two.SubmitAsync(callers[1], batch, ct));
                Assert.Equal((20, 20), (answers.Sum(a => a.New), answers.Sum(a => a.Duplicates)));
            }

            await using var session = App.Store.QuerySession();
            var stream = await session.Events.FetchStreamAsync(AgentStatusReported.StreamId(callers[0].Name), token: ct);
            Assert.Equal(Enumerable.Range(0, 12).Select(n => $"u{n}"), stream.Select(e => ((AgentStatusReported)e.Data).UpdateId));
            var second = await session.Events.FetchStreamAsync(AgentStatusReported.StreamId(callers[1].Name), token: ct);
            Assert.Equal(Enumerable.Range(1, 110).Select(n => (long)n), second.Select(e => e.Version));
            Assert.Equal(110, second.Select(e => ((AgentStatusReported)e.Data).EventId).Distinct().Count());
        }
        finally
        {
            await one.StopAsync(CancellationToken.None);
            await two.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// A server upgraded from the receipts' own table keeps it read-only: an event it lists, sent again, is a duplicate;
    /// the table is marked at the first start with that instant, which later starts keep; an empty one is dropped.
    /// </summary>
    [Fact]
    public async Task the_receipts_of_a_server_before_the_upgrade_are_still_honoured()
    {
        var ct = TestContext.Current.CancellationToken;
        var caller = new AgentCaller($"computer:legacy-{Guid.NewGuid():N}"[..24], "PC-LEGACY", "agent-legacy");
        var received = Events(3, 0);
        await SqlScalarAsync($"""
            create table {AgentEventReceipts.LegacyTable} (computer_id text not null, event_id uuid not null, received_at timestamptz not null default now(), primary key (computer_id, event_id));
            insert into {AgentEventReceipts.LegacyTable} (computer_id, event_id, received_at) select '{caller.ComputerId}', unnest(array['{string.Join("','", received.Select(e => e.Id))}']::uuid[]), now() - interval '1 hour';
            """);
        try
        {
            var ingest = new AgentEventIngest(App.Store, Db, NullLogger<AgentEventIngest>.Instance, new ConfigurationBuilder().Build());
            await ingest.StartAsync(ct);
            string marked;
            try
            {
                marked = (string)(await SqlScalarAsync($"select obj_description('{AgentEventReceipts.LegacyTable}'::regclass, 'pg_class')"))!;
                Assert.True(DateTimeOffset.Parse(marked) > DateTimeOffset.UtcNow.AddMinutes(-5));
                Assert.Equal((1, 3), Counts(await ingest.SubmitAsync(caller, [.. received, .. Events(1, 3)], ct)));
            }
            finally
            {
                await ingest.StopAsync(CancellationToken.None);
            }
            Assert.NotNull(await AgentEventReceipts.LegacyUntilAsync(Db, ct));
            Assert.Equal(marked, (string)(await SqlScalarAsync($"select obj_description('{AgentEventReceipts.LegacyTable}'::regclass, 'pg_class')"))!);

            await SqlScalarAsync($"delete from {AgentEventReceipts.LegacyTable}");
            Assert.Null(await AgentEventReceipts.LegacyUntilAsync(Db, ct));
            Assert.Equal("", (string)(await SqlScalarAsync($"select coalesce(to_regclass('{AgentEventReceipts.LegacyTable}')::text, '')"))!);
        }
        finally
        {
            await SqlScalarAsync($"drop table if exists {AgentEventReceipts.LegacyTable}");
        }
    }

    private static List<AgentEventInput> Events(int count, int from) =>
        Enumerable.Range(from, count).Select(n => new AgentEventInput(Guid.NewGuid(), DateTimeOffset.UtcNow.AddMinutes(-30), "Pending", "KB1", $"u{n}", null)).ToList();

    private static (int New, int Duplicates) Counts(AgentEventsAccepted accepted) => (accepted.New, accepted.Duplicates);
}
