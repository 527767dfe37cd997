using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Notifications;

namespace Patch.Application.Notifications;

/// <summary>POST/PUT body: the secret is optional (a new one is made and shown once); at least 16 characters when given.</summary>
public sealed record WebhookInput(string? Name, string? Url, IReadOnlyList<string>? Events, string? Secret, bool? Enabled);

/// <summary>A subscription as the API shows it: never its secret.</summary>
public sealed record WebhookView(string Id, string Name, string Url, IReadOnlyList<string> Events, bool Enabled, DateTimeOffset Created, DateTimeOffset Changed)
{
    public static WebhookView Of(WebhookSubscription s) => new(s.Id, s.Name, s.Url, s.Events, s.Enabled, s.Created, s.Changed);
}

/// <summary>The answer to a new subscription (or a new secret): the secret, shown this once.</summary>
public sealed record WebhookCreated(WebhookView Webhook, string Secret);

public sealed record WebhookDeliveryPage(IReadOnlyList<WebhookDelivery> Items, int Total, int Page, int PageSize);

/// <summary>Webhook subscriptions and their delivery logs (administrators).</summary>
public static class WebhookEndpoints
{
    public static void MapWebhooks(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/webhooks").WithTags("Notifications");

        group.MapGet("", async (IQuerySession session, CancellationToken ct) =>
                Results.Ok((await session.Query<WebhookSubscription>().Where(s => !s.Deleted).OrderBy(s => s.Name).ToListAsync(ct)).Select(WebhookView.Of)))
            .ForAdministrator().WithName("ListWebhooks").WithSummary("Webhook subscriptions (never their secrets).").Produces<IReadOnlyList<WebhookView>>();

        group.MapPost("", async (WebhookInput input, HttpContext http, IDocumentStore store, IDataProtectionProvider protection, IConfiguration config, TimeProvider time, CancellationToken ct) =>
            {
                if ((WebhookSubscription.Problem(input.Name, input.Url, input.Events) ?? WebhookAddresses.Problem(input.Url!, WebhookAddresses.Allowed(config))
                        ?? SecretProblem(input.Secret)) is { } problem)
                    return Problems.Invalid("Invalid webhook", problem);
                var secret = input.Secret ?? Domain.Agents.Secrets.New();
                var id = $"webhook:{Guid.NewGuid():N}";
                await using var session = store.OpenSession(Actor.From(http));
                var subscribed = new WebhookSubscribed(id, input.Name!.Trim(), input.Url!, input.Events!.Distinct().ToList(),
                    protection.CreateProtector(WebhookSecrets.Purpose).Protect(secret), time.GetUtcNow());
                // Subscribed paused (enabled: false): it exists, and is told nothing until enabled.
                session.Events.StartStream<WebhookSubscription>(id, input.Enabled == false
                    ? [subscribed, new WebhookChanged(id, subscribed.Name, subscribed.Url, subscribed.Events, null, false, subscribed.At)]
                    : [subscribed]);
                await session.SaveChangesAsync(ct);
                ConditionalRequests.Tag(http, 0, input.Enabled == false ? 2 : 1);
                var created = await session.LoadAsync<WebhookSubscription>(id, ct);
                return Results.Created($"/api/webhooks/{id}", new WebhookCreated(WebhookView.Of(created!), secret));
            })
            .ForAdministrator().WithName("CreateWebhook")
            .WithSummary($"Subscribe a URL to events: import-completed, import-failed, superseded-disabled, task-failed, known-exploited-added, staging-failed. Each POST is signed: header {WebhookSignature.Header}: sha256=HMAC-SHA256(secret, body). The secret (made when not given) is answered once. A URL inside this server's network (loopback, private, link-local, localhost) is refused, and a host name resolving there is not connected to, unless {WebhookAddresses.AllowSetting} is true.")
            .Produces<WebhookCreated>(StatusCodes.Status201Created).ProducesProblem(400);

        group.MapGet("{id}", (string id, HttpContext http, IQuerySession session, CancellationToken ct) =>
                ConditionalRequests.ReadAsync(http, session, id, async () => await session.LoadAsync<WebhookSubscription>(id, ct) is { Deleted: false } s ? s : null,
                    s => Results.Ok(WebhookView.Of(s)), () => Problems.NotFound($"No webhook '{Printable(id)}'.")))
            .ForAdministrator().EvaluatesPreconditions().WithName("GetWebhook").WithSummary("One subscription.").Produces<WebhookView>().ProducesProblem(404);

        group.MapPut("{id}", async (string id, WebhookInput input, HttpContext http, IDocumentStore store, IDataProtectionProvider protection, IConfiguration config, TimeProvider time, CancellationToken ct) =>
            {
                if ((WebhookSubscription.Problem(input.Name, input.Url, input.Events) ?? WebhookAddresses.Problem(input.Url!, WebhookAddresses.Allowed(config))
                        ?? SecretProblem(input.Secret)) is { } problem)
                    return Problems.Invalid("Invalid webhook", problem);
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<WebhookSubscription>(id, ct);
                if (stream.Aggregate is not { Deleted: false }) return Problems.NotFound($"No webhook '{Printable(id)}'.");
                var version = stream.CurrentVersion ?? 0;
                if (ConditionalRequests.IfMatchFails(http.Request, version) is { } failed) return failed;
                var protectedSecret = input.Secret is null ? null : protection.CreateProtector(WebhookSecrets.Purpose).Protect(input.Secret);
                stream.AppendOne(new WebhookChanged(id, input.Name!.Trim(), input.Url!, input.Events!.Distinct().ToList(), protectedSecret,
                    input.Enabled ?? stream.Aggregate.Enabled, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                ConditionalRequests.Tag(http, version, 1);
                return Results.Ok(WebhookView.Of((await session.LoadAsync<WebhookSubscription>(id, ct))!));
            })
            .ForAdministrator().EvaluatesIfMatch().WithName("ChangeWebhook").WithSummary("Change a subscription (a secret given replaces the old one; enabled=false pauses it, true resumes it, left out keeps it).")
            .Produces<WebhookView>().ProducesProblem(400).ProducesProblem(404);

        group.MapDelete("{id}", async (string id, HttpContext http, IDocumentStore store, TimeProvider time, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<WebhookSubscription>(id, ct);
                if (stream.Aggregate is not { Deleted: false }) return Problems.NotFound($"No webhook '{Printable(id)}'.");
                if (ConditionalRequests.IfMatchFails(http.Request, stream.CurrentVersion ?? 0) is { } failed) return failed;
                stream.AppendOne(new WebhookDeleted(id, time.GetUtcNow()));
                await session.SaveChangesAsync(ct);
                return Results.NoContent();
            })
            .ForAdministrator().EvaluatesIfMatch().WithName("DeleteWebhook").WithSummary("Delete a subscription (its deliveries stop; their log is kept).").Produces(204).ProducesProblem(404);

        group.MapGet("{id}/deliveries", async (string id, int? page, int? pageSize, IQuerySession session, CancellationToken ct) =>
            {
                var p = page ?? 1;
                var size = pageSize ?? 50;
                if (p is < 1 or > Compliance.ReportQuery.MaxPage || size is < 1 or > 500)
                    return Problems.Invalid("Invalid query", $"page must be from 1 to {Compliance.ReportQuery.MaxPage} and pageSize from 1 to 500.");
                if (await session.LoadAsync<WebhookSubscription>(id, ct) is null) return Problems.NotFound($"No webhook '{Printable(id)}'.");
                var query = session.Query<WebhookDelivery>().Where(d => d.SubscriptionId == id);
                var total = await query.CountAsync(ct);
                var items = await query.OrderByDescending(d => d.Queued).Skip((p - 1) * size).Take(size).ToListAsync(ct);
                return Results.Ok(new WebhookDeliveryPage(items, total, p, size));
            })
            .ForAdministrator().WithName("ListWebhookDeliveries")
            .WithSummary("The delivery log of a subscription, newest first: each notification's body, status (pending, delivered, gave-up) and every attempt with its answer.")
            .Produces<WebhookDeliveryPage>().ProducesProblem(400).ProducesProblem(404);

        group.MapPost("{id}/ping", async (string id, IQuerySession session, Notifier notifier, CancellationToken ct) =>
            {
                if (await session.LoadAsync<WebhookSubscription>(id, ct) is not { Deleted: false } s) return Problems.NotFound($"No webhook '{Printable(id)}'.");
                var deliveryId = await notifier.PingAsync(s, ct);
                return Results.Accepted($"/api/webhooks/{id}/deliveries", new { deliveryId });
            })
            .ForAdministrator().WithName("PingWebhook").WithSummary("Send a 'ping' notification to this subscription now (its delivery is in the log).")
            .Produces(StatusCodes.Status202Accepted).ProducesProblem(404);
    }

    private static string? SecretProblem(string? secret) =>
        secret is not null && (secret.Length < 16 || secret.Length > 256 || secret.Any(char.IsControl)) ? "secret: 16 to 256 characters, no control characters (or leave it out to get one)." : null;

    private static string Printable(string s) => Domain.Users.UserDecisions.Printable(s);
}
