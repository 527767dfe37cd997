using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Operations;

/// <summary>
/// The real server on real Kestrel (not the in-memory test server: limits live in the transport) with tight limits:
/// 64 KB bodies, 30 requests a minute per agent, 1,200 per user, one second to send headers, 240 bytes a second after a
/// two-second grace, two seconds idle.
/// </summary>
public sealed class LimitedServer : WebApplicationFactory<Program>, IAsyncLifetime
{
    public string PackageDirectory { get; } = Path.Combine(Path.GetTempPath(), $"patch-limits-{Guid.NewGuid():N}");
    private string _connectionString = "";

    public LimitedServer() => UseKestrel(0);

    public async ValueTask InitializeAsync()
    {
        _connectionString = await TestDatabase.ConnectionStringAsync("patch_limits");
        StartServer();
    }

    protected override void ConfigureWebHost(IWebHostBuilder b)
    {
        b.UseSetting("ConnectionStrings:Patch", _connectionString);
        b.UseSetting("Patch:Staging:PackageDirectory", PackageDirectory);
        b.UseSetting("Patch:Limits:MaxBodyBytes", (64 * 1024).ToString());
        b.UseSetting("Patch:Limits:AgentRequestsPerMinute", "30");
        b.UseSetting("Patch:Limits:UserRequestsPerMinute", "1200");
        b.UseSetting("Patch:Limits:RequestHeadersTimeout", "00:00:01");
        b.UseSetting("Patch:Limits:KeepAliveTimeout", "00:00:02");
        b.UseSetting("Patch:Limits:MinDataRateGrace", "00:00:02");
    }

    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

    public HttpClient As(string user) => WithBearer(TestUsers.NewToken(Store, user, Patch.Domain.Users.Roles.Administrator, "not a hash: tokens only"));

