using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Patch.Application.Common;
using Patch.Application.Security;

namespace Patch.Api.Hosting;

public static class RequestLimits
{
    public static WebApplicationBuilder AddRequestLimits(this WebApplicationBuilder builder)
    {
        var limits = builder.Configuration.GetSection("Patch:Limits").Get<RequestLimitOptions>() ?? new RequestLimitOptions();
        var problems = new List<string>();
        if (limits.MaxBodyBytes <= 0 || limits.InventoryBodyBytes <= 0 || limits.AgentEventsBodyBytes <= 0 || limits.ComputerCsvBodyBytes <= 0)
            problems.Add("the *BodyBytes limits must be positive");
        if (limits.AgentRequestsPerMinute < 0 || limits.UserRequestsPerMinute < 0 || limits.AnonymousRequestsPerMinute < 0) problems.Add("requests a minute must be 0 (no limit) or more");
        if (limits.RequestHeadersTimeout <= TimeSpan.Zero || limits.KeepAliveTimeout <= TimeSpan.Zero) problems.Add("RequestHeadersTimeout and KeepAliveTimeout must be positive");
        if (limits.MinBytesPerSecond < 0) problems.Add("MinBytesPerSecond must be 0 (no minimum) or more");
        if (limits.MinDataRateGrace <= TimeSpan.FromSeconds(1)) problems.Add("MinDataRateGrace must be more than one second (Kestrel checks rates each second)");
        if (problems.Count > 0) throw new InvalidOperationException($"Invalid configuration: Patch:Limits: {string.Join("; ", problems)}.");
        builder.Services.AddSingleton(limits);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = limits.MaxBodyBytes;
            k.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
            k.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
            k.Limits.MinRequestBodyDataRate = limits.MinBytesPerSecond > 0 ? new MinDataRate(limits.MinBytesPerSecond, limits.MinDataRateGrace) : null;
            k.Limits.MinResponseDataRate = limits.MinBytesPerSecond > 0 ? new MinDataRate(limits.MinBytesPerSecond, limits.MinDataRateGrace) : null;
            k.Limits.MaxConcurrentConnections = limits.MaxConnections > 0 ? limits.MaxConnections : null;
        });
        return builder;
    }

    /// <summary>The per-client limiter: agents by computer, people by user name, others by address.</summary>
    public static void AddClientLimiter(RateLimiterOptions o, RequestLimitOptions limits) =>
        o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
        {
            if (http.Request.Path.StartsWithSegments("/health") || http.GetEndpoint() is null) return RateLimitPartition.GetNoLimiter("free");
            var (key, perMinute, who) = http.User.FindFirst(PatchAuth.Claims.Kind)?.Value == "agent"
                ? ("agent:" + http.User.FindFirst(PatchAuth.Claims.ComputerId)?.Value, limits.AgentRequestsPerMinute, "one agent")
                : http.User.Identity?.IsAuthenticated == true
                    ? ("user:" + http.User.FindFirst(PatchAuth.Claims.UserName)?.Value, limits.UserRequestsPerMinute, "one user")
                    : ("address:" + http.Connection.RemoteIpAddress, limits.AnonymousRequestsPerMinute, "one address without a credential");
            if (perMinute <= 0) return RateLimitPartition.GetNoLimiter("unlimited");
            SecurityServices.MarkRateLimit(http, "Too many requests", $"At most {perMinute} requests a minute from {who}; try again in a few seconds.");
            // Refilled at the minute's rate: each second (or less often for fewer than 60 a minute) the tokens that time earns.
            var period = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(60.0 / perMinute)));
            return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = perMinute, TokensPerPeriod = Math.Max(1, (int)Math.Round(perMinute * period.TotalMinutes)), ReplenishmentPeriod = period,
                QueueLimit = 0, AutoReplenishment = true,
            });
        });

    /// <summary>
    /// Sets the body limit of the route (its own, else the default) before anything reads the body, and refuses at once
    /// a body whose declared length is over it.
    /// </summary>
    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var limits = http.RequestServices.GetRequiredService<RequestLimitOptions>();
        var limit = http.GetEndpoint()?.Metadata.GetMetadata<BodyLimit>() is { } own ? own.Bytes(limits) : limits.MaxBodyBytes;
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature) feature.MaxRequestBodySize = limit;
        if (limit is { } max && http.Request.ContentLength > max)
        {
            await Results.Problem(title: "Request body too large",
                detail: $"The body has {http.Request.ContentLength} bytes; this operation takes at most {max} (Patch:Limits).",
                statusCode: StatusCodes.Status413PayloadTooLarge).ExecuteAsync(http);
            return;
        }
        await next(http);
    }
}
