using Patch.Domain.Agents;

namespace Patch.Domain.Hierarchy;

public sealed record ChildRegistrationTokenCreated(string TokenId, string Name, string SecretSha256, DateTimeOffset ExpiresAt, DateTimeOffset At);

public sealed record ChildRegistrationTokenUsed(string TokenId, string ChildId, DateTimeOffset At);

public sealed record ChildRegistrationTokenRevoked(string TokenId, DateTimeOffset At);

/// <summary>A parent administrator's registration token: one child server presents it once, before it expires, to get its own credential.</summary>
public sealed record ChildRegistrationToken(string Id, string Name, string SecretSha256, DateTimeOffset ExpiresAt, string? UsedBy, bool Revoked)
{
    public static string StreamId(Guid id) => $"child-token:{id:N}";

    public static ChildRegistrationToken Create(ChildRegistrationTokenCreated e) => new(e.TokenId, e.Name, e.SecretSha256, e.ExpiresAt, null, false);

    public static ChildRegistrationToken Apply(ChildRegistrationTokenUsed e, ChildRegistrationToken t) => t with { UsedBy = e.ChildId };

    public static ChildRegistrationToken Apply(ChildRegistrationTokenRevoked e, ChildRegistrationToken t) => t with { Revoked = true };

    public static Outcome DecideCreate(string tokenId, string? name, DateTimeOffset expiresAt, string secretSha256, DateTimeOffset now)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(name) || name.Length > 128 || name.Any(char.IsControl)) problems.Add("name: 1 to 128 characters, none a control character");
        if (expiresAt <= now) problems.Add("expiresAt: must be in the future");
        if (expiresAt > now.AddDays(30)) problems.Add("expiresAt: at most 30 days ahead");
        return problems.Count > 0
            ? Outcome.Refuse(RejectionKind.Invalid, "Invalid registration token", string.Join("; ", problems))
            : Outcome.Append(new ChildRegistrationTokenCreated(tokenId, name!.Trim(), secretSha256, expiresAt, now));
    }

    /// <summary>Why this token cannot register a child now, or null when it can (single use; compared in constant time).</summary>
    public string? RefusalFor(string secret, DateTimeOffset now)
    {
        if (!Secrets.Matches(secret, SecretSha256)) return "the registration token is not valid";
        if (Revoked) return "the registration token was revoked";
        if (now >= ExpiresAt) return $"the registration token expired at {ExpiresAt:O}";
        if (UsedBy is not null) return "the registration token was already used";
        return null;
    }
}

public sealed record ChildServerRegistered(string ChildId, string Name, string? Url, IReadOnlyList<string> Cultures, string CredentialSha256, string TokenId, DateTimeOffset At);

/// <summary>What a child said at the start or the end of a replication run: its cultures, its checkpoint, how its last run ended.</summary>
public sealed record ChildServerReported(string ChildId, IReadOnlyList<string> Cultures, long Checkpoint, string? LastRun, DateTimeOffset At);

/// <summary>"Patch Management Language Alerting": the child needs cultures the parent does not manage.</summary>
public sealed record LanguageAlertRaised(string ChildId, IReadOnlyList<string> Cultures, DateTimeOffset At);

public sealed record LanguageAlertCleared(string ChildId, DateTimeOffset At);

public sealed record ChildServerRevoked(string ChildId, DateTimeOffset At);

/// <summary>The parent's Software Update policies that replicate to this child (Software Update policy replication).</summary>
public sealed record ChildPoliciesChosen(string ChildId, IReadOnlyList<string> PolicyIds, DateTimeOffset At);

/// <summary>A child server as its parent knows it: its credential (hash only), cultures, checkpoint, language alert.</summary>
public sealed record ChildServer(string Id, string Name, string? Url, IReadOnlyList<string> Cultures, string CredentialSha256, DateTimeOffset Registered,
    long Checkpoint, DateTimeOffset? LastReportAt, string? LastRun, IReadOnlyList<string> MissingCultures, bool Revoked)
{
    public static string StreamId(Guid id) => $"child:{id:N}";

    /// <summary>The Software Update policies an administrator of the parent chose to replicate to this child.</summary>
    public IReadOnlyList<string> Policies { get; init; } = [];

    public static ChildServer Apply(ChildPoliciesChosen e, ChildServer c) => c with { Policies = e.PolicyIds };

    /// <summary>The figures the child last sent up (roll-up), none before its first report.</summary>
    public ChildRollup? Rollup { get; init; }

    public static ChildServer Apply(ChildRollupReported e, ChildServer c) => c with { Rollup = new ChildRollup(e.Own, e.Subtree, e.At, e.Servers) };

    public static ChildServer Create(ChildServerRegistered e) => new(e.ChildId, e.Name, e.Url, e.Cultures, e.CredentialSha256, e.At, 0, null, null, [], false);

    public static ChildServer Apply(ChildServerReported e, ChildServer c) => c with { Cultures = e.Cultures, Checkpoint = e.Checkpoint, LastReportAt = e.At, LastRun = e.LastRun ?? c.LastRun };

    public static ChildServer Apply(LanguageAlertRaised e, ChildServer c) => c with { MissingCultures = e.Cultures };

    public static ChildServer Apply(LanguageAlertCleared e, ChildServer c) => c with { MissingCultures = [] };

    public static ChildServer Apply(ChildServerRevoked e, ChildServer c) => c with { Revoked = true };

    /// <summary>The cultures a child needs that the parent does not manage ("neutral" is always managed).</summary>
    public static IReadOnlyList<string> Missing(IReadOnlyList<string> childCultures, IReadOnlyList<string> parentCultures) =>
        childCultures.Where(c => !string.Equals(c, Settings.CoreSettings.Neutral, StringComparison.OrdinalIgnoreCase)
            && !parentCultures.Contains(c, StringComparer.OrdinalIgnoreCase)).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList();

    /// <summary>The alert events a report of <paramref name="cultures"/> brings: raised (or changed) when cultures are missing, cleared when none is.</summary>
    public IReadOnlyList<object> DecideAlert(IReadOnlyList<string> cultures, IReadOnlyList<string> parentCultures, DateTimeOffset now)
    {
        var missing = Missing(cultures, parentCultures);
        if (missing.SequenceEqual(MissingCultures, StringComparer.OrdinalIgnoreCase)) return [];
        return missing.Count == 0 ? [new LanguageAlertCleared(Id, now)] : [new LanguageAlertRaised(Id, missing, now)];
    }

    public static string? InvalidName(string? name) =>
        string.IsNullOrWhiteSpace(name) || name.Length > 128 || name.Any(char.IsControl) ? "name: 1 to 128 printable characters" : null;

    /// <summary>Culture names as core settings accept them (like en-US), at most 50.</summary>
    public static string? InvalidCultures(IReadOnlyList<string>? cultures) =>
        cultures is null || cultures.Count > 50 || !cultures.All(CultureNames.IsKnown)
            ? "cultures: up to 50 culture names like en-US" : null;
}