    public HttpClient WithBearer(string? bearer)
    {
        var client = CreateClient();
        if (bearer is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    public (string Host, int Port) Address => (CreateClient().BaseAddress!.Host, CreateClient().BaseAddress!.Port);

    public async Task<string> EnrolAsync(HttpClient admin, string name)
    {
        var token = JsonDocument.Parse(await (await admin.PostAsync("/api/enrolment-tokens", Json(new { name = "limits", maxUses = 100 }))).Content.ReadAsStringAsync())
            .RootElement.GetProperty("token").GetString();
        using var anonymous = CreateClient();
        var enrolled = await anonymous.PostAsync("/agent/v1/enrol", Json(new { token, computerName = name, agentVersion = "0.1.0" }));
        return JsonDocument.Parse(await enrolled.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString()!;
    }

    public static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    public new async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (Directory.Exists(PackageDirectory)) Directory.Delete(PackageDirectory, recursive: true);
    }
}

public class when_clients_push_the_limits(LimitedServer server) : IClassFixture<LimitedServer>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task bodies_are_limited_per_route_with_a_413_naming_the_limit()
    {
        using var admin = server.As("body-admin");
        var big = new string('x', 100 * 1024);
        // Declared length over the default limit: refused before it is read.
        var declared = await admin.PostAsync("/api/maintenance-windows", new StringContent($$"""{"name":"{{big}}"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        var problem = JsonDocument.Parse(await declared.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal("Request body too large", problem.GetProperty("title").GetString());
        Assert.Contains("at most 65536", problem.GetProperty("detail").GetString());

        // No declared length (chunked): Kestrel stops reading at the limit and answers 413. The server closes the
        // connection with the rest of the body unread, and a client still sending may see a reset before the answer
        // (TCP drops what it had not read): a reset is a refusal too, so the request is tried until the answer is seen.
        HttpResponseMessage? streamed = null;
        for (var attempt = 0; attempt < 5 && streamed is null; attempt++)
        {
            var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes($$"""{"name":"{{big}}"}""")));
            chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            var request = new HttpRequestMessage(HttpMethod.Post, "/api/maintenance-windows") { Content = chunked };
            request.Headers.TransferEncodingChunked = true;
            try { streamed = await admin.SendAsync(request, Ct); }
            catch (HttpRequestException e) when (e.InnerException is IOException) { }
        }
        Assert.NotNull(streamed);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, streamed.StatusCode);
        Assert.Contains("too large", JsonDocument.Parse(await streamed.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(big, await admin.GetStringAsync("/api/maintenance-windows", Ct));

        // The computer CSV has a limit of its own (64 MB by default): a 200 KB file is read, and refused for what it says.
        var csv = "name,os\n" + string.Concat(Enumerable.Repeat("WS-1,Windows 11,extra cell\n", 8000));
        var imported = await admin.PostAsync("/api/computers/import", new StringContent(csv, Encoding.UTF8, "text/csv"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, imported.StatusCode);
        Assert.Contains("row 1: 3 cells where the header has 2", await imported.Content.ReadAsStringAsync(Ct));
        // A row longer than any computer's is refused as such, not with the CSV reader's advice to itself.
        var longRow = await admin.PostAsync("/api/computers/import", new StringContent("name,os\nWS-1," + new string('w', 100_000) + "\n", Encoding.UTF8, "text/csv"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, longRow.StatusCode);
        var refusal = await longRow.Content.ReadAsStringAsync(Ct);
        Assert.Contains("longer than 65,536 characters", refusal);
        Assert.DoesNotContain("MaxBufferSize", refusal);
    }

    [Fact]
    public async Task each_agent_and_each_user_has_its_own_request_budget()
    {
        using var admin = server.As("budget-admin");
        // An administrator's scripted work: hundreds of report requests at once are answered.
        var spent = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 600; i++)
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/reports/agent-versions", Ct)).StatusCode);

        using var first = server.WithBearer(await server.EnrolAsync(admin, "LIMIT-1"));
        using var second = server.WithBearer(await server.EnrolAsync(admin, "LIMIT-2"));
        // 30 a minute from one agent: the bucket starts full and earns a token every 2 s, so the answers until the first
        // refusal are 30 plus what the time they took earned (a loaded machine is slower, never wrong).
        var (agentOk, agentRefused, agentTime) = await UntilRefusedAsync(first, "/agent/v1/me", parallel: 1, cap: 200);
        Assert.InRange(agentOk, 30, 30 + (int)(agentTime.TotalSeconds / 2) + 1);
        Assert.NotNull(agentRefused.Headers.RetryAfter);
        Assert.Contains("At most 30 requests a minute from one agent", await agentRefused.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/agent/v1/me", Ct)).StatusCode);

        // The same administrator past 1,200 in a minute is refused (600 of them spent above; 20 tokens earned a second);
        // another one is not.
        var (userOk, userRefused, _) = await UntilRefusedAsync(admin, "/api/reports/agent-versions", parallel: 8, cap: 20_000);
        Assert.InRange(userOk, 600 - 8, 600 + (int)(spent.Elapsed.TotalSeconds * 20) + 8);
        Assert.Contains("from one user", await userRefused.Content.ReadAsStringAsync(Ct));
        using var other = server.As("other-admin");
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/api/reports/agent-versions", Ct)).StatusCode);
    }

    /// <summary>Requests (<paramref name="parallel"/> at a time) until one is refused: the answers before it, the refusal, the time taken.</summary>
    private static async Task<(int Ok, HttpResponseMessage Refused, TimeSpan Took)> UntilRefusedAsync(HttpClient client, string url, int parallel, int cap)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ok = 0;
        for (var sent = 0; sent < cap; sent += parallel)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, parallel).Select(_ => client.GetAsync(url, Ct)));
            foreach (var a in answers)
            {
                if (a.StatusCode == HttpStatusCode.OK) ok++;
                else Assert.Equal(HttpStatusCode.TooManyRequests, a.StatusCode);
            }
            if (answers.FirstOrDefault(a => a.StatusCode == HttpStatusCode.TooManyRequests) is { } refused) return (ok, refused, clock.Elapsed);
        }
        throw new Xunit.Sdk.XunitException($"{cap} requests to {url} in {clock.Elapsed.TotalSeconds:F0} s and none refused");
    }

    private async Task<Socket> ConnectAsync()
    {
        var (host, port) = server.Address;
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(host == "localhost" ? IPAddress.Loopback.ToString() : host, port, Ct);
        return socket;
    }

    /// <summary>Waits until the server closes the connection (a 0-byte read, a 408, or a reset); false if it is still open after the time.</summary>
    private static async Task<bool> ClosedWithinAsync(Socket socket, TimeSpan time)
    {
        using var timeout = new CancellationTokenSource(time);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (read == 0) return true;
            }
        }
        catch (OperationCanceledException) { return false; }
        catch (SocketException) { return true; }
    }

    [Fact]
    public async Task slow_headers_slow_bodies_and_idle_connections_are_closed()
    {
        // Slowloris: headers begun and never finished.
        using var slowHeaders = await ConnectAsync();
        await slowHeaders.SendAsync("GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Slow: "u8.ToArray(), SocketFlags.None, Ct);
        Assert.True(await ClosedWithinAsync(slowHeaders, TimeSpan.FromSeconds(6)), "a client that never finishes its headers is disconnected");

        // A body trickled at one byte a second.
        using var slowBody = await ConnectAsync();
        await slowBody.SendAsync("POST /agent/v1/enrol HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"u8.ToArray(), SocketFlags.None, Ct);
        var trickle = Task.Run(async () =>
        {
            for (var i = 0; i < 15; i++)
            {
                try { await slowBody.SendAsync("\"a\":1,"u8.ToArray()[..1], SocketFlags.None); } catch (SocketException) { return; } catch (ObjectDisposedException) { return; }
                await Task.Delay(1000);
            }
        });
        Assert.True(await ClosedWithinAsync(slowBody, TimeSpan.FromSeconds(10)), "a body slower than the minimum rate is cut off");
        await trickle;

        // Many idle connections: the server keeps answering, and closes them.
        var idle = new List<Socket>();
        for (var i = 0; i < 200; i++) idle.Add(await ConnectAsync());
        using (var client = server.CreateClient())
        {
            var started = DateTime.UtcNow;
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live", Ct)).StatusCode);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2), "answered while 200 connections sit idle");
        }
        var closed = await Task.WhenAll(idle.Select(s => ClosedWithinAsync(s, TimeSpan.FromSeconds(8))));
        Assert.All(closed, Assert.True);
        foreach (var s in idle) s.Dispose();
    }

    [Fact]
    public async Task abusive_ranges_on_a_package_never_fail_the_server_nor_return_more_than_the_file()
    {
        var content = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        Directory.CreateDirectory(Path.Combine(server.PackageDirectory, "sha256", sha[..2]));
        await File.WriteAllBytesAsync(Path.Combine(server.PackageDirectory, "sha256", sha[..2], sha), content, Ct);
        using var admin = server.As("range-admin");
        using var agent = server.WithBearer(await server.EnrolAsync(admin, "RANGE-1"));

        var ranges = new[]
        {
            "bytes=" + string.Join(",", Enumerable.Range(0, 2000).Select(i => $"{i}-{i}")), // thousands of ranges in one header
            "bytes=0-99999,0-99999,0-99999,0-99999", "bytes=999999999-", "bytes=5-2", "bytes=-0", "bytes=0-18446744073709551615",
            "bytes=-99999999999999999999", "items=0-10", "bytes=", "bytes=--1", "bytes=0-0", "bytes=99999-",
        };
        foreach (var range in ranges)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"/agent/v1/packages/{sha}");
            request.Headers.TryAddWithoutValidation("Range", range);
            var response = await agent.SendAsync(request, Ct);
            var status = (int)response.StatusCode;
            Assert.True(status is 200 or 206 or 416, $"Range {range[..Math.Min(40, range.Length)]}: HTTP {status}");
            var body = await response.Content.ReadAsByteArrayAsync(Ct);
            Assert.True(body.Length <= content.Length, $"Range {range[..Math.Min(40, range.Length)]}: {body.Length} bytes for a {content.Length}-byte file");
            if (status == 200) Assert.Equal(content, body);
        }
    }
}
