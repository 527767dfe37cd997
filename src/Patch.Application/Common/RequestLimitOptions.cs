using Microsoft.AspNetCore.Builder;

namespace Patch.Application.Common;

/// <summary>
/// What one client may ask of the server (Patch:Limits): body sizes per route, requests a minute per agent, per user and
/// per anonymous address, and how slow or idle a connection may be before Kestrel closes it. The defaults leave an
/// administrator's scripted work (hundreds of imports or report requests a minute) and an agent's backlog well inside.
/// </summary>
public sealed class RequestLimitOptions
{
    /// <summary>Largest request body of a route without a limit of its own.</summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>An agent's inventory (its OS, KBs and every installed product).</summary>
    public long InventoryBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>An agent's batch of status events (a backlog after days away).</summary>
    public long AgentEventsBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>A CSV of discovered computers.</summary>
    public long ComputerCsvBodyBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>An operator's bulk inventory import (NDJSON, one computer per line: about a kilobyte each).</summary>
    public long InventoryImportBodyBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>Requests a minute one agent may make (a token bucket: the minute's worth may come at once); 0 = no limit.</summary>
    public int AgentRequestsPerMinute { get; set; } = 300;

    /// <summary>Requests a minute one signed-in user (console, token or OIDC) may make; 0 = no limit.</summary>
    public int UserRequestsPerMinute { get; set; } = 6000;

    /// <summary>Requests a minute from one address without a credential (enrolment, health probes are free); 0 = no limit.</summary>
    public int AnonymousRequestsPerMinute { get; set; } = 600;

    /// <summary>How long a client may take to send a request's headers (slowloris).</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a connection may sit idle between requests.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Slowest body a client may send (and read), bytes a second, after <see cref="MinDataRateGrace"/>.</summary>
    public double MinBytesPerSecond { get; set; } = 240;

    public TimeSpan MinDataRateGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Open connections at most (idle ones included); 0 = no limit.</summary>
    public long MaxConnections { get; set; } = 50_000;
}

/// <summary>A route whose body may be larger than <see cref="RequestLimitOptions.MaxBodyBytes"/>: which option sets it.</summary>
public sealed record BodyLimit(Func<RequestLimitOptions, long?> Bytes);

public static class BodyLimits
{
    /// <summary>The route's body limit: an option of <see cref="RequestLimitOptions"/>, or null for a route that enforces its own.</summary>
    public static TBuilder WithBodyLimit<TBuilder>(this TBuilder builder, Func<RequestLimitOptions, long?> bytes) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new BodyLimit(bytes));
}

