using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Agents;
using Patch.Domain.Computers;

namespace Patch.Api.Tests.Agents;

/// <summary>The agents' events appended without PostgreSQL's per-row stream check, and with it (ADR 0039).</summary>
public class when_agent_events_are_appended_trusted(AppFixture app) : AppTest(app)
{
    /// <summary>
    /// A trusted append skips the triggers of the events and streams tables with the foreign key: only the two that stamp
    /// <c>now()</c> (which the append writes itself) may be there. A new trigger on either table must be weighed against
    /// ADR 0039 before it is added here.
    /// </summary>
    [Fact]
    public async Task the_suite_appends_trusted_and_only_the_known_triggers_are_skipped()
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.True(App.Host.Services.GetRequiredService<AgentEventIngest>().Trusted);
        await using var cmd = Db.CreateCommand("""
            select c.relname || '.' || t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'patch' and c.relname in ('mt_events', 'mt_streams') and not t.tgisinternal order by 1
            """);
        var triggers = new List<string>();
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) triggers.Add(reader.GetString(0));
        Assert.Equal(["mt_events.mt_events_recorded_at", "mt_streams.mt_streams_recorded_at"], triggers);
    }

    [Fact]
    public async Task a_database_user_may_append_trusted_only_when_granted_the_setting()
    {
        var ct = TestContext.Current.CancellationToken;
        var role = $"patch_trust_{Guid.NewGuid():N}"[..24];
        await SqlScalarAsync($"create role {role} login");
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(Db.ConnectionString) { Username = role, Pooling = false };
            await using (var asRole = NpgsqlDataSource.Create(builder.ConnectionString))
                Assert.False(await AgentEventAppend.MayTrustAsync(asRole, ct));
            await SqlScalarAsync($"grant set on parameter session_replication_role to {role}");
            await using (var asRole = NpgsqlDataSource.Create(builder.ConnectionString))
                Assert.True(await AgentEventAppend.MayTrustAsync(asRole, ct));
            await SqlScalarAsync($"revoke set on parameter session_replication_role from {role}");
        }
        finally
        {
            await SqlScalarAsync($"drop role {role}");
        }
    }

    /// <summary>Trusted or not, the same rows: each stream numbered 1…n in the order sent, a resent batch appends nothing.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task trusted_or_not_the_streams_are_numbered_in_order_and_a_resent_batch_appends_nothing(bool trusted)
    {
        var ct = TestContext.Current.CancellationToken;
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Patch:Ingest:TrustedAppend"] = trusted.ToString() }).Build();
        var ingest = new AgentEventIngest(App.Store, Db, NullLogger<AgentEventIngest>.Instance, config);
        await ingest.StartAsync(ct);
        try
        {
            Assert.Equal(trusted, ingest.Trusted);
            var run = Guid.NewGuid().ToString("N")[..8];
            var callers = Enumerable.Range(0, 4).Select(i => new AgentCaller($"computer:{run}-{i}", $"PC-T{run}-{i}", $"agent-{run}-{i}")).ToList();
            var rounds = Enumerable.Range(0, 2).Select(r => callers.Select(_ => Enumerable.Range(r * 15, 15)
                .Select(n => new AgentEventInput(Guid.NewGuid(), DateTimeOffset.UtcNow, "Pending", "KB1", $"u{n}", null)).ToList()).ToList()).ToList();
            foreach (var round in rounds)
                Assert.All(await Task.WhenAll(callers.Select((c, i) => ingest.SubmitAsync(c, round[i], ct))), r => Assert.Equal((15, 15, 0), (r.Received, r.New, r.Duplicates)));
            // The first round again, with one new event: only that one is appended.
            var again = await ingest.SubmitAsync(callers[0], [.. rounds[0][0], new AgentEventInput(Guid.NewGuid(), DateTimeOffset.UtcNow, "Pending", "KB1", "u30", null)], ct);
            Assert.Equal((16, 1, 15), (again.Received, again.New, again.Duplicates));

            await using var session = App.Store.QuerySession();
            foreach (var (caller, index) in callers.Select((c, i) => (c, i)))
            {
                var stream = AgentStatusReported.StreamId(caller.Name);
                var events = await session.Events.FetchStreamAsync(stream, token: ct);
                var expected = index == 0 ? 31 : 30;
                Assert.Equal(Enumerable.Range(1, expected).Select(v => (long)v), events.Select(e => e.Version));
                Assert.Equal(Enumerable.Range(0, expected).Select(n => $"u{n}"), events.Select(e => ((AgentStatusReported)e.Data).UpdateId));
                Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence));
                // Each event's id in the store is drawn from its computer and the agent's id: its receipt (ADR 0034, amended).
                Assert.Equal(AgentEventReceipts.EventIds(caller.ComputerId, events.Select(e => ((AgentStatusReported)e.Data).EventId).ToList()), events.Select(e => e.Id));
                Assert.Equal(expected, events.Select(e => e.Id).Distinct().Count());
                Assert.Equal(expected, (await session.Events.FetchStreamStateAsync(stream, ct))!.Version);
            }
        }
        finally
        {
            await ingest.StopAsync(CancellationToken.None);
        }
    }
}
