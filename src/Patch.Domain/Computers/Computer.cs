using System.Text.Json.Serialization;

namespace Patch.Domain.Computers;

/// <summary>A computer known before it has an agent: registered through the API or imported from a CSV (seed: discovered resources).</summary>
public sealed record ComputerDiscovered(string ComputerId, string Name, string? Domain, string? OperatingSystem, string? MacAddress);

public sealed record ComputerDetailsChanged(string ComputerId, string? Domain, string? OperatingSystem, string? MacAddress);

/// <summary>An administrator revoked the computer's agent credential; a new enrolment may follow.</summary>
public sealed record AgentReset(string ComputerId, string AgentId, DateTimeOffset At);

/// <summary>
/// The agent replaced its credential secret. The previous one keeps working until <c>PreviousValidUntil</c> (a short
/// grace period, so a request already in flight or an answer lost on the way does not lock the agent out).
/// </summary>
public sealed record AgentCredentialRotated(string ComputerId, string AgentId, string CredentialSha256, string PreviousCredentialSha256, DateTimeOffset PreviousValidUntil,
    DateTimeOffset At);

/// <summary>
/// An administrator revoked the computer's agent (a stolen or compromised machine): its credential stops at once, and
/// no new enrolment under this name is accepted until an administrator resets the agent.
/// </summary>
public sealed record AgentRevoked(string ComputerId, string AgentId, DateTimeOffset At);

/// <summary>An agent enrolled for this computer (one without an agent, or after <see cref="AgentReset"/>).</summary>
public sealed record AgentEnrolled(string ComputerId, string AgentId, string CredentialSha256, string AgentVersion, string EnrolmentTokenId, DateTimeOffset At);

/// <summary>The agent reported an inventory that differs from the last one.</summary>
public sealed record InventoryReported(string ComputerId, Agents.AgentInventory Inventory, DateTimeOffset At);

/// <summary>The agent resent the inventory the server already has: only the time of the report is new.</summary>
public sealed record InventoryConfirmed(string ComputerId, DateTimeOffset At);

/// <summary>What targets are evaluated on. Agent and inventory facts join with the agent issue.</summary>
public sealed record Computer(string Id, string Name, string? Domain, string? OperatingSystem, string? MacAddress, bool AgentInstalled, string? AgentVersion,
    IReadOnlyList<string> Products, IReadOnlyList<string> RequiredUpdateIds)
{
    public string? AgentId { get; init; }

    /// <summary>SHA-256 of the agent's credential secret; never the secret itself.</summary>
    public string? CredentialSha256 { get; init; }

    public DateTimeOffset? EnrolledAt { get; init; }

    /// <summary>The credential before the last rotation, accepted until <see cref="PreviousCredentialValidUntil"/>.</summary>
    public string? PreviousCredentialSha256 { get; init; }

    public DateTimeOffset? PreviousCredentialValidUntil { get; init; }

    /// <summary>The agent was revoked: no credential works and a new enrolment waits for a reset.</summary>
    public bool AgentRevoked { get; init; }

    public Agents.AgentInventory? Inventory { get; init; }

    public DateTimeOffset? LastInventoryAt { get; init; }

    public static Computer Apply(AgentEnrolled e, Computer c) => c with
    {
        AgentInstalled = true, AgentVersion = e.AgentVersion, AgentId = e.AgentId, CredentialSha256 = e.CredentialSha256, EnrolledAt = e.At,
        PreviousCredentialSha256 = null, PreviousCredentialValidUntil = null, AgentRevoked = false,
    };

    public static Computer Apply(AgentCredentialRotated e, Computer c) => c with
    {
        CredentialSha256 = e.CredentialSha256, PreviousCredentialSha256 = e.PreviousCredentialSha256, PreviousCredentialValidUntil = e.PreviousValidUntil,
    };

    public static Computer Apply(AgentRevoked e, Computer c) => c with
    {
        CredentialSha256 = null, PreviousCredentialSha256 = null, PreviousCredentialValidUntil = null, AgentRevoked = true,
    };

    public static Computer Apply(InventoryReported e, Computer c) => c with
    {
        // An inventory an operator imported for a computer without an agent names the collecting tool's version, not an agent's.
        Inventory = e.Inventory, LastInventoryAt = e.At, AgentVersion = c.AgentInstalled ? e.Inventory.AgentVersion : null, Products = Agents.InventoryFacts.ProductNames(e.Inventory),
        OperatingSystem = e.Inventory.OsCaption,
    };

    public static Computer Apply(InventoryConfirmed e, Computer c) => c with { LastInventoryAt = e.At };

    public static Computer Apply(AgentReset e, Computer c) => c with
    {
        AgentInstalled = false, AgentVersion = null, AgentId = null, CredentialSha256 = null, PreviousCredentialSha256 = null, PreviousCredentialValidUntil = null, AgentRevoked = false,
    };

    /// <summary>Whether the secret is this agent's current credential, or its previous one still inside the grace period.</summary>
    public bool AcceptsCredential(string secret, DateTimeOffset now) =>
        AcceptsCredential(AgentRevoked, CredentialSha256, PreviousCredentialSha256, PreviousCredentialValidUntil, secret, now);

    /// <summary>The same rule over the credential's fields alone (the agent's authentication reads only those).</summary>
    public static bool AcceptsCredential(bool revoked, string? currentSha256, string? previousSha256, DateTimeOffset? previousValidUntil, string secret, DateTimeOffset now) =>
        !revoked && (currentSha256 is { } current && Agents.Secrets.Matches(secret, current)
            || previousSha256 is { } previous && previousValidUntil > now && Agents.Secrets.Matches(secret, previous));

    public static string StreamId(string name) => $"computer:{name.Trim().ToLowerInvariant()}";

    public static Computer Create(ComputerDiscovered e) => new(e.ComputerId, e.Name, e.Domain, e.OperatingSystem, e.MacAddress, false, null, [], []);

    public static Computer Apply(ComputerDetailsChanged e, Computer c) => c with { Domain = e.Domain, OperatingSystem = e.OperatingSystem, MacAddress = e.MacAddress };

    /// <summary>
    /// A computer's name: 1 to 63 letters, digits, '-', '_' or '.' (surrounding spaces aside), neither starting nor ending
    /// with a dot — "." and ".." are path segments every route normalises away, so such a computer could never be reached.
    /// </summary>
    public static bool IsName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.Trim() is var n && n.Length <= 63 && n.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.')
        && n[0] != '.' && n[^1] != '.';

    public static Outcome Decide(Computer? current, string name, string? domain, string? os, string? mac)
    {
        var problems = new List<string>();
        if (!IsName(name)) problems.Add("name: 1 to 63 letters, digits, '-', '_' or '.', neither starting nor ending with '.'");
        if (mac is not null && !System.Text.RegularExpressions.Regex.IsMatch(mac.Trim(), "^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$"))
            problems.Add($"macAddress: '{mac}' is not a MAC address like 00:1A:2B:3C:4D:5E");
        if (domain?.Length > 255 || os?.Length > 255) problems.Add("domain and operatingSystem: at most 255 characters");
        if ((domain ?? "").Any(char.IsControl) || (os ?? "").Any(char.IsControl)) problems.Add("domain and operatingSystem: no control characters");
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid computer", string.Join("; ", problems));
        var normalizedMac = mac?.Trim().ToUpperInvariant().Replace('-', ':');
        if (current is null) return Outcome.Append(new ComputerDiscovered(StreamId(name), name.Trim(), domain?.Trim(), os?.Trim(), normalizedMac));
        // A known computer registered again (a CSV of names only, a discovery that knows less): what is left out is kept,
        // as the bulk inventory import keeps it — never wiped because this source did not say it.
        var (newDomain, newOs, newMac) = (domain?.Trim() ?? current.Domain, os?.Trim() ?? current.OperatingSystem, normalizedMac ?? current.MacAddress);
        return current.Domain == newDomain && current.OperatingSystem == newOs && current.MacAddress == newMac
            ? Outcome.Nothing
            : Outcome.Append(new ComputerDetailsChanged(current.Id, newDomain, newOs, newMac));
    }
}

