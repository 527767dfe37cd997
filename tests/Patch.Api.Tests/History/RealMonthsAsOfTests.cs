using System.Net;
using System.Text.Json;
using Patch.Agent;
using Patch.Agent.Inventory;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// Real Microsoft months imported one after another, real Windows captures enrolled, an inventory changed, a custom
/// severity assigned: every compliance report asked about each earlier instant answers as it did live — before and
/// after every read model is rebuilt from the events.
/// </summary>
public class when_real_months_arrive_one_after_another(AppFixture app) : AppTest(app)
{
    private static byte[] Month(string name)
    {
        using var stream = SharedData.OpenCvrf(name);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static Domain.Agents.AgentInventory Capture(string name) =>
        new FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/" + name)).Read();

    [Fact]
    public async Task compliance_as_of_each_month_is_what_it_was_then_and_stays_so_after_a_rebuild()
    {
        await App.ImportAsync("cvrf", Month("msrc-cvrf/2024-Jan.xml"));
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "real", maxUses = 10 });
        var agents = new AgentClient(App.Client());
        var credentials = new Dictionary<string, string>();
        foreach (var (name, capture) in new[] { ("W10-22H2", "10_22H2_x64_enterprise_en-us_systeminfo.txt"), ("W11-23H2", "11_23H2_x64_enterprise_systeminfo.txt"),
                     ("SRV-2019", "srv_2019_rtm_datacenter_en-us_systeminfo.txt") })
        {
            var enrolled = await agents.EnrolAsync(issued.GetProperty("token").GetString()!, name, null, "0.1.0", CancellationToken.None);
            credentials[name] = enrolled.Credential;
            await agents.SendInventoryAsync(enrolled.Credential, Capture(capture), CancellationToken.None);
        }
        using (var client = App.Client()) Assert.True((await client.PostAsync("/api/server-tasks/vulnerability-analysis/run?wait=true", null)).IsSuccessStatusCode);
        string[] reports =
        [
            "/api/reports/compliance/bulletins?pageSize=100", "/api/reports/compliance/computers", "/api/reports/compliance/updates?pageSize=200",
            "/api/reports/compliance/computers/W10-22H2/updates?pageSize=500", "/api/reports/compliance/computers/SRV-2019/updates?state=Missing",
            "/api/reports/vulnerabilities", "/api/reports/vulnerabilities/families", "/api/reports/vulnerabilities/products?pageSize=500",
            "/api/bulletins?pageSize=100&sort=bulletin", "/api/bulletins?view=latest&groupBy=severity", "/api/computers/W10-22H2/updates", "/api/home",
        ];
        var snapshots = new List<Snapshot> { await PastAnswers.TakeAsync(App, reports) };

        // February arrives (its fleet analysis runs on its own after the import), and gets a custom severity.
        await App.ImportAsync("cvrf", Month("msrc-cvrf/archive/2024-Feb.xml.gz"));
        using (var client = App.Client()) Assert.True((await client.PostAsync("/api/server-tasks/vulnerability-analysis/run?wait=true", null)).IsSuccessStatusCode);
        var (_, levels) = await SendAsync(HttpMethod.Post, "/api/custom-severities", new { name = "This month" });
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, "/api/bulletins/KB5034763/custom-severity", new { levelId = levels[0].GetProperty("id").GetString() })).Status);
        snapshots.Add(await PastAnswers.TakeAsync(App, reports));

        // The Windows 10 computer installs February's cumulative update and reports again.
        var w10 = Capture("10_22H2_x64_enterprise_en-us_systeminfo.txt");
        await agents.SendInventoryAsync(credentials["W10-22H2"], w10 with { InstalledKbs = [.. w10.InstalledKbs, "KB5034763"] }, CancellationToken.None);
        snapshots.Add(await PastAnswers.TakeAsync(App, reports));

        // Computers missing something of each severity: the report (counters kept per computer and family) says what the
        // missing rows themselves say, for the fleet and for each family.
        foreach (var family in new string?[] { null, "windows", "dotnet" })
        {
            var report = (await GetJsonAsync("/api/reports/vulnerabilities" + (family is null ? "" : $"?family={family}"))).EnumerateArray()
                .ToDictionary(v => v.GetProperty("severity").GetString()!, v => v.GetProperty("computers").GetInt32());
            Assert.Equal(await MissingComputersAsync(family), report.Where(r => r.Value > 0).OrderBy(r => r.Key).ToList());
        }

        // A February bulletin asked about before February arrived did not exist then: a 404, not an empty page.
        using (var client = App.Client())
        {
            var before = await client.GetAsync($"/api/reports/compliance/bulletins/KB5034763/computers?asOf={Uri.EscapeDataString(snapshots[0].At)}", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/reports/compliance/bulletins/KB5034763/computers?asOf={Uri.EscapeDataString(snapshots[1].At)}",
                TestContext.Current.CancellationToken)).StatusCode);
        }

        Assert.NotEqual(snapshots[0].Answers[reports[0]], snapshots[1].Answers[reports[0]]);
        Assert.NotEqual(snapshots[1].Answers[reports[3]], snapshots[2].Answers[reports[3]]);
        await PastAnswers.AssertSameAsync(App, snapshots, "");
        await PastAnswers.RebuildAndCompareAsync(App);
        await PastAnswers.AssertSameAsync(App, snapshots, " after every read model was rebuilt");
    }

    private async Task<List<KeyValuePair<string, int>>> MissingComputersAsync(string? family)
    {
        await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand($"""
            select (r.data->>'severityRank')::int, count(distinct s.computer_id)::int from patch.compliance_state s
            join patch.mt_doc_bulletin_row r on r.id = s.bulletin_id where s.state = 2 {(family is null ? "" : "and s.family = $1")} group by 1
            """);
        if (family is not null) cmd.Parameters.Add(new() { Value = family });
        var counted = new List<KeyValuePair<string, int>>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) counted.Add(new(((Domain.Catalog.Severity)reader.GetInt32(0)).ToString(), reader.GetInt32(1)));
        if (family is null) Assert.NotEmpty(counted);
        return [.. counted.OrderBy(c => c.Key)];
    }
}
