using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// A column a read model gains later (the computers list's enrolment instant, a Marten duplicated field) is filled in the
/// rows without their triggers and in the versions its history kept before, from each document: a report asked asOf
/// sorts those versions by it too.
/// </summary>
public class when_a_read_model_gains_a_column(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task the_versions_kept_before_it_get_its_value_from_their_document()
    {
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers", new { name = "NEVER-ENROLLED", operatingSystem = "Windows 11 Pro" })).Status);
        var (_, tokenBody) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "derived", maxUses = 5 });
        using var client = App.Client();
        foreach (var name in new[] { "ENROLLED-1", "ENROLLED-2" })
            Assert.True((await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new
            {
                token = tokenBody.GetProperty("token").GetString(), computerName = name, agentVersion = "1.0.0",
            }), Encoding.UTF8, "application/json"), ct)).IsSuccessStatusCode);
        const string History = "patch.mt_doc_computer_row_history";
        // The live column holds the instant as Npgsql wrote it: ticks cut to microseconds.
        const string Mismatched = $@"select count(*) from {History} where enrolled_at is distinct from regexp_replace(data ->> 'enrolledAt', '(\.[0-9]{{6}})[0-9]+', '\1')::timestamptz";
        Assert.Equal(0L, await SqlScalarAsync(Mismatched));
        Assert.True((long)(await SqlScalarAsync($"select count(*) from {History} where enrolled_at is not null"))! >= 2);

        // A store from before the column (an upgrade): the live table gets it filled without its triggers (no version is
        // kept for it, the counts do not move), and every version its history kept before gets it from its document.
        var versions = await SqlScalarAsync($"select count(*) from {History}");
        var counts = await SqlScalarAsync("select string_agg(os || '|' || agent_version || '|' || computers || '|' || agents, ',' order by os, agent_version) from patch.computer_counts");
        await SqlScalarAsync($"alter table patch.mt_doc_computer_row drop column enrolled_at; alter table {History} drop column enrolled_at");
        await Patch.Projections.ReadModelSchema.EnsureAsync(Db, App.Store, ct);
        Assert.Equal(0L, await SqlScalarAsync($"select count(*) from patch.mt_doc_computer_row where enrolled_at is distinct from {Patch.Projections.Computers.ComputerCounts.EnrolledAt}"));
        Assert.Equal(2L, await SqlScalarAsync("select count(*) from patch.mt_doc_computer_row where enrolled_at is not null"));
        Assert.Equal(versions, await SqlScalarAsync($"select count(*) from {History}"));
        Assert.Equal(counts, await SqlScalarAsync("select string_agg(os || '|' || agent_version || '|' || computers || '|' || agents, ',' order by os, agent_version) from patch.computer_counts"));
        Assert.Equal("CREATE INDEX ix_computer_row_enrolled_id ON patch.mt_doc_computer_row USING btree (enrolled_at, id)",
            await SqlScalarAsync("select indexdef from pg_indexes where schemaname = 'patch' and indexname = 'ix_computer_row_enrolled_id'"));
        Assert.Equal(0L, await SqlScalarAsync(Mismatched));
        Assert.True((long)(await SqlScalarAsync($"select count(*) from {History} where enrolled_at is not null"))! >= 2);
        Assert.Equal(200, (int)(await SendAsync(HttpMethod.Post, "/api/computers", new { name = "LATER", operatingSystem = "Windows 10 Pro" })).Status);
        Assert.Equal(0L, await SqlScalarAsync(Mismatched));

        // Asked asOf now, by enrolment: the enrolled computers first, the others after them.
        var asOf = Uri.EscapeDataString((string)(await SqlScalarAsync("select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"))!);
        var (status, page) = await SendAsync(HttpMethod.Get, $"/api/computers?sort=enrolledAt&asOf={asOf}");
        Assert.Equal(200, (int)status);
        Assert.Equal(["ENROLLED-1", "ENROLLED-2"], page.GetProperty("items").EnumerateArray().Take(2).Select(i => i.GetProperty("name").GetString()).Order());
        Assert.All(page.GetProperty("items").EnumerateArray().Skip(2), i => Assert.Equal(JsonValueKind.Null, i.GetProperty("enrolledAt").ValueKind));
    }
}