/// <summary>
/// One status change the agent reported (the seed's statuses: Pending, Not Applicable, Download required, Retry,
/// Installation Scheduled, Installed, Installation Failed - Rescheduled, Failed to Install, Superseded, Installed by
/// user). <c>EventId</c> is the agent's own id, so a retried batch changes nothing; <c>OccurredAt</c> is the agent's
/// time, so late arrivals sort where they happened — but never after the server received the event: a clock running
/// ahead moves its batch back to the receipt, its own time kept in <c>AgentTime</c> (ADR 0013), so that the events of the corrected
/// clock still sort after it. Absent facts are left out of the stored JSON (a fleet writes millions
/// of these: ADR 0034).
/// </summary>
public sealed record AgentStatusReported(
    string ComputerId,
    Guid EventId,
    DateTimeOffset OccurredAt,
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Bulletin,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? UpdateId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? PolicyId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? LastApplied = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? AgentTime = null)
{
    /// <summary>A computer's status events: a stream beside its own, so a busy agent never makes its inventory writes conflict.</summary>
    public static string StreamId(string computerName) => $"agent-events:{computerName.Trim().ToLowerInvariant()}";
}

/// <summary>
/// A restart the install cycle needs: pending (with the time it is planned for, or none when the configuration never
/// restarts), deferred by the person at the computer (until when), or done.
/// </summary>
public sealed record AgentRestartReported(
    string ComputerId,
    Guid EventId,
    DateTimeOffset OccurredAt,
    string Kind,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? At,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? AgentTime = null)
{
    public const string Pending = "restartPending";
    public const string Deferred = "restartDeferred";
    public const string Restarted = "restarted";
}

/// <summary>A Software Update cycle started, completed, or was stopped (e.g. by a failed pre-install command), and why it ran.</summary>
public sealed record AgentCycleReported(
    string ComputerId,
    Guid EventId,
    DateTimeOffset OccurredAt,
    string Kind,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Trigger,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? AgentTime = null)
{
    public const string Started = "cycleStarted";
    public const string Completed = "cycleCompleted";
    public const string Stopped = "cycleStopped";
}
