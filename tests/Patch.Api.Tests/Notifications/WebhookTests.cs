using Marten;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Notifications;

public class when_webhooks_are_notified(AppFixture app) : AppTest(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Received(string Event, string Delivery, string Signature, byte[] Body);

    private static Task<WebApplication> ReceiverAsync(int port, Func<Received, int> answer) => Loopback.StartAsync(async http =>
    {
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer);
        http.Response.StatusCode = answer(new Received(http.Request.Headers["X-Patch-Event"].ToString(), http.Request.Headers["X-Patch-Delivery"].ToString(),
            http.Request.Headers["X-Patch-Signature-256"].ToString(), buffer.ToArray()));
    }, port);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task<JsonElement> DeliveriesAsync(string webhookId, Func<JsonElement, bool> until)
    {
        for (var i = 0; ; i++)
        {
            var page = await GetJsonAsync($"/api/webhooks/{webhookId}/deliveries");
            if (until(page) || i == 300) return page;
            await Task.Delay(200, Ct);
        }
    }

    [Fact]
    public async Task an_import_is_posted_signed_with_the_secret_and_a_refusing_receiver_is_retried_until_it_takes_it()
    {
        var received = new ConcurrentQueue<Received>();
        var refusals = 2;
        var port = FreePort();
        await using var receiver = await ReceiverAsync(port, r => { received.Enqueue(r); return Interlocked.Decrement(ref refusals) >= 0 ? 503 : 204; });
        const string secret = "a shared secret of the receiver";
        var (status, created) = await SendAsync(HttpMethod.Post, "/api/webhooks",
            new { name = "SOC", url = $"http://127.0.0.1:{port}/hooks/patch", events = new[] { "import-completed", "import-failed" }, secret });
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(secret, created.GetProperty("secret").GetString());
        var id = created.GetProperty("webhook").GetProperty("id").GetString()!;

        await App.ImportAsync("patch", await File.ReadAllBytesAsync(SharedData.RepoFile("demo/patch-demo-catalog.json"), Ct));
        var log = await DeliveriesAsync(id, p => p.GetProperty("items").EnumerateArray().Any(d => d.GetProperty("status").GetString() == "delivered"));
        var delivery = Assert.Single(log.GetProperty("items").EnumerateArray());
        Assert.Equal("delivered", delivery.GetProperty("status").GetString());
        Assert.Equal("import-completed", delivery.GetProperty("event").GetString());
        var attempts = delivery.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal(3, attempts.Count);
        Assert.Equal(503, attempts[0].GetProperty("statusCode").GetInt32());
        Assert.True(attempts[2].GetProperty("delivered").GetBoolean());

        var last = received.Last();
        Assert.Equal("import-completed", last.Event);
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), last.Body));
        Assert.Equal(expected, last.Signature);
        var body = JsonDocument.Parse(last.Body).RootElement;
        Assert.Equal("import-completed", body.GetProperty("event").GetString());
        Assert.True(body.GetProperty("data").GetProperty("bulletinsAdded").GetInt32() > 0);

        // The secret is kept protected: nowhere in the events or documents in clear.
        await using var cmd = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>()
            .CreateCommand("select (select count(*) from patch.mt_events where data::text like '%' || @s || '%') + (select count(*) from patch.mt_doc_webhook_subscription where data::text like '%' || @s || '%')");
        cmd.Parameters.AddWithValue("s", secret);
        Assert.Equal(0L, (long)(await cmd.ExecuteScalarAsync(Ct))!);
        Assert.False((await GetJsonAsync($"/api/webhooks/{id}")).TryGetProperty("secret", out _));
    }

    [Fact]
    public async Task a_receiver_that_is_down_gets_the_notification_when_it_comes_back()
    {
        var port = FreePort();
        var (_, created) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "Down for a while", url = $"http://127.0.0.1:{port}/", events = new[] { "import-failed" } });
        var id = created.GetProperty("webhook").GetProperty("id").GetString()!;
        var secret = created.GetProperty("secret").GetString()!;
        Assert.True(secret.Length >= 16);

        await App.ImportAsync("cvrf", "<cvrfdoc"u8.ToArray(), HttpStatusCodeExpectation.Any);
        await DeliveriesAsync(id, p => p.GetProperty("items").EnumerateArray().Any(d => d.GetProperty("attempts").GetArrayLength() >= 2));
        var received = new ConcurrentQueue<Received>();
        await using var receiver = await ReceiverAsync(port, r => { received.Enqueue(r); return 200; });
        var log = await DeliveriesAsync(id, p => p.GetProperty("items").EnumerateArray().Any(d => d.GetProperty("status").GetString() == "delivered"));
        var delivery = Assert.Single(log.GetProperty("items").EnumerateArray());
        Assert.Equal("delivered", delivery.GetProperty("status").GetString());
        var attempts = delivery.GetProperty("attempts").EnumerateArray().ToList();
        Assert.True(attempts.Count >= 3);
        Assert.All(attempts.SkipLast(1), a => Assert.False(a.GetProperty("delivered").GetBoolean()));
        Assert.Equal("import-failed", Assert.Single(received).Event);
        Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), received.Single().Body)), received.Single().Signature);
    }

    /// <summary>
    /// The process stopped after an attempt was recorded and before its retry was scheduled: the attempt's message comes
    /// again (the inbox is durable) and, the retry being overdue, makes it, rather than leaving the delivery pending.
    /// </summary>
    [Fact]
    public async Task a_retry_recorded_but_never_scheduled_is_made_when_the_attempt_comes_again()
    {
        var port = FreePort();
        var received = new ConcurrentQueue<Received>();
        await using var receiver = await ReceiverAsync(port, r => { received.Enqueue(r); return 204; });
        var (_, created) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "After a crash", url = $"http://127.0.0.1:{port}/", events = new[] { "task-failed" } });
        var subscription = created.GetProperty("webhook").GetProperty("id").GetString()!;
        var delivery = $"webhook-delivery:{Guid.NewGuid():N}";
        var now = DateTimeOffset.UtcNow;
        await using (var session = App.Store.LightweightSession())
        {
            session.Events.StartStream<Patch.Domain.Notifications.WebhookDelivery>(delivery,
                new Patch.Domain.Notifications.WebhookDeliveryQueued(delivery, subscription, "task-failed", """{"event":"task-failed"}""", now),
                new Patch.Domain.Notifications.WebhookDeliveryAttempted(delivery, 1, 503, "answered 503 Service Unavailable", false, now.AddMinutes(-2), now.AddMinutes(-3)));
            await session.SaveChangesAsync(Ct);
        }

        await using (var scope = App.Host.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<Wolverine.IMessageBus>().InvokeAsync(new Patch.Application.Notifications.DeliverWebhook(delivery, 1), Ct);
        var log = await DeliveriesAsync(subscription, p => p.GetProperty("items").EnumerateArray().Any(d => d.GetProperty("status").GetString() == "delivered"));
        var attempts = Assert.Single(log.GetProperty("items").EnumerateArray()).GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal([1, 2], attempts.Select(a => a.GetProperty("attempt").GetInt32()));
        Assert.Single(received);
    }

    /// <summary>
    /// A delivery and the message that makes its first attempt are one transaction: when the message cannot be queued
    /// (here the bus cannot be had at all), no delivery is left pending that nothing would ever send.
    /// </summary>
    [Fact]
    public async Task a_delivery_is_never_recorded_without_the_message_that_sends_it()
    {
        var (_, created) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "Queue down", url = "http://127.0.0.1:9/", events = new[] { "task-failed" } });
        var subscription = created.GetProperty("webhook").GetProperty("id").GetString()!;
        var broken = new ServiceCollection()
            .AddScoped<Wolverine.IMessageBus>(_ => throw new InvalidOperationException("the queue is down"))
            .AddScoped<Wolverine.Marten.IMartenOutbox>(_ => throw new InvalidOperationException("the queue is down"))
            .BuildServiceProvider().GetRequiredService<IServiceScopeFactory>();
        await new Patch.Application.Notifications.Notifier(App.Store, broken, App.Clock, Microsoft.Extensions.Logging.Abstractions.NullLogger<Patch.Application.Notifications.Notifier>.Instance)
            .PublishAsync("task-failed", new { task = "test" }, Ct);
        await using var query = App.Store.QuerySession();
        Assert.Empty(await query.Query<Patch.Domain.Notifications.WebhookDelivery>().Where(d => d.SubscriptionId == subscription).ToListAsync(Ct));
    }

    [Fact]
    public async Task a_bad_subscription_is_refused_naming_the_field()
    {
        var (status, problem) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "x", url = "ftp://example.com/", events = new[] { "import-completed" } });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("url:", problem.GetProperty("detail").GetString());
        (status, problem) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "x", url = "https://example.com/", events = new[] { "lunch-is-ready" } });
        Assert.Contains("'lunch-is-ready'", problem.GetProperty("detail").GetString());
        (status, problem) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "x", url = "https://example.com/", events = new[] { "task-failed" }, secret = "short" });
        Assert.Contains("secret:", problem.GetProperty("detail").GetString());
        (status, _) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "x\u0000y", url = "https://example.com/", events = new[] { "task-failed" } });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        // Subscribed paused: it exists, disabled; a change that does not say keeps it paused.
        var (created, paused) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "Later", url = "https://example.com/", events = new[] { "task-failed" }, enabled = false });
        Assert.Equal(HttpStatusCode.Created, created);
        var pausedId = paused.GetProperty("webhook").GetProperty("id").GetString()!;
        Assert.False(paused.GetProperty("webhook").GetProperty("enabled").GetBoolean());
        var (_, changed) = await SendAsync(HttpMethod.Put, $"/api/webhooks/{pausedId}", new { name = "Later", url = "https://example.com/hook", events = new[] { "task-failed" } });
        Assert.False(changed.GetProperty("enabled").GetBoolean());
        using var op = App.Client("op", Patch.Domain.Users.Roles.Operator);
        Assert.Equal(HttpStatusCode.Forbidden, (await op.GetAsync("/api/webhooks", Ct)).StatusCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task a_bulletin_that_becomes_known_exploited_is_told_whichever_list_came_first(bool kevFirst)
    {
        var received = new ConcurrentQueue<Received>();
        var port = FreePort();
        await using var receiver = await ReceiverAsync(port, r => { received.Enqueue(r); return 200; });
        var (_, created) = await SendAsync(HttpMethod.Post, "/api/webhooks", new { name = "KEV", url = $"http://127.0.0.1:{port}/", events = new[] { "known-exploited-added" } });
        var id = created.GetProperty("webhook").GetProperty("id").GetString()!;
        var kev = await File.ReadAllBytesAsync(SharedData.RepoFile("demo/kev-demo.json"), Ct);
        var catalog = await File.ReadAllBytesAsync(SharedData.RepoFile("demo/patch-demo-catalog.json"), Ct);
        if (kevFirst) { await App.ImportAsync("kev", kev); await App.ImportAsync("patch", catalog); }
        else { await App.ImportAsync("patch", catalog); await App.ImportAsync("kev", kev); }

        var log = await DeliveriesAsync(id, p => p.GetProperty("items").EnumerateArray().Any(d => d.GetProperty("status").GetString() == "delivered"));
        var delivery = Assert.Single(log.GetProperty("items").EnumerateArray());
        var body = JsonDocument.Parse(delivery.GetProperty("body").GetString()!).RootElement;
        var bulletins = body.GetProperty("data").GetProperty("bulletins").EnumerateArray().Select(b => b.GetString()).ToList();
        Assert.Contains("microsoft:KB5034763", bulletins);
        Assert.Contains("microsoft:KB5022282", bulletins);
        Assert.Contains("CVE-2024-21412", body.GetProperty("data").GetProperty("cves").EnumerateArray().Select(c => c.GetString()));
    }
}
