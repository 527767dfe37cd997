using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Patch.Agent.Inventory;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Fuzzing;

/// <summary>
/// Mutated request bodies, seeded from what the real agent and a real administrator send: the agent protocol (enrolment,
/// inventory, status batches), maintenance-window definitions and the computer CSV. Every answer is below 500, and every
/// refusal is a problem document that says what is wrong.
/// </summary>
public class when_protocol_bodies_are_mutated(AppFixture app) : AppTest(app)
{
    private static readonly JsonSerializerOptions AgentJson = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    private static string Describe((int Seed, Mutation[] Changes) c) => $"seed {c.Seed}, mutations {string.Join(", ", c.Changes.Select(m => m.ToString()))}";

    /// <summary>Sends each mutated body (as an administrator; as an agent with <paramref name="bearer"/>, "" for none); 2xx is accepted, 4xx must be a problem naming the fault, 5xx is a defect.</summary>
    private async Task Bodies(string target, byte[][] seeds, Shape shape, string method, string url, string mediaType, string? bearer = null)
    {
        await Fuzz.RunAsync(target, Mutations.Of(seeds.Length), async c =>
        {
            var bytes = Mutations.Apply(seeds[c.Seed], c.Changes, shape);
            using var client = bearer is null ? App.Client() : App.AnonymousClient();
            using var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = new ByteArrayContent(bytes) };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(mediaType);
            if (!string.IsNullOrEmpty(bearer)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            Assert.True(status < 500, $"HTTP {status}: {text}");
            if (status < 400) return "accepted";
            var problem = JsonDocument.Parse(text).RootElement;
            Fuzz.Names(problem.TryGetProperty("detail", out var detail) ? detail.GetString() : problem.GetProperty("title").GetString(), target);
            return $"refused {status}";
        }, Describe);
    }

    private async Task<string> EnrolmentTokenAsync()
    {
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "fuzz", maxUses = 100_000 });
        return token.GetProperty("token").GetString()!;
    }

    private async Task<string> EnrolAsync(string token, string name)
    {
        using var client = App.AnonymousClient();
        var response = await client.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token, computerName = name, agentVersion = "0.1.0" }), Encoding.UTF8, "application/json"));
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString()!;
    }

    [Fact]
    public async Task agent_enrolment()
    {
        var token = await EnrolmentTokenAsync();
        byte[][] seeds =
        [
            JsonSerializer.SerializeToUtf8Bytes(new { token, computerName = "WS-0042", domain = "corp.example", agentVersion = "0.1.0", macAddress = "00:1A:2B:3C:4D:5E" }, AgentJson),
            JsonSerializer.SerializeToUtf8Bytes(new { token, computerName = "SRV-2019", agentVersion = "0.1.0" }, AgentJson),
        ];
        await Bodies("agent enrolment", seeds, Shape.Json, "POST", "/agent/v1/enrol", "application/json", bearer: "");
    }

    [Fact]
    public async Task child_server_registration()
    {
        // A valid token seeds the bodies: mutations of it are refused or register a child, never a 500.
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "fuzz" });
        var token = issued.GetProperty("token").GetString()!;
        byte[][] seeds =
        [
            JsonSerializer.SerializeToUtf8Bytes(new { token, name = "site-berlin", url = "https://berlin.example", cultures = new[] { "en-US", "de-DE" } }, AgentJson),
            JsonSerializer.SerializeToUtf8Bytes(new { token = "child-token:0.x", name = "x", cultures = Array.Empty<string>() }, AgentJson),
        ];
        await Bodies("child server registration", seeds, Shape.Json, "POST", "/replication/v1/register", "application/json", bearer: "");
    }

    [Fact]
    public async Task agent_inventory()
    {
        var credential = await EnrolAsync(await EnrolmentTokenAsync(), "SRV-2019");
        var captures = SharedData.PathOf("windows-inventory/wesng-validation/LICENSE-wesng.txt")[..^"LICENSE-wesng.txt".Length];
        var registry = SharedData.RepoFile("tests/Patch.Api.Tests/Inventory/registry");
        // What the real agent sends from real captures: systeminfo (several languages), wmic qfe, registry exports.
        byte[][] seeds =
        [
            .. new[]
            {
                new FileInventorySource(captures + "srv_2019_rtm_datacenter_en-us_systeminfo.txt", registryPaths: [registry + "/netfx.reg", registry + "/sqlserver.reg"]),
                new FileInventorySource(captures + "10_1803_x64_pro_it_systeminfo.txt", registryPaths: [registry + "/office-click-to-run.reg"]),
                new FileInventorySource(captures + "7_sp1_x64_enterprise_en-us_20190305_systeminfo.txt", captures + "7_sp1_x64_enterprise_en-us_20190305_qfe.txt"),
                new FileInventorySource(captures + "10_1809_x64_enterprise_zh-cn_systeminfo.txt"),
            }.Select(s => JsonSerializer.SerializeToUtf8Bytes(s.Read(), AgentJson)),
        ];
        await Bodies("agent inventory", seeds, Shape.Json, "POST", "/agent/v1/inventory", "application/json", credential);
    }

    [Fact]
    public async Task agent_status_batches()
    {
        var credential = await EnrolAsync(await EnrolmentTokenAsync(), "PC-FUZZ");
        var t0 = new DateTimeOffset(2026, 11, 10, 22, 0, 0, TimeSpan.Zero);
        byte[][] seeds =
        [
            JsonSerializer.SerializeToUtf8Bytes(new
            {
                events = new object[]
                {
                    new { id = Guid.Parse("6f1f7c3e-0d7a-4c55-9a37-2f0f1c1d0001"), occurredAt = t0, status = "Pending", bulletin = "KB5034763", updateId = "u1" },
                    new { id = Guid.Parse("6f1f7c3e-0d7a-4c55-9a37-2f0f1c1d0002"), occurredAt = t0.AddMinutes(3), status = "Download required", bulletin = "KB5034763", updateId = "u1" },
                    new { id = Guid.Parse("6f1f7c3e-0d7a-4c55-9a37-2f0f1c1d0003"), occurredAt = t0.AddMinutes(9), status = "Installed", bulletin = "KB5034763", updateId = "u1" },
                },
            }, AgentJson),
        ];
        await Bodies("agent status batch", seeds, Shape.Json, "POST", "/agent/v1/events", "application/json", credential);
    }

    [Fact]
    public Task maintenance_window_definitions()
    {
        byte[][] seeds =
        [
            JsonSerializer.SerializeToUtf8Bytes(new
            {
                name = "Weeknights", schedule = new { timeZone = "Europe/Berlin", start = "22:00:00", duration = "03:00:00", recurrence = new { kind = "Weekly", days = new[] { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday" } } },
            }, AgentJson),
            JsonSerializer.SerializeToUtf8Bytes(new
            {
                name = "Patch Tuesday + 1", schedule = new { timeZone = "UTC", start = "01:00:00", duration = "02:00:00", recurrence = new { kind = "MonthlyNthWeekday", week = 2, weekday = "Tuesday", offsetDays = 1 } },
            }, AgentJson),
        ];
        return Bodies("maintenance window", seeds, Shape.Json, "POST", "/api/maintenance-windows", "application/json");
    }

    [Fact]
    public Task computer_csv_import() =>
        Bodies("computer csv import", FuzzSeeds.ComputersCsv.Value, Shape.Text, "POST", "/api/computers/import", "text/csv");
}
