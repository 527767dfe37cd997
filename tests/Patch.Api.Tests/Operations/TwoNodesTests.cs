using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Marten;
using Patch.Agent;
using Patch.Api.Hosting;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Staging;
using Patch.Application.Hosting;
using Patch.Domain.Agents;

namespace Patch.Api.Tests.Operations;

/// <summary>
/// Issue 16 §4 (ADR 0030): two Patch.Api processes on one PostgreSQL with <c>Patch:Cluster:Enabled</c>, agents spread
/// across them. Correctness only (two cores show no speed-up): a catalog imported through one node is the catalog the
/// other analyses with; an agent's retry through the other node stores nothing twice; a durable staging job runs once;
/// one task started on both nodes at once is one run, and a scheduled occurrence runs once; runs never overlap; the
/// compliance both nodes wrote equals a full analysis.
/// </summary>
public class when_two_api_nodes_share_one_database
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private static AgentInventory Windows10(params string[] kbs) => new("Microsoft Windows 10 Enterprise", "10.0.19045.2486", "x64", 0, false, ["en-US"],
        ["Windows 10 Version 22H2 for x64-based Systems"], kbs, "0.1.0");

    [Fact]
    public async Task work_runs_once_catalogs_are_shared_and_nothing_acknowledged_is_doubled()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Path.Combine(Path.GetTempPath(), $"patch-two-nodes-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_two_nodes", FsyncOff = true });
        await using var content = await ContentServer.StartAsync();
        ServerProcess[] nodes = [];
        try
        {
            var settings = new Dictionary<string, string>
            {
                ["ConnectionStrings__Patch"] = pg.ConnectionString, ["Patch__Cluster__Enabled"] = "true", ["Patch__ServerTasks__CheckSeconds"] = "1",
                ["Patch__Microsoft__CvrfImport__Enabled"] = "false", ["Patch__Cisa__KevImport__Enabled"] = "false",
            };
            // One data directory for both (the package store every node serves agents from is shared storage).
            var data = Path.Combine(dir, "data");
            nodes = [new ServerProcess(data, ServerProcess.FreePort(), settings), new ServerProcess(data, ServerProcess.FreePort(), settings)];
            // Both start at once: the schema is created and migrated by one node at a time.
            await Task.WhenAll(nodes.Select(n => n.StartAsync(ct)));
            using var store = new DocumentStore(PatchServices.ConfigureStore(PatchDatabase.Tuned(pg.ConnectionString)));
            var token = TestUsers.NewToken(store, "cluster-admin", Patch.Domain.Users.Roles.Administrator, "tokens only");
            HttpClient Admin(int node) => new() { BaseAddress = new Uri(nodes[node].Url), Timeout = TimeSpan.FromSeconds(120), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
            using var a = Admin(0);
            using var b = Admin(1);

            // January 2023 through node A; agents enrol and report through both nodes (each node has now loaded that catalog).
            (await a.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(SharedData.Bytes(SharedData.Cvrf2023)), ct)).EnsureSuccessStatusCode();
            var enrolment = JsonDocument.Parse(await (await a.PostAsync("api/enrolment-tokens", Json(new { name = "cluster", maxUses = 100 }), ct)).Content.ReadAsStringAsync(ct))
                .RootElement.GetProperty("token").GetString()!;
            var agents = new List<(string Name, AgentClient Client, AgentClient Other, string Credential)>();
            for (var i = 0; i < 8; i++)
            {
                var mine = new AgentClient(new HttpClient { BaseAddress = new Uri(nodes[i % 2].Url) });
                var other = new AgentClient(new HttpClient { BaseAddress = new Uri(nodes[(i + 1) % 2].Url) });
                var enrolled = await mine.EnrolAsync(enrolment, $"NODE-{i}", null, "0.1.0", ct);
                await mine.SendInventoryAsync(enrolled.Credential, Windows10(), ct);
                agents.Add(($"NODE-{i}", mine, other, enrolled.Credential));
            }

            // January 2024 through node B, then every agent reports a changed inventory to its own node: node A must
            // analyse with the catalog node B imported, not the one it loaded before.
            var imported = await b.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(SharedData.Bytes(SharedData.Cvrf2024)), ct);
            imported.EnsureSuccessStatusCode();
            await AnalysisAfterAsync(b, JsonDocument.Parse(await imported.Content.ReadAsStringAsync(ct)).RootElement.GetProperty("runId").GetString()!, ct);
            foreach (var agent in agents) await agent.Client.SendInventoryAsync(agent.Credential, Windows10("KB5022282"), ct);
            var incremental = await a.GetStringAsync("api/reports/compliance/computers?pageSize=100&sort=name", ct);
            (await b.PostAsync("api/server-tasks/vulnerability-analysis/run?wait=true", null, ct)).EnsureSuccessStatusCode();
            Assert.Equal(Rows(incremental), Rows(await b.GetStringAsync("api/reports/compliance/computers?pageSize=100&sort=name", ct)));

            // Each agent's status batch through its node, then again through the other one (its answer was lost).
            foreach (var agent in agents)
            {
                var events = Enumerable.Range(0, 5).Select(n => new AgentEvent(Guid.NewGuid(), DateTimeOffset.UtcNow, null, null, null, $"cluster {n}",
                    Patch.Domain.Computers.AgentCycleReported.Completed, Trigger: "cluster")).ToList();
                Assert.Equal(5, (await agent.Client.SendEventsAsync(agent.Credential, events, ct)).New);
                var again = await agent.Other.SendEventsAsync(agent.Credential, events, ct);
                Assert.Equal((0, 5), (again.New, again.Duplicates));
            }

            // A staging job (a durable message) queued through node A, its download held in progress while node B is
            // restarted: the new node B leaves the job to the node that owns it (a Solo node would take it over at start).
            var package = content.Add("cluster.msu", ContentServer.Bytes(200_000, 5));
            content.Hold("cluster.msu");
            var catalog = new
            {
                schemaVersion = "1.0", catalogId = "cluster", vendors = new[] { new { id = "ms", name = "Microsoft" } },
                products = new[] { new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
                bulletins = new[] { new { id = "KB9400001", vendor = "ms", title = "Cluster", severity = "Important", updates = new[]
                    { new { id = "u-cluster", product = "w10", fileName = "cluster.msu", downloadUrl = package.Url, sha256 = package.Sha256, size = package.Size, restart = "notRequired" } } } },
            };
            (await a.PostAsync("api/catalog/imports?format=patch", Json(catalog), ct)).EnsureSuccessStatusCode();
            Assert.Equal(HttpStatusCode.Accepted, (await a.PostAsync("api/bulletins/KB9400001/stage", null, ct)).StatusCode);
            for (var i = 0; i < 300 && content.Requests == 0; i++) await Task.Delay(100, ct);
            Assert.Equal(1, content.Requests);
            await nodes[1].KillAsync();
            await nodes[1].StartAsync(ct);
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            Assert.Equal(1, content.Requests);
            content.Release("cluster.msu");
            for (var i = 0; i < 300 && !(await b.GetStringAsync("api/bulletins/KB9400001/staging", ct)).Contains("\"staged\":true"); i++) await Task.Delay(100, ct);
            Assert.Contains("\"staged\":true", await b.GetStringAsync("api/bulletins/KB9400001/staging", ct));

            // One task started on both nodes at once: one run (the second node answers with the first's id).
            var started = await Task.WhenAll(a.PostAsync("api/server-tasks/vulnerability-analysis/run", null, ct), b.PostAsync("api/server-tasks/vulnerability-analysis/run", null, ct));
            // Both answer with a run (the same one, or the second after the first ended): no two runs overlap (below).
            Assert.All(started, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));

            // A schedule every 3 seconds, checked each second by both nodes' schedulers: each occurrence runs once.
            (await a.PutAsync("api/server-tasks/package-cleanup/schedule", Json(new { cron = "*/3 * * * * *", timeZone = "UTC", enabled = true }), ct)).EnsureSuccessStatusCode();
            await Task.Delay(TimeSpan.FromSeconds(10), ct);
            (await b.PutAsync("api/server-tasks/package-cleanup/schedule", Json(new { cron = "*/3 * * * * *", timeZone = "UTC", enabled = false }), ct)).EnsureSuccessStatusCode();
            await Task.Delay(TimeSpan.FromSeconds(2), ct);

            await using var session = store.QuerySession();
            var runs = (await session.Query<Patch.Domain.ServerTasks.ServerTaskRun>().ToListAsync(ct)).ToList();
            var scheduled = runs.Where(r => r.Task == "package-cleanup" && r.Trigger == "schedule").ToList();
            Assert.InRange(scheduled.Count, 2, 5);
            Assert.Equal(scheduled.Count, scheduled.Select(r => r.Parameters.GetValueOrDefault("scheduledFor")).Distinct().Count());
            foreach (var task in runs.GroupBy(r => r.Task))
            {
                var ordered = task.OrderBy(r => r.Started).ToList();
                for (var i = 1; i < ordered.Count; i++)
                    Assert.True(ordered[i - 1].Ended is { } ended && ended <= ordered[i].Started, $"{task.Key}: run {ordered[i].Id} started before {ordered[i - 1].Id} ended");
            }
            Assert.Equal(1, content.Requests);
            Assert.Single(runs, r => r.Task == "staging");

            // Every acknowledged event once; the compliance the two nodes wrote is a full analysis's.
            await using var db = Npgsql.NpgsqlDataSource.Create(pg.ConnectionString);
            await using (var count = db.CreateCommand("select count(*), count(distinct id) from patch.mt_events where type = 'agent_cycle_reported' and data->>'detail' like 'cluster %'"))
            await using (var reader = await count.ExecuteReaderAsync(ct))
            {
                await reader.ReadAsync(ct);
                Assert.Equal((40L, 40L), (reader.GetInt64(0), reader.GetInt64(1)));
            }
        }
        finally
        {
            foreach (var node in nodes) await node.KillAsync();
            await pg.StopAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Waits for the analysis the import queued to end (its rows are then written; the agents' come after).</summary>
    private static async Task AnalysisAfterAsync(HttpClient client, string importRunId, CancellationToken ct)
    {
        for (var i = 0; i < 600; i++)
        {
            var runs = JsonDocument.Parse(await client.GetStringAsync("api/server-tasks/runs?task=vulnerability-analysis&pageSize=100", ct)).RootElement.GetProperty("items");
            if (runs.EnumerateArray().Any(r => r.GetProperty("trigger").GetString()!.Contains(importRunId) && r.TryGetProperty("ended", out var e) && e.ValueKind != JsonValueKind.Null))
                return;
            await Task.Delay(100, ct);
        }
        throw new TimeoutException($"no analysis after {importRunId}");
    }

    /// <summary>The report's rows without the analysis time (a full analysis stamps its own).</summary>
    private static string Rows(string report) => string.Join("\n", JsonDocument.Parse(report).RootElement.GetProperty("items").EnumerateArray()
        .Select(i => string.Join(",", i.EnumerateObject().Where(p => p.Name != "analysedAt").Select(p => $"{p.Name}={p.Value}"))));
}
