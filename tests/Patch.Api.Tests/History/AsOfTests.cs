using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>
/// Every report answers <c>asOf</c> with what it answered live at that instant: a small fleet changes step by step, each
/// report is read live after each step, and afterwards asked about each instant.
/// </summary>
public class when_asking_reports_about_the_past(AppFixture app) : AppTest(app)
{
    private readonly Dictionary<string, string> _credentials = [];
    private string _token = "";

    private static readonly string[] Reports =
    [
        "/api/reports/compliance/bulletins",
        "/api/reports/compliance/bulletins?knownExploited=true&sort=bulletin",
        "/api/reports/compliance/bulletins?family=windows&sort=-applicable",
        "/api/reports/compliance/bulletins/KB5034763/computers",
        "/api/reports/compliance/bulletins/KB5034763/computers?state=Missing",
        "/api/reports/compliance/computers",
        "/api/reports/compliance/computers?family=windows",
        "/api/reports/compliance/computers/PC-A/updates",
        "/api/reports/compliance/computers/PC-B/updates?state=Installed",
        "/api/reports/compliance/updates",
        "/api/reports/compliance/updates/microsoft%3AKB5034763%7CKB5034763-win10-22h2-x64/computers",
    ];

    private async Task InventoryAsync(string name, string version, params string[] kbs)
    {
        using var client = App.Client();
        if (!_credentials.TryGetValue(name, out var credential))
        {
            var enrol = await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token = _token, computerName = name, agentVersion = "0.1.0" }),
                Encoding.UTF8, "application/json"));
            credential = _credentials[name] = JsonDocument.Parse(await enrol.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString()!;
        }
        var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/inventory")
        {
            Content = new StringContent(JsonSerializer.Serialize(new
            {
                osCaption = "Microsoft Windows", osVersion = version, architecture = "x64", servicePack = 0, isServer = false, cultures = new[] { "en-US" },
                softwareReleases = Array.Empty<string>(), installedKbs = kbs, agentVersion = "0.1.0",
            }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        Assert.True((await client.SendAsync(request)).IsSuccessStatusCode);
    }

    /// <summary>Every report live after the fleet analysis, then the instant just after.</summary>
    private async Task<Snapshot> SnapshotAsync()
    {
        using var client = App.Client();
        Assert.True((await client.PostAsync("/api/server-tasks/vulnerability-analysis/run?wait=true", null)).IsSuccessStatusCode);
        return await PastAnswers.TakeAsync(App, Reports);
    }

    private Task<string> RawAsync(string url, int status = 200) => PastAnswers.RawAsync(App, url, status);

    private static string WithAsOf(string url, string at) => PastAnswers.WithAsOf(url, at);

    [Fact]
    public async Task each_report_asked_about_a_past_instant_answers_what_it_answered_then()
    {
        var beforeTheStore = await PastAnswers.NowAsync(App);
        await Task.Delay(20, TestContext.Current.CancellationToken);
        await App.ImportAsync("patch", File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json")));
        using (var client = App.Client())
        {
            var response = await client.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"fleet","maxUses":10}""", Encoding.UTF8, "application/json"));
            _token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        }
        await InventoryAsync("PC-A", "10.0.19045.3930", "KB5034122");
        await InventoryAsync("PC-B", "10.0.19045");
        var first = await SnapshotAsync();

        // PC-B installs February's update, the KEV catalog marks a bulletin known-exploited, a new computer enrols.
        await InventoryAsync("PC-B", "10.0.19045.4046", "KB5034763");
        await App.ImportAsync("kev", File.ReadAllBytes(SharedData.RepoFile("demo/kev-demo.json")));
        await InventoryAsync("PC-D", "10.0.22631.2861");
        var second = await SnapshotAsync();

        // PC-A installs it too; PC-D is reinstalled with an older build (rows change state and disappear).
        await InventoryAsync("PC-A", "10.0.19045.4046", "KB5034122", "KB5034763");
        await InventoryAsync("PC-D", "10.0.19045");
        var third = await SnapshotAsync();

        Assert.NotEqual(first.Answers[Reports[0]], third.Answers[Reports[0]]);
        await PastAnswers.AssertSameAsync(App, [first, second, third], "");

        // A store whose counters' histories were kept before their lists of keys (ADR 0036): the lists are taken from the
        // histories at start and every past answer stays the same.
        var db = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>();
        foreach (var listed in Patch.Projections.History.ReadModelHistory.Tables.Where(t => t.Listed is not null))
        {
            await using (var drop = db.CreateCommand($"drop table {Patch.Projections.ReadModels.Schema}.{listed.KeysName}"))
                await drop.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }
        await Patch.Projections.History.ReadModelHistory.EnsureAsync(db, TestContext.Current.CancellationToken);
        await PastAnswers.AssertSameAsync(App, [first, second, third], "");

        // CSV answers asOf the same way.
        var csv = await RawAsync(WithAsOf("/api/reports/compliance/computers?format=csv", first.At));
        Assert.Equal(["PC-A", "PC-B"], csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')[1]));

        // An instant the store cannot answer is refused, naming why.
        Assert.Contains("before the store began", await RawAsync(WithAsOf(Reports[0], beforeTheStore), 400));
        Assert.Contains("in the future", await RawAsync(WithAsOf(Reports[0], DateTimeOffset.UtcNow.AddDays(1).ToString("O")), 400));
        Assert.Contains("not an ISO 8601", await RawAsync(Reports[0] + "?asOf=yesterday", 400));
        Assert.Contains("'asOf' is given 2 times", await RawAsync(WithAsOf(WithAsOf(Reports[0], first.At), second.At), 400));
    }
}
