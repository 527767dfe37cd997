using System.Text;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Alba;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Infrastructure;

/// <summary>One Patch host for every whole-app test (they share the "app" collection, so they run one at a time).</summary>
public sealed class AppFixture : IAsyncLifetime
{
    public const int MaxImportBytes = 8 * 1024 * 1024;

    public IAlbaHost Host { get; private set; } = null!;

    /// <summary>The host's clock: real time, which a test may shift forward (and must shift back).</summary>
    public ShiftedClock Clock { get; } = new();

    /// <summary>The package store and the staging location (mirror) of the test host: fresh folders per run.</summary>
    public string PackageDirectory { get; } = Path.Combine(Path.GetTempPath(), $"patch-packages-{Guid.NewGuid():N}");

    public string MirrorDirectory { get; } = Path.Combine(Path.GetTempPath(), $"patch-mirror-{Guid.NewGuid():N}");

    public IDocumentStore Store => Host.Services.GetRequiredService<IDocumentStore>();

    /// <summary>The test identity provider whose keys the host trusts.</summary>
    public TestIdentityProvider Oidc { get; } = new();

    /// <summary>Where the test host sends Wake-on-LAN packets: a loopback UDP listener, never a real broadcast.</summary>
    public System.Net.Sockets.UdpClient WakeListener { get; } = new(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));

    public async ValueTask InitializeAsync()
    {
        var connectionString = await TestDatabase.ConnectionStringAsync();
        Host = await AlbaHost.For<Program>(b =>
        {
            b.UseSetting("ConnectionStrings:Patch", connectionString);
            b.ConfigureServices(s =>
            {
                s.AddSingleton<TimeProvider>(Clock);
                s.AddSingleton(ServerTasks.TestTasks.WaitTask);
                s.AddHttpContextAccessor();
                s.ConfigureMarten((sp, o) => o.Listeners.Add(new Operations.FailAfterCommit(sp.GetRequiredService<Microsoft.AspNetCore.Http.IHttpContextAccessor>())));
            });
            b.UseSetting("Patch:Import:MaxBytes", MaxImportBytes.ToString());
            // A run checks that it still holds its task's lock every second (30 s by default).
            b.UseSetting("Patch:ServerTasks:LockCheckSeconds", "1");
            // Name buckets of two rows (split past four): every numbered page past the first is started from one (ADR 0038).
            b.UseSetting("Patch:Reports:NameBucket", "2");
            b.UseSetting("Patch:Staging:PackageDirectory", PackageDirectory);
            b.UseSetting("Patch:Staging:StagingLocation", MirrorDirectory);
            b.UseSetting("Patch:Staging:RetryDelay", "00:00:00.050");
            b.UseSetting("Patch:Webhooks:RetryDelay", "00:00:00.200");
            b.UseSetting("Patch:Webhooks:MaxAttempts", "6");
            // The tests' receivers listen on loopback.
            b.UseSetting("Patch:Webhooks:AllowPrivateAddresses", "true");
            b.UseSetting("Patch:Staging:MaxPackageBytes", (64 * 1024 * 1024).ToString());
            b.UseSetting("Patch:WakeOnLan:Broadcast", WakeListener.Client.LocalEndPoint!.ToString());
            // Tests call the scheduled Wake-on-LAN check themselves.
            b.UseSetting("Patch:WakeOnLan:CheckSeconds", "86400");
            // Sign-in tests sign in many times a minute; the rate limit has its own host (SignInLimitTests).
            b.UseSetting("Patch:Auth:SignIn:AttemptsPerMinute", "10000");
            // The suite (and the long fuzzing run) asks far more a minute than any client should: limits have their own host (LimitsTests).
            b.UseSetting("Patch:Limits:UserRequestsPerMinute", "0");
            b.UseSetting("Patch:Limits:AgentRequestsPerMinute", "0");
            b.UseSetting("Patch:Limits:AnonymousRequestsPerMinute", "0");
            // Single sign-on with a test identity provider: a static JWKS file, no discovery request.
            b.UseSetting("Patch:Auth:Oidc:Issuer", Oidc.Issuer);
            b.UseSetting("Patch:Auth:Oidc:Audience", Oidc.Audience);
            b.UseSetting("Patch:Auth:Oidc:SigningKeysFile", Oidc.JwksFile);
            b.UseSetting("Patch:Auth:Oidc:RoleClaim", "roles, realm_access.roles, groups");
            b.UseSetting("Patch:Auth:Oidc:RoleMap:/patch-admins", "administrator");
            b.UseSetting("Patch:Auth:Oidc:RoleMap:patch-operators", "operator");
        });
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        WakeListener.Dispose();
        Oidc.Dispose();
        foreach (var dir in new[] { PackageDirectory, MirrorDirectory })
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>A client signed in as this user (created on first use after each reset) with a personal access token of its role.</summary>
    public HttpClient Client(string user = "tester", string role = Roles.Administrator)
    {
        var client = Host.Server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TokenFor(user, role));
        return client;
    }

    /// <summary>A client with no credential at all.</summary>
    public HttpClient AnonymousClient() => Host.Server.CreateClient();

    public const string TestPassword = "test password of twelve+";

    private static readonly Lazy<string> TestPasswordHash = new(() => Patch.Application.Security.Passwords.Hash(TestPassword));
    private readonly Dictionary<(string, string), string> _tokens = new();

    /// <summary>The user's token, creating the user (password <see cref="TestPassword"/>) and the token by appending their events directly (no slow hashing per test).</summary>
    public string TokenFor(string user, string role = Roles.Administrator)
    {
        lock (_tokens)
        {
            if (_tokens.TryGetValue((user, role), out var known)) return known;
            return _tokens[(user, role)] = TestUsers.NewToken(Store, user, role, TestPasswordHash.Value);
        }
    }

    /// <summary>Every test starts from an empty store.</summary>
    public async Task ResetAsync()
    {
        Clock.Shift = TimeSpan.Zero;
        lock (_tokens) _tokens.Clear();
        // Runs the previous test started (an analysis after its import) end before the store is emptied.
        // A test that failed may have left a test task waiting: it is let go after a minute rather than hanging the suite.
        using (var idle = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            try { await Host.Services.GetRequiredService<Patch.Application.ServerTasks.ServerTaskRunner>().WhenIdleAsync(idle.Token); }
            catch (OperationCanceledException) { ServerTasks.TestTasks.Gate.Release(10); }
        }
        // A vulnerability analysis queued by the previous test's import may still be writing: a deadlock with the
        // clean-up is that race, not a fault of the test about to run, so the clean-up is tried again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Store.Advanced.Clean.DeleteAllEventDataAsync();
                await Store.Advanced.Clean.DeleteAllDocumentsAsync();
                break;
            }
            catch (Exception e) when (attempt < 5 && IsDeadlock(e))
            {
                await Task.Delay(200 * attempt);
            }
        }
        await using (var conn = await Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().OpenConnectionAsync())
        {
            await Patch.Projections.Compliance.ComplianceTables.TruncateAsync(conn, null, CancellationToken.None);
            await Patch.Projections.Delivery.DeliveryTables.TruncateAsync(conn, CancellationToken.None);
            await Patch.Projections.History.ReadModelHistory.TruncateAsync(conn, CancellationToken.None);
        }
        Host.Services.GetRequiredService<Patch.Projections.Compliance.CatalogCache>().Invalidate();
        foreach (var dir in new[] { PackageDirectory, MirrorDirectory })
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
        }
        Directory.CreateDirectory(Path.Combine(PackageDirectory, "sha256"));
        Directory.CreateDirectory(Path.Combine(PackageDirectory, "partial"));
    }

    private static bool IsDeadlock(Exception? e) =>
        e is not null && (e is Npgsql.PostgresException { SqlState: "40P01" } || IsDeadlock(e.InnerException));

    /// <summary>Events in the store outside server-task-run, user, token-use and webhook streams: the catalog, settings, vulnerabilities.</summary>
    public async Task<long> CatalogEventCountAsync()
    {
        await using var cmd = Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>()
            .CreateCommand("select count(*) from patch.mt_events where stream_id not like 'task-run:%' and stream_id not like 'user:%' and stream_id not like 'token-use:%' and stream_id not like 'webhook%'");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Every compliance state row (computer, update, state) and every counter of bulletins and updates as one ordered JSON
    /// text: two analyses compare equal when they wrote the same rows and counted them alike (live writes move the
    /// counters by differences, a full analysis recounts them).
    /// </summary>
    public async Task<string> ComplianceRowsAsync()
    {
        await using var cmd = Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("""
            select coalesce(jsonb_agg(x order by x::text), '[]')::text
              || coalesce((select jsonb_agg(b order by b.bulletin_id) from patch.compliance_bulletin b)::text, '')
              || coalesce((select jsonb_agg(u order by u.update_key) from patch.compliance_update u)::text, '')
            from (select computer_id, update_key, state from patch.compliance_state) x
            """);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    public async Task<JsonElement> ImportAsync(string format, byte[] content, HttpStatusCodeExpectation expect = HttpStatusCodeExpectation.Ok)
    {
        using var client = Client();
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue(format is "cvrf" or "mssecure" ? "application/xml" : "application/json");
        var response = await client.PostAsync($"/api/catalog/imports?format={format}", body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (expect == HttpStatusCodeExpectation.Ok && !response.IsSuccessStatusCode)
            throw new Xunit.Sdk.XunitException($"Import failed with {(int)response.StatusCode}: {json}");
        return json;
    }
}

public enum HttpStatusCodeExpectation { Ok, Any }

[CollectionDefinition("app")]
public sealed class AppCollection : ICollectionFixture<AppFixture>;

/// <summary>Base class of whole-app tests: resets the store before each test.</summary>
[Collection("app")]
public abstract class AppTest(AppFixture app) : IAsyncLifetime
{
    protected AppFixture App { get; } = app;

    public virtual async ValueTask InitializeAsync() => await App.ResetAsync();

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Stages the bulletins (one or many) and waits until the staging run is no longer running; returns its status.</summary>
    protected async Task<JsonElement> StageAndWaitAsync(params string[] bulletinIds)
    {
        using var client = App.Client();
        var response = bulletinIds.Length == 1
            ? await client.PostAsync($"/api/bulletins/{bulletinIds[0]}/stage", null)
            : await client.PostAsync("/api/bulletins/stage", new StringContent(JsonSerializer.Serialize(new { bulletinIds }), Encoding.UTF8, "application/json"));
        return await WaitForStagingAsync(response);
    }

    /// <summary>Waits until the staging run a stage request started is no longer running; returns its status.</summary>
    protected async Task<JsonElement> WaitForStagingAsync(HttpResponseMessage response)
    {
        var started = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, started.ToString());
        var statusUrl = started.GetProperty("statusUrl").GetString()!;
        for (var i = 0; i < 300; i++)
        {
            var status = await GetJsonAsync(statusUrl);
            if (status.GetProperty("run").GetProperty("status").GetString() != "running") return status;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException($"staging run {statusUrl} did not finish");
    }

    /// <summary>Sends a request as user "dana" (a JSON body from an object, or a string as is); the answer's status and JSON.</summary>
    protected async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string url, object? body = null)
    {
        using var client = App.Client("dana");
        var request = new HttpRequestMessage(method, url);
        if (body is not null) request.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>The test server's database.</summary>
    protected Npgsql.NpgsqlDataSource Db => App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>();

    /// <summary>Runs SQL against the test's database; the first column of its first row (null when none).</summary>
    protected async Task<object?> SqlScalarAsync(string sql)
    {
        await using var cmd = Db.CreateCommand(sql);
        return await cmd.ExecuteScalarAsync(TestContext.Current.CancellationToken);
    }

    protected async Task<JsonElement> GetJsonAsync(string url, int expectedStatus = 200)
    {
        using var client = App.Client();
        var response = await client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expectedStatus, $"GET {url}: expected {expectedStatus}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>
    /// A report's rows (raw JSON) walked by cursor: its first page of <paramref name="pageSize"/> rows at <paramref name="url"/>,
    /// then each page after the previous one's <c>next</c>, until it has none — every page numbered one more than the one
    /// before and answering <paramref name="total"/>.
    /// </summary>
    protected async Task<List<string>> WalkByCursorAsync(string url, int pageSize, long total)
    {
        var join = url.Contains('?') ? '&' : '?';
        var walked = new List<string>();
        var current = await GetJsonAsync($"{url}{join}pageSize={pageSize}");
        for (var page = 1; ; page++)
        {
            Assert.Equal(page, current.GetProperty("page").GetInt32());
            Assert.Equal(total, current.GetProperty("total").GetInt64());
            walked.AddRange(current.GetProperty("items").EnumerateArray().Select(i => i.GetRawText()));
            if (current.GetProperty("next").ValueKind == JsonValueKind.Null) return walked;
            current = await GetJsonAsync($"{url}{join}pageSize={pageSize}&after={current.GetProperty("next").GetString()}");
        }
    }
}

public sealed class ShiftedClock : TimeProvider
{
    public TimeSpan Shift { get; set; }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Shift;
}
