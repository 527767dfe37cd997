using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Staging;

namespace Patch.Api.Tests.Policies;

public class when_creating_software_update_policies(AppFixture app) : AppTest(app)
{
    private ContentServer _server = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        _server = await ContentServer.StartAsync();
        var a = _server.Add("a.msu", ContentServer.Bytes(20_000, 11));
        var b = _server.Add("b.msi", ContentServer.Bytes(20_000, 12));
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "policy-test",
            vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" }, new { id = "w11", name = "Windows 11 Version 23H2 for x64-based Systems", vendor = "ms" } },
            bulletins = new object[]
            {
                new { id = "KB9100001", vendor = "ms", title = "January update", description = "Fixes things.", severity = "Critical", updates = new object[]
                {
                    new { id = "u10", product = "w10", fileName = "a.msu", downloadUrl = a.Url, sha256 = a.Sha256, size = a.Size, restart = "required", commandLine = "wusa.exe a.msu /quiet /norestart" },
                    new { id = "u11", product = "w11", fileName = "b.msi", downloadUrl = b.Url, sha256 = b.Sha256, size = b.Size, restart = "notRequired" },
                } },
                new { id = "KB9100002", vendor = "ms", title = "Gone update", severity = "Important", updates = new object[]
                {
                    new { id = "gone", product = "w10", fileName = "gone.msu", downloadUrl = $"{_server.BaseUrl}/files/gone.msu", sha256 = ContentServer.Sha([7]), size = 1 },
                } },
            },
        };
        await App.ImportAsync("patch", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(catalog)));
        await StageAndWaitAsync("KB9100001");
        await StageAndWaitAsync("KB9100002");
    }

    public override async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await base.DisposeAsync();
    }

    [Fact]
    public async Task a_bulletin_that_is_not_fully_staged_is_refused_with_its_missing_downloads()
    {
        var (status, problem) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB9100001", "KB9100002" } });
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("Bulletin not fully staged", problem.GetProperty("title").GetString());
        Assert.Contains("KB9100002/gone (Windows 10 Version 22H2 for x64-based Systems): download failed:", problem.GetProperty("detail").GetString());
        Assert.Contains("HTTP 404", problem.GetProperty("detail").GetString());
        Assert.Equal(0, (await GetJsonAsync("/api/policies")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task a_policy_takes_the_bulletins_updates_and_the_vendor_defaults_and_is_edited_disabled_and_deleted_with_history()
    {
        var (status, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB9100001" } });
        Assert.Equal(HttpStatusCode.Created, status);
        var id = policy.GetProperty("id").GetString()!;
        Assert.StartsWith("policy:", id);
        Assert.Equal("KB9100001", policy.GetProperty("name").GetString());
        Assert.Equal("Fixes things.", policy.GetProperty("description").GetString());
        Assert.True(policy.GetProperty("enabled").GetBoolean());
        Assert.Equal(["builtin:requiring-updates"], policy.GetProperty("targets").EnumerateArray().Select(t => t.GetString()));
        var updates = policy.GetProperty("updates").EnumerateArray().ToDictionary(u => u.GetProperty("updateId").GetString()!);
        Assert.Equal("wusa.exe a.msu /quiet /norestart", updates["u10"].GetProperty("commandLine").GetString());
        Assert.Equal("msiexec.exe /i \"b.msi\" /qn /norestart", updates["u11"].GetProperty("commandLine").GetString());
        Assert.Equal(64, updates["u10"].GetProperty("packageSha256").GetString()!.Length);
        Assert.Equal("AgentDefault", policy.GetProperty("options").GetProperty("schedule").GetString());
        Assert.Equal(60, policy.GetProperty("program").GetProperty("terminateAfterMinutes").GetInt32());
        Assert.Equal(1, (await GetJsonAsync("/api/bulletins?q=KB9100001")).GetProperty("items")[0].GetProperty("policies").GetInt32());

        // New vendor defaults do not rewrite the existing policy.
        var vendor = JsonNode.Parse((await GetJsonAsync("/api/settings/vendors/microsoft")).GetRawText())!;
        vendor["program"]!["terminateAfterMinutes"] = 15;
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/settings/vendors/microsoft", vendor.ToJsonString())).Status);
        Assert.Equal(60, (await GetJsonAsync($"/api/policies/{id}")).GetProperty("program").GetProperty("terminateAfterMinutes").GetInt32());

        var (bad, badProblem) = await SendAsync(HttpMethod.Put, $"/api/policies/{id}", new { options = new { schedule = "Own", wakeOnLan = true, overrideMaintenanceWindows = false, multicast = false } });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Contains("options.ownSchedule: required", badProblem.GetProperty("detail").GetString());

        var edit = new
        {
            name = "January rollout",
            options = new { schedule = "Own", ownSchedule = new { timeZone = "Europe/Berlin", start = "22:00:00", recurrence = new { kind = "Weekly", days = new[] { "Saturday" } } }, wakeOnLan = true, overrideMaintenanceWindows = false, multicast = false },
            updates = new[] { new { updateId = "u11", enabled = false, commandLine = "msiexec.exe /i \"b.msi\" /qn" } },
        };
        var (edited, after) = await SendAsync(HttpMethod.Put, $"/api/policies/{id}", edit);
        Assert.Equal(HttpStatusCode.OK, edited);
        Assert.Equal("January rollout", after.GetProperty("name").GetString());
        Assert.True(after.GetProperty("options").GetProperty("wakeOnLan").GetBoolean());
        Assert.False(after.GetProperty("updates").EnumerateArray().Single(u => u.GetProperty("updateId").GetString() == "u11").GetProperty("enabled").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/policies/{id}", edit)).Status);

        Assert.False((await SendAsync(HttpMethod.Post, $"/api/policies/{id}/disable")).Body.GetProperty("enabled").GetBoolean());
        Assert.Equal(1, (await GetJsonAsync("/api/policies?enabled=false")).GetProperty("total").GetInt32());
        Assert.True((await SendAsync(HttpMethod.Post, $"/api/policies/{id}/enable")).Body.GetProperty("enabled").GetBoolean());

        var (deleted, gone) = await SendAsync(HttpMethod.Delete, $"/api/policies/{id}");
        Assert.Equal(HttpStatusCode.OK, deleted);
        Assert.Equal("Deleted", gone.GetProperty("status").GetString());
        Assert.Equal(0, (await GetJsonAsync("/api/bulletins?q=KB9100001")).GetProperty("items")[0].GetProperty("policies").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, $"/api/policies/{id}/enable")).Status);
        Assert.Equal(1, (await GetJsonAsync("/api/policies?status=Deleted")).GetProperty("total").GetInt32());

        var history = await GetJsonAsync($"/api/history/{id}");
        Assert.Equal(["software_update_policy_created", "software_update_policy_edited", "software_update_policy_disabled", "software_update_policy_enabled", "software_update_policy_deleted"],
            history.EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        Assert.All(history.EnumerateArray(), e => Assert.Equal("dana", e.GetProperty("actor").GetString()));
        var changes = history[1].GetProperty("data").GetProperty("changes").EnumerateArray().Select(c => c.GetProperty("field").GetString()).ToList();
        Assert.Equal(["name", "options", "updates[u11].enabled", "updates[u11].commandLine"], changes);
    }

    /// <summary>A policy's version is its entity tag: an edit, enable, disable or delete sent with a stale one is refused, nothing changed.</summary>
    [Fact]
    public async Task a_change_to_a_policy_read_before_someone_elses_change_is_refused()
    {
        using var client = App.Client("dana");
        async Task<HttpResponseMessage> Send(HttpMethod method, string url, string? json, string? ifMatch)
        {
            var request = new HttpRequestMessage(method, url) { Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json") };
            if (ifMatch is not null) request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
            return await client.SendAsync(request, TestContext.Current.CancellationToken);
        }
        var created = await Send(HttpMethod.Post, "/api/policies", """{"bulletinIds":["KB9100001"],"enabled":false}""", null);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("id").GetString()!;
        var read = (await Send(HttpMethod.Get, $"/api/policies/{id}", null, null)).Headers.ETag?.ToString();
        Assert.Equal(created.Headers.ETag?.ToString(), read);

        var enabled = await Send(HttpMethod.Post, $"/api/policies/{id}/enable", null, read);
        Assert.Equal(HttpStatusCode.OK, enabled.StatusCode);
        Assert.NotEqual(read, enabled.Headers.ETag?.ToString());
        var stale = await Send(HttpMethod.Put, $"/api/policies/{id}", """{"name":"Renamed on a stale read"}""", read);
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await Send(HttpMethod.Delete, $"/api/policies/{id}", null, read)).StatusCode);
        var policy = await GetJsonAsync($"/api/policies/{id}");
        Assert.NotEqual("Renamed on a stale read", policy.GetProperty("name").GetString());
        Assert.True(policy.GetProperty("enabled").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Put, $"/api/policies/{id}", """{"name":"Renamed"}""", enabled.Headers.ETag!.ToString())).StatusCode);
    }

    [Fact]
    public async Task a_policy_can_hold_a_single_downloaded_update()
    {
        var (status, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinId = "KB9100001", updateId = "u11", enabled = false });
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal("KB9100001: Windows 11 Version 23H2 for x64-based Systems", policy.GetProperty("name").GetString());
        Assert.Single(policy.GetProperty("updates").EnumerateArray());
        Assert.False(policy.GetProperty("enabled").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinId = "KB9100001", updateId = "nope" })).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/policies", new { updateId = "u11" })).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB9100001" }, targets = new[] { "target:nope" } })).Status);
        // "Computers requiring update X" names an update a catalog has; one no catalog has would reach nobody, in silence.
        var segment = Uri.EscapeDataString(policy.GetProperty("id").GetString()!);
        var (unknown, unknownSaid) = await SendAsync(HttpMethod.Put, $"/api/policies/{segment}", new { targets = new[] { "builtin:requiring-update:NOPE" } });
        Assert.True(unknown == HttpStatusCode.BadRequest, unknownSaid.ToString());
        Assert.Contains("names an update no imported catalog has", unknownSaid.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, $"/api/policies/{segment}", new { targets = new[] { "builtin:requiring-update:u11" } })).Status);
        // A disabled policy distributes nothing: no computer is woken for it (the fifth sweep, stop 54: 80 packets were sent).
        var (wake, refused) = await SendAsync(HttpMethod.Post, $"/api/policies/{policy.GetProperty("id").GetString()}/wake");
        Assert.True(wake == HttpStatusCode.Conflict, refused.ToString());
        Assert.Contains("is disabled", refused.GetProperty("detail").GetString());
    }

    /// <summary>
    /// A policy deleted before an agent enrolled never assigned it anything: a status naming it is refused, not counted
    /// in the delivery reports (the fifth sweep, stop 54: it was, and a later delete of the policy became a retirement).
    /// </summary>
    [Fact]
    public async Task a_status_for_a_policy_deleted_before_the_agent_enrolled_is_refused()
    {
        var (_, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinId = "KB9100001", updateId = "u10", enabled = false });
        var policyId = policy.GetProperty("id").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, $"/api/policies/{policyId}")).Status);
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "after-delete", maxUses = 1 });
        var (_, enrolled) = await SendAsync(HttpMethod.Post, "/agent/v1/enrol", new { token = token.GetProperty("token").GetString(), computerName = "AFTER-DELETE-1", agentVersion = "0.1.0" });
        using var agent = App.AnonymousClient();
        agent.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", enrolled.GetProperty("credential").GetString());
        var status = new { id = Guid.NewGuid(), occurredAt = DateTimeOffset.UtcNow.AddMinutes(-10), status = "Installed", bulletin = "KB9100001", updateId = "u10", policyId };

        using var response = await agent.PostAsync("/agent/v1/events", JsonContent(new { events = new[] { status } }));
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.Conflict, text);
        Assert.Contains("before this agent enrolled: it never assigned it anything", text);
    }

    private static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    [Fact]
    public async Task a_directory_export_is_imported_by_its_own_column_names_and_an_ansi_csv_is_refused()
    {
        using var client = App.Client();
        // A directory export as PowerShell writes it: its #TYPE line, quoted cells, the domain in the DNS name, other columns named back.
        var ad = "#TYPE Selected.Microsoft.ActiveDirectory.Management.ADComputer\r\n\"Name\",\"DNSHostName\",\"OperatingSystem\",\"Enabled\"\r\n" +
                 "\"AD-001\",\"ad-001.corp.example.com\",\"Windows 10 Enterprise\",\"True\"\r\n\"AD-LAB-7\",\"ad-lab-7.lab.example.com\",\"Windows 11 Pro\",\"False\"\r\n";
        var fromAd = await client.PostAsync("/api/computers/import", new StringContent(ad, Encoding.UTF8, "text/csv"));
        Assert.Equal("""{"added":2,"changed":0,"unchanged":0,"ignoredColumns":["Enabled"]}""", await fromAd.Content.ReadAsStringAsync());
        var lab = (await GetJsonAsync("/api/computers?q=AD-LAB-7")).GetProperty("items")[0];
        Assert.Equal("lab.example.com", lab.GetProperty("domain").GetString());
        Assert.Equal("Windows 11 Pro", lab.GetProperty("operatingSystem").GetString());

        // Excel's default CSV on Windows is ANSI: refused, never stored with replacement characters.
        var latin1 = new ByteArrayContent(Encoding.Latin1.GetBytes("name,os\nM\u00fcller-PC,Windows 11\n"));
        latin1.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
        var ansi = await client.PostAsync("/api/computers/import", latin1);
        Assert.Equal(HttpStatusCode.BadRequest, ansi.StatusCode);
        var problem = await ansi.Content.ReadAsStringAsync();
        Assert.Contains("Not UTF-8", problem);
        Assert.Contains("line 2, byte 2", problem);
        Assert.Empty((await GetJsonAsync("/api/computers?q=ller-PC")).GetProperty("items").EnumerateArray());

        // A computer listed twice (in any case) is a mistake in the file, named; nothing of the file is imported.
        var twice = await client.PostAsync("/api/computers/import", new StringContent("name,os\nDUP-1,Windows 11\nDUP-2,Windows 10\ndup-1,Windows 10\n", Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.BadRequest, twice.StatusCode);
        Assert.Contains("row 3: name: the computer 'dup-1' is listed twice (also row 1)", await twice.Content.ReadAsStringAsync());
        Assert.Empty((await GetJsonAsync("/api/computers?q=DUP-")).GetProperty("items").EnumerateArray());

        var header = await client.PostAsync("/api/computers/import", new StringContent("name,os,Name\nHDR-1,Windows 11,HDR-2\n", Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.BadRequest, header.StatusCode);
        Assert.Contains("the header names 'Name' twice (columns 1 and 3)", await header.Content.ReadAsStringAsync());
        // Excel's trailing commas: columns without a name, named back by their number.
        var trailing = await client.PostAsync("/api/computers/import", new StringContent("name,os,,\nXL-1,Windows 11,,\n", Encoding.UTF8, "text/csv"));
        Assert.Equal("""{"added":1,"changed":0,"unchanged":0,"ignoredColumns":["column 3","column 4"]}""", await trailing.Content.ReadAsStringAsync());
        // Beside a domain column the DNS name gives nothing: named back as not read.
        var both = await client.PostAsync("/api/computers/import", new StringContent("Name,Domain,DNSHostName\nDNS-1,corp,dns-1.other.example\n", Encoding.UTF8, "text/csv"));
        Assert.Equal("""{"added":1,"changed":0,"unchanged":0,"ignoredColumns":["DNSHostName"]}""", await both.Content.ReadAsStringAsync());
        Assert.Equal("corp", (await GetJsonAsync("/api/computers?q=DNS-1")).GetProperty("items")[0].GetProperty("domain").GetString());
        // Excel's "CSV UTF-8" where the decimal mark is a comma separates by semicolons (a quoted cell may hold one).
        var semicolons = await client.PostAsync("/api/computers/import", new StringContent("\uFEFFName;Domain;OS\r\nDE-001;corp.example;\"Windows 11; Pro\"\r\n", Encoding.UTF8, "text/csv"));
        Assert.Equal("""{"added":1,"changed":0,"unchanged":0,"ignoredColumns":[]}""", await semicolons.Content.ReadAsStringAsync());
        var de = (await GetJsonAsync("/api/computers?q=DE-001")).GetProperty("items")[0];
        Assert.Equal(("corp.example", "Windows 11; Pro"), (de.GetProperty("domain").GetString(), de.GetProperty("operatingSystem").GetString()));
    }

    [Fact]
    public async Task targets_are_computed_from_the_computers_and_honour_exclusions()
    {
        using (var client = App.Client())
        {
            var csv = "name,domain,os,mac\nWS-001,corp,Windows 10 Enterprise,00:1A:2B:3C:4D:01\nWS-002,corp,Windows 10 Enterprise,00:1A:2B:3C:4D:02\nWS-003,corp,Windows 11 Pro,\nSRV-01,corp,Windows Server 2022,00-1A-2B-3C-4D-04\n";
            var imported = await client.PostAsync("/api/computers/import", new StringContent(csv, Encoding.UTF8, "text/csv"));
            Assert.Equal("""{"added":4,"changed":0,"unchanged":0,"ignoredColumns":[]}""", await imported.Content.ReadAsStringAsync());
            var bad = await client.PostAsync("/api/computers/import", new StringContent("name,mac\nWS-9,zz\n", Encoding.UTF8, "text/csv"));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("row 1: macAddress: 'zz'", await bad.Content.ReadAsStringAsync());
        }
        Assert.Equal(4, (await GetJsonAsync("/api/computers")).GetProperty("total").GetInt32());

        var (created, target) = await SendAsync(HttpMethod.Post, "/api/targets", new
        {
            name = "Workstations", include = new object[] { new { namePattern = "WS-*" } }, exclude = new object[] { new { computers = new[] { "WS-003" } } },
        });
        Assert.Equal(HttpStatusCode.Created, created);
        var targetId = target.GetProperty("id").GetString()!;
        Assert.Equal(["WS-001", "WS-002"], (await GetJsonAsync($"/api/targets/{targetId}/members")).GetProperty("computers").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(["WS-003"], (await SendAsync(HttpMethod.Post, "/api/targets", new { name = "Windows 11", include = new object[] { new { operatingSystemContains = "Windows 11" } } })) is var (_, w11)
            ? (await GetJsonAsync($"/api/targets/{w11.GetProperty("id").GetString()}/members")).GetProperty("computers").EnumerateArray().Select(c => c.GetString()) : []);
        Assert.Equal(4, (await GetJsonAsync("/api/targets/builtin:without-agent/members")).GetProperty("count").GetInt32());
        Assert.Equal(0, (await GetJsonAsync("/api/targets/builtin:all-with-agent/members")).GetProperty("count").GetInt32());
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/targets", new { name = "Empty", include = new object[] { new { } } })).Status);

        var (_, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB9100001" }, targets = new[] { targetId, "builtin:requiring-updates" } });
        var policyId = policy.GetProperty("id").GetString();
        Assert.Equal(["WS-001", "WS-002"], (await GetJsonAsync($"/api/policies/{policyId}/members")).GetProperty("computers").EnumerateArray().Select(c => c.GetString()));

        // Resource exclusions (vendor settings) take computers out of every distribution.
        var vendor = JsonNode.Parse((await GetJsonAsync("/api/settings/vendors/microsoft")).GetRawText())!;
        vendor["resourceExclusions"] = new JsonArray("WS-002");
        await SendAsync(HttpMethod.Put, "/api/settings/vendors/microsoft", vendor.ToJsonString());
        Assert.Equal(["WS-001"], (await GetJsonAsync($"/api/policies/{policyId}/members")).GetProperty("computers").EnumerateArray().Select(c => c.GetString()));

        var (inUse, problem) = await SendAsync(HttpMethod.Delete, $"/api/targets/{targetId}");
        Assert.Equal(HttpStatusCode.Conflict, inUse);
        Assert.Contains("KB9100001", problem.GetProperty("detail").GetString());

        // Maintenance windows: a Berlin evening window for the workstations.
        var (windowStatus, window) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Weeknights", targets = new[] { targetId },
            schedule = new { timeZone = "Europe/Berlin", start = "22:00:00", duration = "03:00:00", recurrence = new { kind = "Weekly", days = new[] { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday" } } },
        });
        Assert.Equal(HttpStatusCode.Created, windowStatus);
        var inside = await GetJsonAsync("/api/maintenance-windows/check?computer=WS-001&at=2024-03-05T22:30:00Z");
        Assert.True(inside.GetProperty("inside").GetBoolean());
        Assert.Equal(DateTimeOffset.Parse("2024-03-06T00:00:00Z"), inside.GetProperty("openUntil").GetDateTimeOffset());
        var outside = await GetJsonAsync("/api/maintenance-windows/check?computer=WS-001&at=2024-03-09T12:00:00Z");
        Assert.False(outside.GetProperty("inside").GetBoolean());
        Assert.Equal(DateTimeOffset.Parse("2024-03-11T21:00:00Z"), outside.GetProperty("nextStart").GetDateTimeOffset());
        Assert.Empty((await GetJsonAsync("/api/maintenance-windows/check?computer=SRV-01&at=2024-03-05T22:30:00Z")).GetProperty("windows").EnumerateArray());
        var (invalid, invalidProblem) = await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Broken", schedule = new { timeZone = "Mars/Base", start = "22:00:00", duration = "00:00:00", recurrence = new { kind = "Weekly" } },
        });
        Assert.Equal(HttpStatusCode.BadRequest, invalid);
        Assert.Contains("schedule.timeZone", invalidProblem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/maintenance-windows/{window.GetProperty("id").GetString()}")).Status);
    }

    [Fact]
    public async Task the_package_deletion_interval_removes_only_packages_no_enabled_policy_needs()
    {
        var (_, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinId = "KB9100001", updateId = "u10" });
        // A partial download nothing resumed for more than the retention (7 days) goes too; one written lately stays for its resume.
        var stale = Path.Combine(App.PackageDirectory, "partial", "0123456789abcdef0123456789abcdef.part");
        var fresh = Path.Combine(App.PackageDirectory, "partial", "fedcba9876543210fedcba9876543210.part");
        File.WriteAllBytes(stale, [1, 2, 3]);
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddDays(-8));
        File.WriteAllBytes(fresh, [4, 5, 6]);
        // A stored file no bulletin records and no policy names (its removal was saved, its delete never came) goes once
        // older than the retention; one stored lately stays (a download between its verification and its record).
        string Stored(string sha)
        {
            var path = Path.Combine(App.PackageDirectory, "sha256", sha[..2], sha);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, [7, 8, 9]);
            return path;
        }
        var orphan = Stored(new string('a', 64));
        File.SetLastWriteTimeUtc(orphan, DateTime.UtcNow.AddDays(-8));
        var justStored = Stored(new string('b', 64));
        var recorded = Directory.EnumerateFiles(Path.Combine(App.PackageDirectory, "sha256"), "*", SearchOption.AllDirectories).Where(f => f != orphan && f != justStored).ToList();
        Assert.NotEmpty(recorded);
        foreach (var file in recorded) File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddDays(-8));
        var kept = await SendAsync(HttpMethod.Post, "/api/server-tasks/package-cleanup/run?wait=true");
        Assert.Equal(0, kept.Body.GetProperty("counts").GetProperty("packagesRemoved").GetInt32());
        Assert.Equal(1, kept.Body.GetProperty("counts").GetProperty("partialDownloadsRemoved").GetInt32());
        Assert.Equal(1, kept.Body.GetProperty("counts").GetProperty("orphansRemoved").GetInt32());
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(fresh));
        Assert.False(File.Exists(orphan));
        Assert.True(File.Exists(justStored));
        Assert.All(recorded, file => Assert.True(File.Exists(file), file));
        File.Delete(fresh);
        File.Delete(justStored);

        App.Clock.Shift = TimeSpan.FromDays(8);
        var run = (await SendAsync(HttpMethod.Post, "/api/server-tasks/package-cleanup/run?wait=true")).Body;
        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal(1, run.GetProperty("counts").GetProperty("packagesRemoved").GetInt32());
        var staging = await GetJsonAsync("/api/bulletins/KB9100001/staging");
        var states = staging.GetProperty("updateStatus").EnumerateArray().ToDictionary(u => u.GetProperty("updateId").GetString()!, u => u.GetProperty("state").GetString());
        Assert.Equal("downloaded", states["u10"]);
        Assert.Equal("pending", states["u11"]);
        Assert.False((await GetJsonAsync("/api/bulletins?q=KB9100001")).GetProperty("items")[0].GetProperty("staged").GetBoolean());

        // Disabling the policy frees its package too.
        await SendAsync(HttpMethod.Post, $"/api/policies/{policy.GetProperty("id").GetString()}/disable");
        run = (await SendAsync(HttpMethod.Post, "/api/server-tasks/package-cleanup/run?wait=true")).Body;
        Assert.Equal(1, run.GetProperty("counts").GetProperty("packagesRemoved").GetInt32());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(App.PackageDirectory, "sha256"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task every_projection_rebuilt_from_the_event_log_equals_the_live_one()
    {
        using (var client = App.Client())
            await client.PostAsync("/api/computers/import", new StringContent("name,os\nWS-001,Windows 10\nWS-002,Windows 11\n", Encoding.UTF8, "text/csv"));
        var (_, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "All WS", include = new object[] { new { namePattern = "WS-*" } } });
        var (_, policy) = await SendAsync(HttpMethod.Post, "/api/policies", new { bulletinIds = new[] { "KB9100001" }, targets = new[] { target.GetProperty("id").GetString() } });
        await SendAsync(HttpMethod.Post, $"/api/policies/{policy.GetProperty("id").GetString()}/disable");
        await SendAsync(HttpMethod.Post, "/api/maintenance-windows", new
        {
            name = "Nights", targets = new[] { target.GetProperty("id").GetString() },
            schedule = new { timeZone = "UTC", start = "01:00:00", duration = "02:00:00", recurrence = new { kind = "MonthlyNthWeekday", week = 2, weekday = "Tuesday", offsetDays = 1 } },
        });
        var vendor = JsonNode.Parse((await GetJsonAsync("/api/settings/vendors/microsoft")).GetRawText())!;
        vendor["verifyAuthenticity"] = false;
        await SendAsync(HttpMethod.Put, "/api/settings/vendors/microsoft", vendor.ToJsonString());

        string[] views =
        [
            "/api/bulletins?pageSize=1000&sort=bulletin", "/api/bulletins/KB9100001", "/api/bulletins/KB9100002/staging", "/api/policies?status=Active",
            "/api/targets", "/api/maintenance-windows", "/api/computers", "/api/settings/vendors/microsoft", "/api/server-tasks/runs?pageSize=1000",
            $"/api/policies/{policy.GetProperty("id").GetString()}/members",
        ];
        using var http = App.Client();
        // The analyses the imports above queued run in the background (a burst is covered by a few runs, each waited for a
        // moment): a run appended to while a rebuild replays would be read half-written. The run history must be still —
        // nothing running, the same for longer than a queued analysis waits (AnalyseFleetHandler.ClockSkew) — before the views are read.
        var quiet = System.Diagnostics.Stopwatch.StartNew();
        for (string? last = null; ; await Task.Delay(250, TestContext.Current.CancellationToken))
        {
            var runs = await http.GetStringAsync("/api/server-tasks/runs?pageSize=1000", TestContext.Current.CancellationToken);
            if (runs != last || runs.Contains("\"status\":\"running\"", StringComparison.Ordinal))
            {
                last = runs;
                quiet.Restart();
            }
            else if (quiet.Elapsed > Patch.Application.Compliance.AnalyseFleetHandler.ClockSkew + TimeSpan.FromSeconds(0.5)) break;
        }
        var live = new List<string>();
        foreach (var v in views) live.Add(await http.GetStringAsync(v));

        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
        {
            foreach (var projection in new[] { "Bulletin", "BulletinRow", "SoftwareUpdatePolicy", "Target", "MaintenanceWindow", "Computer", "VendorSettings", "ServerTaskRun", "KnownExploitedVulnerability", "CustomSeverityLevels", "CoreSettings" })
                await daemon.RebuildProjectionAsync(projection, TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        }

        for (var i = 0; i < views.Length; i++) Assert.Equal(live[i], await http.GetStringAsync(views[i]));
    }
}
