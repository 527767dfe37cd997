using Patch.Domain.Agents;

namespace Patch.Agent;

/// <summary>The Patch server as the agent calls it (the agent protocol): <see cref="AgentClient"/> over HTTP, or a test's own.</summary>
public interface IAgentServer
{
    Task<EnrolResult> EnrolAsync(string token, string computerName, string? domain, string agentVersion, CancellationToken ct, string? macAddress = null, string? credential = null);

    Task<InventoryResult> SendInventoryAsync(string credential, AgentInventory inventory, CancellationToken ct);

    Task<EventsResult> SendEventsAsync(string credential, IReadOnlyList<AgentEvent> events, CancellationToken ct);

    /// <summary>A new credential: <paramref name="secret"/> when the agent chose one (kept before asking), else the server's.</summary>
    Task<CredentialRotated> RotateCredentialAsync(string credential, string? secret, CancellationToken ct);

    Task<UpdatesResult> UpdatesAsync(string credential, string? state, CancellationToken ct);

    Task<AssignmentsResult> AssignmentsAsync(string credential, string? etag, CancellationToken ct);

    Task DownloadAsync(string credential, string url, string destination, IProgress<long>? progress, CancellationToken ct);

    /// <summary>The server's clock as last seen (its Date header), for dating events; null when unknown.</summary>
    DateTimeOffset? ServerNow => null;
}
