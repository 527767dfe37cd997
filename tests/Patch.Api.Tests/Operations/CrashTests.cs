using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Marten;
using Patch.Agent;
using Patch.Agent.Cycle;
using Patch.Agent.Inventory;
using Patch.Api.Hosting;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Staging;
using Patch.Domain.Cycle;

namespace Patch.Api.Tests.Operations;

/// <summary>The real server process on its embedded PostgreSQL, killed with SIGKILL and started again.</summary>
public sealed class ServerProcess(string dataDirectory, int port, IReadOnlyDictionary<string, string>? settings = null)
{
    private Process? _process;

    public string Url => $"http://127.0.0.1:{port}/";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task StartAsync(CancellationToken ct)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Patch.Api.dll"));
        psi.ArgumentList.Add("--urls");
        psi.ArgumentList.Add(Url.TrimEnd('/'));
        psi.Environment.Remove("ConnectionStrings__Patch");
        psi.Environment["Patch__DataDirectory"] = dataDirectory;
        psi.Environment["Patch__Limits__AgentRequestsPerMinute"] = "0";
        psi.Environment["Patch__Limits__UserRequestsPerMinute"] = "0";
        psi.Environment["Patch__Staging__RetryDelay"] = "00:00:00.200";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        _process = Process.Start(psi)!;
        // The last lines the server wrote, told when it exits while starting.
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Keep(string? line)
        {
            if (line is null) return;
            output.Enqueue(line);
            while (output.Count > 60) output.TryDequeue(out _);
        }
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(5) };
        for (var started = Stopwatch.StartNew(); started.Elapsed < TimeSpan.FromSeconds(90);)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(ct);
                throw new InvalidOperationException($"The server exited with {_process.ExitCode} while starting; its last lines:\n{string.Join("\n", output)}");
            }
            try
            {
                if ((await http.GetAsync("health/ready", ct)).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            await Task.Delay(100, ct);
        }
        throw new TimeoutException("The server did not become ready within 90 s");
    }

    /// <summary>SIGKILL: no shutdown, no flush, no goodbye.</summary>
    public async Task KillAsync()
    {
        if (_process is null) return;
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }
}

/// <summary>
/// Issue 15 §2: an agent storm (inventories and status batches through the agent's own outbox and retries), catalog
/// imports and the staging of a bulletin, while the server process is killed with SIGKILL at random moments and started
/// again. Afterwards: every event an agent had acknowledged is stored exactly once, no import is half-applied (importing
/// the same documents again appends nothing), staging resumed and verified its package, and every read model equals a
/// rebuild from the events. The suite kills a few times; scripts/crash.sh kills 20 times or more (PATCH_CRASH_KILLS).
/// </summary>
public class when_the_server_is_killed_at_random_moments
{
    private static int Kills => int.TryParse(Environment.GetEnvironmentVariable("PATCH_CRASH_KILLS"), out var k) && k > 0 ? k : 3;
    private static int AgentCount => int.TryParse(Environment.GetEnvironmentVariable("PATCH_CRASH_AGENTS"), out var a) && a > 0 ? a : 8;

    private sealed class StormAgent(string name, string directory, AgentClient client, CycleRunner runner)
    {
        public string Name { get; } = name;
        public string Directory { get; } = directory;
        public AgentClient Client { get; } = client;
        public CycleRunner Runner { get; } = runner;
        public string Secret { get; } = Patch.Domain.Agents.Secrets.New();
        public HashSet<Guid> Acknowledged { get; } = [];
        public List<string> Log { get; } = [];
    }

    private static async Task RetryAsync(Func<Task<bool>> attempt, CancellationToken ct)
    {
        while (true)
        {
            try { if (await attempt()) return; }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            catch (IOException) { }
            catch (AgentException e) when (e.StatusCode >= 500) { }
            await Task.Delay(200, ct);
        }
    }

