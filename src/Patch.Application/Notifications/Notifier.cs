using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain.Notifications;
using Wolverine;

namespace Patch.Application.Notifications;

/// <summary>Sends one attempt of a delivery; a failed attempt schedules the next (durable: it survives a restart).</summary>
public sealed record DeliverWebhook(string DeliveryId, int Attempt);

/// <summary>
/// Notifications to webhook subscriptions (the seed's automation policies): each subscription that wants the event gets a
/// delivery of its own — a stream with the body and every attempt — sent by a durable message, retried with backoff
/// (Patch:Webhooks:RetryDelay doubled each time, Patch:Webhooks:MaxAttempts in all).
/// </summary>
public sealed class Notifier(IDocumentStore store, IServiceScopeFactory scopes, TimeProvider time, ILogger<Notifier> logger)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>A "ping" to one subscription (whatever events it wants): tests the URL and the secret.</summary>
    public async Task<string> PingAsync(WebhookSubscription subscription, CancellationToken ct)
    {
        var id = $"webhook-delivery:{Guid.NewGuid():N}";
        var at = time.GetUtcNow();
        var body = JsonSerializer.Serialize(new { id, @event = "ping", at, subscription = subscription.Id, data = new { } }, Json);
        await QueueAsync([(id, new WebhookDeliveryQueued(id, subscription.Id, "ping", body, at))], ct);
        return id;
    }

    /// <summary>
    /// Records the deliveries and their first attempts' messages in one transaction (Wolverine's outbox on the Marten
    /// session): a delivery is never recorded without the message that sends it — a crash or a failure in between left
    /// one pending for good.
    /// </summary>
    private async Task QueueAsync(IReadOnlyList<(string Id, WebhookDeliveryQueued Queued)> deliveries, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var outbox = scope.ServiceProvider.GetRequiredService<Wolverine.Marten.IMartenOutbox>();
        await using var session = store.OpenSession(Actor.ServerTask("notifications"));
        outbox.Enroll(session);
        foreach (var (id, queued) in deliveries)
        {
            session.Events.StartStream<WebhookDelivery>(id, queued);
            await outbox.PublishAsync(new DeliverWebhook(id, 1));
        }
        await session.SaveChangesAsync(ct);
    }

    /// <summary>Queues the event for every subscription that wants it; never fails its caller (a notification is not the work).</summary>
    public async Task PublishAsync(string kind, object data, CancellationToken ct = default)
    {
        try
        {
            await using var query = store.QuerySession();
            var subscriptions = (await query.Query<WebhookSubscription>().Where(s => s.Enabled && !s.Deleted).ToListAsync(ct)).Where(s => s.Wants(kind)).ToList();
            if (subscriptions.Count == 0) return;
            var at = time.GetUtcNow();
            await QueueAsync(subscriptions.Select(subscription =>
            {
                var id = $"webhook-delivery:{Guid.NewGuid():N}";
                var body = JsonSerializer.Serialize(new { id, @event = kind, at, subscription = subscription.Id, data }, Json);
                return (id, new WebhookDeliveryQueued(id, subscription.Id, kind, body, at));
            }).ToList(), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Notification {Kind} could not be queued", kind);
        }
    }
}

public static class DeliverWebhookHandler
{
    /// <summary>How late a recorded retry may be before it is taken as never scheduled.</summary>
    private static readonly TimeSpan RetryGrace = TimeSpan.FromMinutes(1);

    public static async Task Handle(DeliverWebhook command, IDocumentStore store, IHttpClientFactory http, IDataProtectionProvider protection, IConfiguration config,
        IMessageBus bus, TimeProvider time, ILogger<Notifier> logger, CancellationToken ct)
    {
        await using var query = store.QuerySession();
        var delivery = await query.LoadAsync<WebhookDelivery>(command.DeliveryId, ct);
        if (delivery is null || delivery.Status != WebhookDelivery.Pending) return;
        if (delivery.Attempts.Any(a => a.Attempt >= command.Attempt))
        {
            // This attempt was made (the message came again: the process stopped after recording it), and its retry may never
            // have been scheduled. A retry a minute overdue was not: it is made now. One not yet due may still come: this is
            // asked again a minute after it is due (scheduling it now could make it twice, at once).
            if (delivery.Attempts[^1].Attempt == command.Attempt && delivery.NextAttempt is { } next)
            {
                var late = time.GetUtcNow() - next;
                if (late > RetryGrace) await bus.PublishAsync(new DeliverWebhook(delivery.Id, command.Attempt + 1));
                else await bus.ScheduleAsync(command, RetryGrace - late);
            }
            return;
        }
        var subscription = await query.LoadAsync<WebhookSubscription>(delivery.SubscriptionId, ct);
        var maxAttempts = Math.Max(1, config.GetValue("Patch:Webhooks:MaxAttempts", 8));
        var firstDelay = config.GetValue("Patch:Webhooks:RetryDelay", TimeSpan.FromSeconds(30));
        int? status = null;
        string? error = null;
        if (subscription is null || subscription.Deleted) error = "the subscription was deleted";
        else if (!subscription.Enabled) error = "the subscription is disabled";
        else
        {
            try
            {
                var body = Encoding.UTF8.GetBytes(delivery.Body);
                var secret = protection.CreateProtector(WebhookSecrets.Purpose).Unprotect(subscription.ProtectedSecret);
                using var request = new HttpRequestMessage(HttpMethod.Post, subscription.Url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Add("X-Patch-Event", delivery.Event);
                request.Headers.Add("X-Patch-Delivery", delivery.Id);
                request.Headers.Add(WebhookSignature.Header, WebhookSignature.Sign(secret, body));
                using var client = http.CreateClient("webhooks");
                using var response = await client.SendAsync(request, ct);
                status = (int)response.StatusCode;
                if (!response.IsSuccessStatusCode) error = $"answered {status} {response.ReasonPhrase}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Security.Cryptography.CryptographicException && !ct.IsCancellationRequested)
            {
                error = e.Message;
            }
        }
        var delivered = error is null;
        PatchTelemetry.WebhookAttempts.Add(1, new KeyValuePair<string, object?>("outcome", delivered ? "delivered" : "failed"));
        var retry = !delivered && subscription is { Enabled: true, Deleted: false } && command.Attempt < maxAttempts;
        var now = time.GetUtcNow();
        var wait = WebhookSignature.Backoff(firstDelay, command.Attempt + 1);
        await using (var session = store.OpenSession(Actor.ServerTask("notifications"), delivery.Id))
        {
            session.Events.Append(delivery.Id, new WebhookDeliveryAttempted(delivery.Id, command.Attempt, status, error is null ? null : ServerTaskRecorder.Printable(error),
                delivered, retry ? now + wait : null, now));
            await session.SaveChangesAsync(ct);
        }
        if (retry) await bus.ScheduleAsync(new DeliverWebhook(delivery.Id, command.Attempt + 1), wait);
        else if (!delivered) logger.LogWarning("Webhook delivery {Id} gave up after {Attempts} attempts: {Error}", delivery.Id, command.Attempt, error);
    }
}

public static class WebhookSecrets
{
    public const string Purpose = "Patch.Webhooks.Secret.v1";
}
