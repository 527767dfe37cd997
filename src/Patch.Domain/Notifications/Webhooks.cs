using System.Security.Cryptography;
using System.Text;

namespace Patch.Domain.Notifications;

/// <summary>What a subscription can be told (the seed's automation policies).</summary>
public static class NotificationKinds
{
    public const string ImportCompleted = "import-completed";
    public const string ImportFailed = "import-failed";
    public const string SupersededDisabled = "superseded-disabled";
    public const string TaskFailed = "task-failed";
    public const string KnownExploitedAdded = "known-exploited-added";
    public const string StagingFailed = "staging-failed";

    public static readonly IReadOnlyList<string> All = [ImportCompleted, ImportFailed, SupersededDisabled, TaskFailed, KnownExploitedAdded, StagingFailed];
}

public sealed record WebhookSubscribed(string Id, string Name, string Url, IReadOnlyList<string> Events, string ProtectedSecret, DateTimeOffset At);

public sealed record WebhookChanged(string Id, string Name, string Url, IReadOnlyList<string> Events, string? ProtectedSecret, bool Enabled, DateTimeOffset At);

public sealed record WebhookDeleted(string Id, DateTimeOffset At);

/// <summary>A webhook subscription (stream <c>webhook:{guid}</c>); its secret is kept protected (ASP.NET Core Data Protection), never in clear.</summary>
public sealed record WebhookSubscription(string Id, string Name, string Url, IReadOnlyList<string> Events, string ProtectedSecret, bool Enabled, bool Deleted,
    DateTimeOffset Created, DateTimeOffset Changed)
{
    public static WebhookSubscription Create(WebhookSubscribed e) => new(e.Id, e.Name, e.Url, e.Events, e.ProtectedSecret, true, false, e.At, e.At);

    public static WebhookSubscription Apply(WebhookChanged e, WebhookSubscription s) =>
        s with { Name = e.Name, Url = e.Url, Events = e.Events, ProtectedSecret = e.ProtectedSecret ?? s.ProtectedSecret, Enabled = e.Enabled, Changed = e.At };

    public static WebhookSubscription Apply(WebhookDeleted e, WebhookSubscription s) => s with { Deleted = true, Enabled = false, Changed = e.At };

    public bool Wants(string kind) => Enabled && !Deleted && Events.Contains(kind);

    /// <summary>Null when the subscription's fields are usable, else what is wrong.</summary>
    public static string? Problem(string? name, string? url, IReadOnlyList<string>? events)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200 || name.Any(char.IsControl)) return "name: required, at most 200 characters, no control characters.";
        if (url is { Length: > 2048 }) return "url: at most 2048 characters.";
        if (!AbsoluteUrl.TryCreate(url, out var uri, "http", "https") || !string.IsNullOrEmpty(uri!.UserInfo))
            return $"url: '{Printable(url)}' is not an absolute http or https URL without credentials.";
        if (events is null || events.Count == 0) return $"events: name at least one of {string.Join(", ", NotificationKinds.All)}.";
        var unknown = events.Where(e => !NotificationKinds.All.Contains(e)).ToList();
        return unknown.Count > 0 ? $"events: {string.Join(", ", unknown.Select(u => $"'{Printable(u)}'"))} not one of {string.Join(", ", NotificationKinds.All)}." : null;
    }

    private static string Printable(string? s) => new((s ?? "").Select(c => char.IsControl(c) ? '?' : c).Take(200).ToArray());
}

public sealed record WebhookDeliveryQueued(string Id, string SubscriptionId, string Event, string Body, DateTimeOffset At);

public sealed record WebhookDeliveryAttempted(string Id, int Attempt, int? StatusCode, string? Error, bool Delivered, DateTimeOffset? NextAttempt, DateTimeOffset At);

/// <summary>One attempt of a delivery, as the log shows it.</summary>
public sealed record WebhookAttempt(int Attempt, int? StatusCode, string? Error, bool Delivered, DateTimeOffset At);

/// <summary>One notification sent to one subscription (stream <c>webhook-delivery:{guid}</c>): its body and every attempt.</summary>
public sealed record WebhookDelivery(string Id, string SubscriptionId, string Event, string Body, DateTimeOffset Queued, string Status, IReadOnlyList<WebhookAttempt> Attempts,
    DateTimeOffset? NextAttempt)
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string GaveUp = "gave-up";

    public static WebhookDelivery Create(WebhookDeliveryQueued e) => new(e.Id, e.SubscriptionId, e.Event, e.Body, e.At, Pending, [], e.At);

    public static WebhookDelivery Apply(WebhookDeliveryAttempted e, WebhookDelivery d) => d with
    {
        Attempts = [.. d.Attempts, new WebhookAttempt(e.Attempt, e.StatusCode, e.Error, e.Delivered, e.At)],
        Status = e.Delivered ? Delivered : e.NextAttempt is null ? GaveUp : Pending,
        NextAttempt = e.NextAttempt,
    };
}

public static class WebhookSignature
{
    public const string Header = "X-Patch-Signature-256";

    /// <summary>"sha256=" and the lower-case hex HMAC-SHA256 of the body with the subscription's secret (as GitHub signs its webhooks).</summary>
    public static string Sign(string secret, byte[] body) => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>The wait before attempt <paramref name="next"/> (2, 3, …): the base delay doubled each time, at most a day.</summary>
    public static TimeSpan Backoff(TimeSpan first, int next) =>
        TimeSpan.FromTicks(Math.Min(TimeSpan.FromDays(1).Ticks, first.Ticks * (1L << Math.Min(30, next - 2))));
}
