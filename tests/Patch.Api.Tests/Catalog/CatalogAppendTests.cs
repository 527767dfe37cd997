using System.Text;
using System.Xml.Linq;
using JasperFx.Events;
using Marten;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog;
using Patch.Domain.Catalog;
using Patch.Domain.Vulnerabilities;
using Patch.Projections.Catalog;

namespace Patch.Api.Tests.Catalog;

/// <summary>
/// An import's events and inline snapshots are written by Patch in one batch (ADR 0046): Marten must read them back as its
/// own, and the snapshots must be what its projections build from the events.
/// </summary>
public class when_an_import_writes_its_streams_in_one_statement(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task marten_reads_the_events_back_and_its_projections_build_the_same_documents_first_and_revised()
    {
        var first = await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        await AssertAsMartenWritesAsync(first.GetProperty("runId").GetString()!);

        var revised = await App.ImportAsync("cvrf", Revised2023());
        Assert.Equal(1, revised.GetProperty("bulletinsRevised").GetInt32());
        await AssertAsMartenWritesAsync(revised.GetProperty("runId").GetString()!);

        var kev = await App.ImportAsync("kev", SharedData.Bytes(SharedData.Kev));
        Assert.True(kev.GetProperty("vulnerabilitiesAdded").GetInt32() > 1000);
        await AssertAsMartenWritesAsync(kev.GetProperty("runId").GetString()!);
    }

    [Fact]
    public async Task a_cve_written_in_two_cases_is_one_product_vulnerability_not_a_stream_decided_twice()
    {
        // The stream of a product vulnerability is keyed by the CVE in upper case: the same CVE written twice in two
        // cases (each with a fix without a KB for the same product) is one fact, imported once.
        const string Vulnerability = """
              <vuln:Vulnerability><vuln:CVE>{0}</vuln:CVE>
                <vuln:Remediations><vuln:Remediation Type="Vendor Fix"><vuln:Description>Release Notes</vuln:Description><vuln:ProductID>11</vuln:ProductID>
                  <vuln:FixedBuild>{1}</vuln:FixedBuild></vuln:Remediation></vuln:Remediations>
              </vuln:Vulnerability>
            """;
        var xml = $"""
            <cvrfdoc xmlns="http://www.icasi.org/CVRF/schema/cvrf/1.1" xmlns:vuln="http://www.icasi.org/CVRF/schema/vuln/1.1" xmlns:prod="http://www.icasi.org/CVRF/schema/prod/1.1">
              <DocumentTitle>Cases</DocumentTitle>
              <DocumentTracking><Identification><ID>2024-Cases</ID></Identification><InitialReleaseDate>2024-01-09T08:00:00</InitialReleaseDate></DocumentTracking>
              <prod:ProductTree><prod:FullProductName ProductID="11">Windows 11 Version 23H2 for x64-based Systems</prod:FullProductName></prod:ProductTree>
              {string.Format(Vulnerability, "CVE-2024-0001", "10.0.22631.3007")}
              {string.Format(Vulnerability, "cve-2024-0001", "")}
            </cvrfdoc>
            """;
        var result = await App.ImportAsync("cvrf", Encoding.UTF8.GetBytes(xml));
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal(1, result.GetProperty("vulnerabilitiesAdded").GetInt32());
        await AssertAsMartenWritesAsync(result.GetProperty("runId").GetString()!);
    }

    /// <summary>2023-Jan with KB5022282's fixed build changed in its eight remediations: one bulletin revised, eight updates.</summary>
    private static byte[] Revised2023()
    {
        var doc = XDocument.Load(SharedData.PathOf(SharedData.Cvrf2023));
        XNamespace vuln = "http://www.icasi.org/CVRF/schema/vuln/1.1";
        foreach (var r in doc.Descendants(vuln + "Remediation").Where(r => r.Element(vuln + "Description")?.Value == "5022282"))
            r.SetElementValue(vuln + "FixedBuild", "10.0.17763.9999");
        return Encoding.UTF8.GetBytes(doc.ToString());
    }

    /// <summary>Each stream the run wrote: consecutive versions, the run's actor and causation, the stream's alias, and each snapshot as Marten folds it.</summary>
    private async Task AssertAsMartenWritesAsync(string runId)
    {
        await using var session = App.Store.QuerySession();
        var serializer = App.Store.Options.Serializer();
        var streams = await session.Events.QueryAllRawEvents().Where(e => e.CausationId == runId && e.StreamKey != runId).Select(e => e.StreamKey!).ToListAsync();
        Assert.NotEmpty(streams);
        foreach (var id in streams.Distinct())
        {
            var events = await session.Events.FetchStreamAsync(id);
            Assert.Equal(Enumerable.Range(1, events.Count).Select(v => (long)v), events.Select(e => e.Version));
            Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence), id);
            var mine = events.Where(e => e.CausationId == runId).ToList();
            Assert.All(mine, e =>
            {
                Assert.Equal("tester", e.UserName);
                Assert.Equal("user", e.Headers!["actorKind"]?.ToString());
                Assert.False(string.IsNullOrEmpty(e.CorrelationId));
            });
            var state = await session.Events.FetchStreamStateAsync(id);
            Assert.Equal(events.Count, state!.Version);
            Assert.Equal(streams.Count(s => s == id), mine.Count);

            var aggregate = events[0].Data switch
            {
                BulletinImported => typeof(Bulletin),
                ProductVulnerabilityPublished => typeof(ProductVulnerability),
                KnownExploitedVulnerabilityListed => typeof(KnownExploitedVulnerability),
                var other => throw new Xunit.Sdk.XunitException($"{id}: an unexpected first event {other.GetType().Name}"),
            };
            // The stream's alias as Marten writes it when it starts a stream of that aggregate.
            Assert.Equal(((Marten.Events.EventGraph)App.Store.Options.Events).AggregateAliasFor(aggregate),
                await SqlScalarAsync($"select type from patch.mt_streams where id = '{id}'"));
            if (aggregate == typeof(Bulletin))
            {
                await AssertSnapshotAsync<Bulletin>(session, serializer, id, events.Count);
                await AssertSnapshotAsync<BulletinRow>(session, serializer, id, events.Count);
            }
            else if (aggregate == typeof(ProductVulnerability)) await AssertSnapshotAsync<ProductVulnerability>(session, serializer, id, events.Count);
            else await AssertSnapshotAsync<KnownExploitedVulnerability>(session, serializer, id, events.Count);
        }
    }

    private async Task AssertSnapshotAsync<T>(IQuerySession session, ISerializer serializer, string id, long version) where T : class
    {
        var folded = await session.Events.AggregateStreamAsync<T>(id);
        var table = CatalogAppend.Tables[typeof(T)];
        // The stored document is the folded one, compared as PostgreSQL stores it (jsonb orders the keys of an object its own way).
        await using (var same = Db.CreateCommand($"select data = $1::jsonb, data::text from patch.{table} where id = $2"))
        {
            same.Parameters.Add(new() { Value = serializer.ToJson(folded) });
            same.Parameters.Add(new() { Value = id });
            await using var reader = await same.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync(), $"{typeof(T).Name} {id} not stored");
            Assert.True(reader.GetBoolean(0), $"{typeof(T).Name} {id}: stored {reader.GetString(1)}\nfolded {serializer.ToJson(folded)}");
        }
        Assert.Equal(version, Convert.ToInt64(await SqlScalarAsync($"select mt_version from patch.{table} where id = '{id}'")));
        Assert.Equal(typeof(T).FullName, await SqlScalarAsync($"select mt_dotnet_type from patch.{table} where id = '{id}'"));
    }

    [Fact]
    public async Task the_snapshot_tables_have_exactly_the_columns_the_batch_writes()
    {
        foreach (var table in CatalogAppend.Tables.Values)
            Assert.Equal("data,id,mt_dotnet_type,mt_last_modified,mt_version",
                await SqlScalarAsync($"select string_agg(column_name, ',' order by column_name) from information_schema.columns where table_schema = 'patch' and table_name = '{table}'"));
    }

    [Fact]
    public async Task imports_of_one_revision_at_once_write_it_once_the_later_ones_decided_again()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        var revised = Revised2023();
        var before = await App.CatalogEventCountAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => App.ImportAsync("cvrf", revised)));

        // One of them revised the bulletin; the others, decided again against its write, found nothing to change.
        Assert.Equal(1, results.Sum(r => r.GetProperty("bulletinsRevised").GetInt32()));
        Assert.Equal(before + 8, await App.CatalogEventCountAsync());
        await using var session = App.Store.QuerySession();
        var bulletin = await session.LoadAsync<Bulletin>("microsoft:KB5022282");
        Assert.Equal(8, bulletin!.Updates.Count(u => u.FixedBuild == "10.0.17763.9999"));
        Assert.Equal((await session.Events.FetchStreamAsync("microsoft:KB5022282")).Count,
            Convert.ToInt64(await SqlScalarAsync("select mt_version from patch.mt_doc_bulletin_row where id = 'microsoft:KB5022282'")));
    }
}
