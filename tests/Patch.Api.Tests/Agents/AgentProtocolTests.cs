using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Patch.Domain.Inventory;

namespace Patch.Api.Tests.Agents;

public class when_agents_enrol_and_report(AppFixture app) : AppTest(app)
{
    private async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string url, object? body = null, string? bearer = null)
    {
        using var client = App.Client();
        var request = new HttpRequestMessage(method, url) { Content = body is null ? null : new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<string> TokenAsync(int maxUses = 5, DateTimeOffset? expires = null)
    {
        var (status, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "rollout", maxUses, expiresAt = expires });
        Assert.Equal(HttpStatusCode.Created, status);
        return token.GetProperty("token").GetString()!;
    }

    private async Task<string> EnrolAsync(string token, string name)
    {
        var (status, enrolled) = await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token, computerName = name, agentVersion = "0.1.0" });
        Assert.True(status == HttpStatusCode.OK, enrolled.ToString());
        return enrolled.GetProperty("credential").GetString()!;
    }

    private static object InventoryOf(string capture)
    {
        var os = SystemInfoParser.Parse(SharedData.Bytes("windows-inventory/wesng-validation/" + capture));
        return new
        {
            osCaption = os.Caption, osVersion = os.Version, architecture = os.Architecture, servicePack = os.ServicePack, isServer = os.IsServer,
            cultures = new[] { os.SystemLocale ?? "en-us" }, softwareReleases = Array.Empty<string>(), installedKbs = os.InstalledKbs, agentVersion = "0.1.0",
        };
    }

    [Fact]
    public async Task an_inventory_stored_whose_analysis_fails_is_answered_as_stored_and_the_resend_analyses_it()
    {
        var credential = await EnrolAsync(await TokenAsync(), "SRV-NOANALYSIS");
        var computerId = Domain.Computers.Computer.StreamId("SRV-NOANALYSIS");
        await SqlScalarAsync($$"""
            create or replace function patch.test_no_analysis() returns trigger language plpgsql as $$
            begin raise exception 'could not extend file: No space left on device' using errcode = '53100'; end $$;
            create trigger test_no_analysis before insert or update on patch.compliance_member for each row
              when (new.computer_id = '{{computerId}}') execute function patch.test_no_analysis();
            """);
        try
        {
            var (status, problem) = await SendAsync(HttpMethod.Post, "/agent/v1/inventory", InventoryOf("srv_2019_rtm_datacenter_en-us_systeminfo.txt"), credential);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            var detail = problem.GetProperty("detail").GetString()!;
            Assert.StartsWith("The database is out of disk space. The inventory was stored, but the computer's analysis failed.", detail);
            Assert.DoesNotContain("nothing was saved", detail);
        }
        finally
        {
            await SqlScalarAsync("drop trigger if exists test_no_analysis on patch.compliance_member; drop function if exists patch.test_no_analysis();");
        }
        Assert.Equal("10.0.17763", (await SendAsync(HttpMethod.Get, "/agent/v1/me", bearer: credential)).Body.GetProperty("inventory").GetProperty("osVersion").GetString());
        Assert.Equal(0L, await SqlScalarAsync($"select count(*) from patch.compliance_member where computer_id = '{computerId}'"));
        var (again, accepted) = await SendAsync(HttpMethod.Post, "/agent/v1/inventory", InventoryOf("srv_2019_rtm_datacenter_en-us_systeminfo.txt"), credential);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.False(accepted.GetProperty("changed").GetBoolean());
        Assert.Equal(1L, await SqlScalarAsync($"select count(*) from patch.compliance_member where computer_id = '{computerId}'"));
    }

    [Fact]
    public async Task an_agent_enrols_with_a_token_reports_inventory_and_sees_only_its_own_computer()
    {
        using (var client = App.Client())
            await client.PostAsync("/api/computers", new StringContent("""{"name":"SRV-2019","domain":"corp","macAddress":"00:1A:2B:3C:4D:5E"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(1, (await GetJsonAsync("/api/targets/builtin:without-agent/members")).GetProperty("count").GetInt32());

        var token = await TokenAsync();
        var server = await EnrolAsync(token, "SRV-2019");
        var laptop = await EnrolAsync(token, "LAPTOP-7");
        Assert.Equal(["LAPTOP-7", "SRV-2019"], (await GetJsonAsync("/api/targets/builtin:all-with-agent/members")).GetProperty("computers").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(0, (await GetJsonAsync("/api/targets/builtin:without-agent/members")).GetProperty("count").GetInt32());

        var (status, accepted) = await SendAsync(HttpMethod.Post, "/agent/v1/inventory", InventoryOf("srv_2019_rtm_datacenter_en-us_systeminfo.txt"), server);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(accepted.GetProperty("changed").GetBoolean());
        var resend = await SendAsync(HttpMethod.Post, "/agent/v1/inventory", InventoryOf("srv_2019_rtm_datacenter_en-us_systeminfo.txt"), server);
        Assert.False(resend.Body.GetProperty("changed").GetBoolean());

        // Each credential reads its own computer only; the discovered computer kept its MAC address.
        var me = (await SendAsync(HttpMethod.Get, "/agent/v1/me", bearer: server)).Body;
        Assert.Equal("SRV-2019", me.GetProperty("name").GetString());
        Assert.Equal("10.0.17763", me.GetProperty("inventory").GetProperty("osVersion").GetString());
        Assert.Equal("LAPTOP-7", (await SendAsync(HttpMethod.Get, "/agent/v1/me", bearer: laptop)).Body.GetProperty("name").GetString());
        // A method the route does not take is a 405, for an agent as for a user (not a refusal of the credential).
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await SendAsync(HttpMethod.Delete, "/agent/v1/me", bearer: laptop)).Status);
        var computers = await GetJsonAsync("/api/computers");
        var srv = computers.GetProperty("items").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "SRV-2019");
        Assert.Equal("00:1A:2B:3C:4D:5E", srv.GetProperty("macAddress").GetString());
        Assert.Contains("Windows Server 2019", srv.GetProperty("products").EnumerateArray().Select(p => p.GetString()));
        Assert.DoesNotContain(server.Split('.')[1], computers.GetRawText());
        Assert.DoesNotContain("credential", computers.GetRawText(), StringComparison.OrdinalIgnoreCase);

        // Credentials are required and checked; a forged secret for a real agent id is refused.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/agent/v1/me")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/agent/v1/me", bearer: server.Split('.')[0] + ".forged")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Post, "/agent/v1/inventory", InventoryOf("11_23H2_x64_enterprise_systeminfo.txt"), laptop.Split('.')[0] + "." + server.Split('.')[1])).Status);

        // The history of the computer shows the agent as the actor.
        var history = await GetJsonAsync("/api/history/computer:srv-2019");
        Assert.Equal(["computer_discovered", "agent_enrolled", "inventory_reported", "inventory_confirmed"], history.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        Assert.Equal("agent", history[3].GetProperty("actorKind").GetString());
    }

    [Fact]
    public async Task a_token_cannot_take_over_a_computer_that_has_an_agent_until_it_is_reset()
    {
        var token = await TokenAsync();
        var original = await EnrolAsync(token, "SRV-X");
        var (status, problem) = await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token, computerName = "SRV-X", agentVersion = "0.1.0" });
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("reset it", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/agent/v1/me", bearer: original)).Status);

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/api/computers/SRV-X/agent")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/agent/v1/me", bearer: original)).Status);
        var replacement = await EnrolAsync(token, "SRV-X");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/agent/v1/me", bearer: replacement)).Status);
    }

    [Fact]
    public async Task tokens_expire_run_out_are_revoked_and_are_stored_hashed()
    {
        var once = await TokenAsync(maxUses: 1);
        await EnrolAsync(once, "PC-1");
        var (spent, problem) = await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = once, computerName = "PC-2", agentVersion = "0.1.0" });
        Assert.Equal(HttpStatusCode.Unauthorized, spent);
        Assert.Contains("used 1 of 1 times", problem.GetProperty("detail").GetString());

        var expiring = await TokenAsync(expires: DateTimeOffset.UtcNow.AddHours(1));
        App.Clock.Shift = TimeSpan.FromHours(2);
        Assert.Contains("expired", (await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = expiring, computerName = "PC-3", agentVersion = "0.1.0" })).Body.GetProperty("detail").GetString());
        App.Clock.Shift = TimeSpan.Zero;

        var revoked = await TokenAsync();
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/enrolment-tokens/{revoked.Split('.')[0]}")).Status);
        Assert.Contains("revoked", (await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = revoked, computerName = "PC-4", agentVersion = "0.1.0" })).Body.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = "garbage", computerName = "PC-5", agentVersion = "0.1.0" })).Status);

        var stored = await GetJsonAsync("/api/history/" + once.Split('.')[0]);
        Assert.DoesNotContain(once.Split('.')[1], stored.GetRawText());
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "", maxUses = 0 })).Status);
    }

    [Fact]
    public async Task a_bad_inventory_is_refused_naming_the_field()
    {
        var credential = await EnrolAsync(await TokenAsync(), "PC-9");
        var (status, problem) = await SendAsync(HttpMethod.Post, "/agent/v1/inventory", new
        {
            osCaption = "Windows", osVersion = "ten", architecture = "sparc", servicePack = 0, isServer = false,
            cultures = new[] { "en-US" }, softwareReleases = Array.Empty<string>(), installedKbs = new[] { "KB1x" }, agentVersion = "0.1.0",
        }, credential);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var detail = problem.GetProperty("detail").GetString();
        Assert.Contains("osVersion: 'ten'", detail);
        Assert.Contains("architecture: 'sparc'", detail);
        Assert.Contains("installedKbs", detail);
    }

    [Fact]
    public async Task a_computer_s_updates_follow_its_inventory_and_the_catalog()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2023));
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var credential = await EnrolAsync(await TokenAsync(), "SRV-2019");
        await SendAsync(HttpMethod.Post, "/agent/v1/inventory", InventoryOf("srv_2019_rtm_datacenter_en-us_systeminfo.txt"), credential);

        var compliance = await GetJsonAsync("/api/computers/SRV-2019/updates");
        Assert.True(compliance.GetProperty("missing").GetInt32() > 0);
        Assert.True(compliance.GetProperty("superseded").GetInt32() > 0);
        var rows = compliance.GetProperty("updates").EnumerateArray().ToList();
        // The OS's own updates and those of the .NET Framework it ships with (4.7.2, inferred from the build).
        Assert.All(rows, r => Assert.Matches(@"^(Windows Server 2019|Microsoft \.NET Framework [0-9./ AND]+ on Windows Server 2019)", r.GetProperty("product").GetString()));
        Assert.Contains(rows, r => r.GetProperty("product").GetString() == "Microsoft .NET Framework 3.5 AND 4.7.2 on Windows Server 2019");
        Assert.Contains(rows, r => r.GetProperty("bulletin").GetString() == "KB5034127" && r.GetProperty("state").GetString() == "Missing");
        Assert.Contains(rows, r => r.GetProperty("bulletin").GetString() == "KB5022286" && r.GetProperty("state").GetString() == "Superseded");

        // Installing the January 2024 cumulative update (reported by the agent) makes it Installed.
        var inventory = JsonSerializer.SerializeToNode(InventoryOf("srv_2019_rtm_datacenter_en-us_systeminfo.txt"))!;
        inventory["installedKbs"]!.AsArray().Add("KB5034127");
        await SendAsync(HttpMethod.Post, "/agent/v1/inventory", inventory.ToJsonString(), credential);
        var after = await GetJsonAsync("/api/computers/SRV-2019/updates?state=Installed");
        Assert.Contains(after.GetProperty("updates").EnumerateArray(), r => r.GetProperty("bulletin").GetString() == "KB5034127");
        await GetJsonAsync("/api/computers/SRV-2019/updates?state=Broken", 400);
        await GetJsonAsync("/api/computers/NOPE/updates", 404);
    }
}

public class when_agents_post_status_events(AppFixture app) : AppTest(app)
{
    private async Task<string> EnrolAsync(string token, string name)
    {
        using var client = App.Client();
        var response = await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token, computerName = name, agentVersion = "0.1.0" }), Encoding.UTF8, "application/json"));
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString()!;
    }

    private async Task<(HttpStatusCode, JsonElement)> PostAsync(string credential, object events)
    {
        using var client = App.Client();
        var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/events") { Content = new StringContent(JsonSerializer.Serialize(new { events }), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        var response = await client.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private async Task<string> TokenAsync()
    {
        using var client = App.Client();
        var response = await client.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"events","maxUses":50}""", Encoding.UTF8, "application/json"));
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
    }

    [Fact]
    public async Task a_retried_batch_appends_nothing_and_late_events_keep_their_own_time()
    {
        var credential = await EnrolAsync(await TokenAsync(), "PC-E");
        var t0 = DateTimeOffset.UtcNow.AddMinutes(-30);
        var events = new object[]
        {
            new { id = Guid.NewGuid(), occurredAt = t0.AddMinutes(2), status = "Installed", bulletin = "KB5034763", updateId = "u1" },
            new { id = Guid.NewGuid(), occurredAt = t0, status = "Pending", bulletin = "KB5034763", updateId = "u1" },
            new { id = Guid.NewGuid(), occurredAt = t0.AddMinutes(1), status = "Download required", bulletin = "KB5034763", updateId = "u1" },
        };
        var (status, first) = await PostAsync(credential, events);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3, first.GetProperty("new").GetInt32());
        var (_, again) = await PostAsync(credential, events);
        Assert.Equal(0, again.GetProperty("new").GetInt32());
        Assert.Equal(3, again.GetProperty("duplicates").GetInt32());

        var reported = (await GetJsonAsync("/api/history/agent-events:pc-e")).EnumerateArray().Where(e => e.GetProperty("type").GetString() == "agent_status_reported").ToList();
        Assert.Equal(3, reported.Count);
        Assert.Equal(["Pending", "Download required", "Installed"],
            reported.OrderBy(e => e.GetProperty("data").GetProperty("occurredAt").GetDateTimeOffset()).Select(e => e.GetProperty("data").GetProperty("status").GetString()));

        // Another agent using the same event ids loses nothing: ids are unique per computer.
        var other = await EnrolAsync(await TokenAsync(), "PC-F");
        var (_, theirs) = await PostAsync(other, events);
        Assert.Equal(3, theirs.GetProperty("new").GetInt32());
    }

    [Fact]
    public async Task many_agents_posting_at_once_are_all_acknowledged_and_stored_once()
    {
        var token = await TokenAsync();
        var credentials = new List<string>();
        for (var i = 0; i < 20; i++) credentials.Add(await EnrolAsync(token, $"PC-{i:D2}"));
        var results = await Task.WhenAll(credentials.Select(c => PostAsync(c, Enumerable.Range(0, 25).Select(n => new { id = Guid.NewGuid(), occurredAt = DateTimeOffset.UtcNow, status = "Pending", bulletin = "KB1", updateId = $"u{n}" }).ToArray())));
        Assert.All(results, r => Assert.Equal(25, r.Item2.GetProperty("new").GetInt32()));
        await using var conn = await App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().OpenConnectionAsync(TestContext.Current.CancellationToken);
        await using var count = new Npgsql.NpgsqlCommand("select count(*) from patch.mt_events where type = 'agent_status_reported'", conn);
        Assert.Equal(500L, (long)(await count.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);
    }

    /// <summary>The events are appended set-based (ADR 0034): Marten reads them as its own, each stream numbered 1…n in the order sent.</summary>
    [Fact]
    public async Task events_appended_together_are_read_back_by_marten_in_order_with_their_streams_versions()
    {
        var ct = TestContext.Current.CancellationToken;
        var token = await TokenAsync();
        var agents = new List<(string Name, string Credential)>();
        for (var i = 0; i < 6; i++) agents.Add(($"PC-V{i}", await EnrolAsync(token, $"PC-V{i}")));
        object[] Batch(int from) => Enumerable.Range(from, 20).Select(n => (object)new { id = Guid.NewGuid(), occurredAt = DateTimeOffset.UtcNow, status = "Pending", bulletin = "KB1", updateId = $"u{n}" }).ToArray();
        // Two rounds, every agent at once: batches of several agents share a transaction, a stream grows across them.
        foreach (var from in new[] { 0, 20 })
            Assert.All(await Task.WhenAll(agents.Select(a => PostAsync(a.Credential, Batch(from)))), r => Assert.Equal(HttpStatusCode.OK, r.Item1));

        await using var session = App.Store.QuerySession();
        foreach (var (name, _) in agents)
        {
            var stream = Patch.Domain.Computers.AgentStatusReported.StreamId(name);
            var events = await session.Events.FetchStreamAsync(stream, token: ct);
            Assert.Equal(Enumerable.Range(1, 40).Select(v => (long)v), events.Select(e => e.Version));
            Assert.Equal(Enumerable.Range(0, 40).Select(n => $"u{n}"), events.Select(e => ((Patch.Domain.Computers.AgentStatusReported)e.Data).UpdateId));
            Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Sequence < p.Second.Sequence));
            Assert.All(events, e => Assert.Equal("agent", e.Headers!["actorKind"]?.ToString()));
            Assert.All(events, e => Assert.False(string.IsNullOrEmpty(e.UserName)));
            Assert.Equal(40, events.Select(e => e.Id).Distinct().Count());
            Assert.Equal(40, (await session.Events.FetchStreamStateAsync(stream, ct))!.Version);
        }
    }

    [Fact]
    public async Task a_bad_event_is_refused_naming_it()
    {
        var credential = await EnrolAsync(await TokenAsync(), "PC-X");
        var (status, problem) = await PostAsync(credential, new object[]
        {
            new { id = Guid.NewGuid(), occurredAt = DateTimeOffset.UtcNow, status = "Installed" },
            new { id = Guid.Empty, occurredAt = DateTimeOffset.UtcNow, status = "Installed" },
            new { id = Guid.NewGuid(), occurredAt = DateTimeOffset.UtcNow, status = "Exploded" },
        });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("events[1].id", problem.GetProperty("detail").GetString());
        Assert.Contains("events[2].status: 'Exploded'", problem.GetProperty("detail").GetString());
    }
}