    [Fact]
    public async Task nothing_acknowledged_is_lost_or_doubled_no_import_is_half_applied_staging_resumes_and_read_models_equal_a_rebuild()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Path.Combine(Path.GetTempPath(), $"patch-crash-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        var random = new Random(20261203);
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, FsyncOff = true });
        var server = new ServerProcess(dir, ServerProcess.FreePort());
        await using var content = await ContentServer.StartAsync();
        var agents = new List<StormAgent>();
        try
        {
            await server.StartAsync(ct);
            using var store = new DocumentStore(PatchServices.ConfigureStore(PatchDatabase.Tuned(pg.ConnectionString)));
            using var admin = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(60) };
            admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestUsers.NewToken(store, "crash-admin", Patch.Domain.Users.Roles.Administrator, "tokens only"));

            // A catalog with a bulletin whose package the content server serves (large enough to be caught mid-download), and a policy.
            var small = content.Add("policy.msu", ContentServer.Bytes(30_000, 3));
            var package = content.Add("storm.msu", ContentServer.Bytes(6_000_000, 7));
            var catalog = new
            {
                schemaVersion = "1.0", catalogId = "crash",
                vendors = new[] { new { id = "ms", name = "Microsoft" } },
                products = new[] { new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
                bulletins = new[]
                {
                    new { id = "KB9300001", vendor = "ms", title = "Delivered", severity = "Critical", updates = new[]
                    {
                        new { id = "u-policy", product = "w10", fileName = "policy.msu", downloadUrl = small.Url, sha256 = small.Sha256, size = small.Size, restart = "notRequired" },
                    } },
                    new { id = "KB9300002", vendor = "ms", title = "Storm", severity = "Important", updates = new[]
                    {
                        new { id = "u-storm", product = "w10", fileName = "storm.msu", downloadUrl = package.Url, sha256 = package.Sha256, size = package.Size, restart = "notRequired" },
                    } },
                },
            };
            Assert.True((await admin.PostAsync("api/catalog/imports?format=patch", new StringContent(JsonSerializer.Serialize(catalog), Encoding.UTF8, "application/json"), ct)).IsSuccessStatusCode);
            // The policy's bulletin is staged first (a policy needs its packages); the other is staged while the server is killed.
            Assert.Equal(HttpStatusCode.Accepted, (await admin.PostAsync("api/bulletins/KB9300001/stage", null, ct)).StatusCode);
            for (var i = 0; i < 100 && !(await admin.GetStringAsync("api/bulletins/KB9300001/staging", ct)).Contains("\"staged\":true"); i++) await Task.Delay(100, ct);
            var policy = await admin.PostAsync("api/policies", new StringContent(JsonSerializer.Serialize(new { bulletinIds = new[] { "KB9300001" }, name = "Storm" }), Encoding.UTF8, "application/json"), ct);
            var policyText = await policy.Content.ReadAsStringAsync(ct);
            Assert.True(policy.IsSuccessStatusCode, policyText + await admin.GetStringAsync("api/bulletins/KB9300001/staging", ct));
            var policyId = JsonDocument.Parse(policyText).RootElement.GetProperty("id").GetString()!;
            var token = JsonDocument.Parse(await (await admin.PostAsync("api/enrolment-tokens", new StringContent(JsonSerializer.Serialize(new { name = "storm", maxUses = 1000 }), Encoding.UTF8, "application/json"), ct))
                .Content.ReadAsStringAsync(ct)).RootElement.GetProperty("token").GetString()!;

            var inventory = new Patch.Domain.Agents.AgentInventory("Microsoft Windows 10 Enterprise", "10.0.19045.3930", "x64", 0, false, ["en-US"],
                ["Windows 10 Version 22H2 for x64-based Systems"], [], "0.1.0");
            for (var i = 0; i < AgentCount; i++)
            {
                var name = $"STORM-{i:D3}";
                var agentDir = Path.Combine(dir, "agents", name);
                Directory.CreateDirectory(agentDir);
                await File.WriteAllTextAsync(Path.Combine(agentDir, "inventory.json"), JsonSerializer.Serialize(inventory, new JsonSerializerOptions(JsonSerializerDefaults.Web)), ct);
                var client = new AgentClient(new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(10) });
                var log = new List<string>();
                var runner = new CycleRunner(new CycleContext(agentDir, client,
                    new SimulatedInventorySource(new JsonInventorySource(Path.Combine(agentDir, "inventory.json")), agentDir),
                    new SimulationInstaller(agentDir, TimeProvider.System), new SimulationRestarter(agentDir, TimeProvider.System), TimeProvider.System, log.Add));
                agents.Add(new StormAgent(name, agentDir, client, runner));
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            // Each agent enrols (again with the same secret while its answer is lost to a kill), then: events of its own in the
            // outbox, a poll cycle (flush, inventory, assignments, statuses, flush), again.
            var storm = agents.Select(a => Task.Run(async () =>
            {
                await RetryAsync(async () =>
                {
                    var enrolled = await a.Client.EnrolAsync(token, a.Name, null, "0.1.0", ct, credential: a.Secret);
                    new AgentState(server.Url, enrolled.ComputerId, enrolled.AgentId, enrolled.Credential).Save(a.Directory);
                    return true;
                }, ct);
                while (!stop.IsCancellationRequested)
                {
                    var ledger = AgentLedger.Load(a.Directory);
                    for (var n = 0; n < 5; n++)
                        ledger.Outbox.Add(new AgentEvent(Guid.NewGuid(), DateTimeOffset.UtcNow, null, null, null, $"storm {n}", Patch.Domain.Computers.AgentCycleReported.Completed, Trigger: "storm"));
                    ledger.Save(a.Directory);
                    var before = ledger.Outbox.Select(e => e.Id).ToHashSet();
                    // A kill may land mid-cycle: the cycle fails with whatever the link gives (the agent's worker catches
                    // every failure the same way and tries at its next cycle).
                    try { await a.Runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None); }
                    catch (Exception e) when (e is AgentException or HttpRequestException or IOException or TaskCanceledException) { }
                    var after = AgentLedger.Load(a.Directory).Outbox.Select(e => e.Id).ToHashSet();
                    a.Acknowledged.UnionWith(before.Except(after));
                    await Task.Delay(Random.Shared.Next(50, 250));
                }
            })).ToList();
            // Imports of real monthly documents, again and again; the staging of the bulletin.
            var documents = new[] { SharedData.Bytes(SharedData.Cvrf2023), SharedData.Bytes(SharedData.Cvrf2024) };
            var importsDone = 0;
            var imports = Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    try
                    {
                        if ((await admin.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(documents[n % 2]), stop.Token)).IsSuccessStatusCode)
                            Interlocked.Increment(ref importsDone);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { }
                }
            });
            for (var k = 0; k < Kills; k++)
            {
                if (k == 0)
                {
                    // The first kill lands while the staging job downloads or verifies.
                    await RetryAsync(async () => (await admin.PostAsync("api/bulletins/KB9300002/stage", null, ct)).StatusCode == HttpStatusCode.Accepted, ct);
                    await Task.Delay(random.Next(20, 200), ct);
                }
                else await Task.Delay(random.Next(1500, 4000), ct);
                await server.KillAsync();
                await server.StartAsync(ct);
            }
            // The load goes on until an import has been answered since the last kill (a slow machine may have lost every one to a kill).
            var answeredBefore = Volatile.Read(ref importsDone);
            for (var i = 0; i < 600 && Volatile.Read(ref importsDone) == answeredBefore; i++) await Task.Delay(100, ct);
            stop.Cancel();
            await Task.WhenAll(storm);
            await imports;

            // Settled: every agent's outbox goes (its own retry logic); staging finishes by itself.
            foreach (var a in agents)
                for (var round = 0; round < 20 && AgentLedger.Load(a.Directory).Outbox.Count > 0; round++)
                {
                    var before = AgentLedger.Load(a.Directory).Outbox.Select(e => e.Id).ToHashSet();
                    try { await a.Runner.RunAsync(CycleTrigger.Scheduled, null, install: false, ct); } catch (AgentException) { }
                    a.Acknowledged.UnionWith(before.Except(AgentLedger.Load(a.Directory).Outbox.Select(e => e.Id)));
                }
            JsonElement staging = default;
            for (var i = 0; i < 300; i++)
            {
                staging = JsonDocument.Parse(await admin.GetStringAsync("api/bulletins/KB9300002/staging", ct)).RootElement;
                if (staging.GetProperty("staged").GetBoolean()) break;
                await Task.Delay(200, ct);
            }

            // 1. Every acknowledged event is stored, and no event twice.
            await using (var query = store.QuerySession())
                foreach (var a in agents)
                {
                    var stored = (await query.Events.FetchStreamAsync(Patch.Domain.Computers.AgentStatusReported.StreamId(a.Name), token: ct)).Select(e => e.Data switch
                    {
                        Patch.Domain.Computers.AgentStatusReported s => s.EventId,
                        Patch.Domain.Computers.AgentCycleReported c => c.EventId,
                        Patch.Domain.Computers.AgentRestartReported r => r.EventId,
                        _ => Guid.Empty,
                    }).Where(id => id != Guid.Empty).ToList();
                    Assert.Equal(stored.Count, stored.Distinct().Count());
                    Assert.Empty(a.Acknowledged.Except(stored));
                    Assert.True(a.Acknowledged.Count > 0, $"{a.Name} had nothing acknowledged");
                    Assert.DoesNotContain(a.Log, l => l.Contains("refused by the server and dropped"));
                }
            // 2. No import is half-applied: each document's bulletins are all in the store or none is, and a document that is
            //    in appends nothing when imported again.
            var whole = 0;
            foreach (var document in documents)
            {
                var ids = Patch.Application.Catalog.Formats.CvrfCatalogReader.Read(new MemoryStream(document)).Bulletins.Select(b => b.StreamId).Distinct().ToList();
                var present = 0;
                await using (var query = store.QuerySession())
                    foreach (var id in ids)
                        if (await query.Events.FetchStreamStateAsync(id, ct) is not null) present++;
                Assert.True(present == 0 || present == ids.Count, $"{present} of {ids.Count} bulletins of a document are in the store");
                if (present == 0) continue;
                whole++;
                var again = JsonDocument.Parse(await (await admin.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(document), ct)).Content.ReadAsStringAsync(ct)).RootElement;
                Assert.Equal(0, again.GetProperty("eventsAppended").GetInt32());
            }
            Assert.True(whole > 0, "no catalog import finished while the server was being killed");
            // 3. Staging resumed and verified the package.
            Assert.True(staging.GetProperty("staged").GetBoolean() && staging.GetProperty("updateStatus")[0].GetProperty("verified").GetBoolean(), staging.ToString());
            var stagedFile = new Patch.Application.Staging.PackageStore(Path.Combine(dir, "packages")).PathOf(package.Sha256);
            Assert.Equal(package.Sha256, ContentServer.Sha(await File.ReadAllBytesAsync(stagedFile, ct)));
            // 4. Every read model equals a rebuild from the events.
            string[] reports =
            [
                "api/bulletins", "api/computers", "api/reports/compliance/bulletins", "api/reports/compliance/computers", "api/reports/compliance/updates",
                "api/reports/vulnerabilities", "api/reports/agent-versions", $"api/reports/delivery-summary?policy={policyId}", "api/policies", "api/targets",
            ];
            var live = new Dictionary<string, string>();
            foreach (var url in reports) live[url] = await admin.GetStringAsync(url, ct);
            var rebuilt = await admin.PostAsync("api/server-tasks/read-model-rebuild/run?model=all&wait=true", null, ct);
            Assert.True(rebuilt.IsSuccessStatusCode, await rebuilt.Content.ReadAsStringAsync(ct));
            foreach (var url in reports) Assert.True(live[url] == await admin.GetStringAsync(url, ct), $"{url} differs from its rebuild after {Kills} kills");
        }
        finally
        {
            await server.KillAsync();
            await pg.StopAsync();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
