using System.Security.Cryptography;
using System.Text;

namespace Patch.Domain.Agents;

public sealed record EnrolmentTokenCreated(string TokenId, string Name, string SecretSha256, DateTimeOffset ExpiresAt, int MaxUses, DateTimeOffset At);

public sealed record EnrolmentTokenUsed(string TokenId, string ComputerId, DateTimeOffset At);

public sealed record EnrolmentTokenRevoked(string TokenId, DateTimeOffset At);

/// <summary>An administrator's enrolment token: agents present it once to get their own credential. Only its hash is stored.</summary>
public sealed record EnrolmentToken(string Id, string Name, string SecretSha256, DateTimeOffset ExpiresAt, int MaxUses, int Uses, bool Revoked)
{
    public static string StreamId(Guid id) => $"enrolment-token:{id:N}";

    public static EnrolmentToken Create(EnrolmentTokenCreated e) => new(e.TokenId, e.Name, e.SecretSha256, e.ExpiresAt, e.MaxUses, 0, false);

    public static EnrolmentToken Apply(EnrolmentTokenUsed e, EnrolmentToken t) => t with { Uses = t.Uses + 1 };

    public static EnrolmentToken Apply(EnrolmentTokenRevoked e, EnrolmentToken t) => t with { Revoked = true };

    public static Outcome DecideCreate(string tokenId, string? name, DateTimeOffset expiresAt, int maxUses, string secretSha256, DateTimeOffset now)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(name) || name.Length > 128 || name.Any(char.IsControl)) problems.Add("name: 1 to 128 characters, none a control character");
        if (expiresAt <= now) problems.Add("expiresAt: must be in the future");
        if (expiresAt > now.AddDays(366)) problems.Add("expiresAt: at most a year ahead");
        if (maxUses is < 1 or > 1_000_000) problems.Add("maxUses: 1 to 1000000");
        return problems.Count > 0
            ? Outcome.Refuse(RejectionKind.Invalid, "Invalid enrolment token", string.Join("; ", problems))
            : Outcome.Append(new EnrolmentTokenCreated(tokenId, name!.Trim(), secretSha256, expiresAt, maxUses, now));
    }

    /// <summary>Why this token cannot enrol an agent now, or null when it can. The secret is compared in constant time.</summary>
    public string? RefusalFor(string secret, DateTimeOffset now)
    {
        if (!Secrets.Matches(secret, SecretSha256)) return "the enrolment token is not valid";
        if (Revoked) return "the enrolment token was revoked";
        if (now >= ExpiresAt) return $"the enrolment token expired at {ExpiresAt:O}";
        if (Uses >= MaxUses) return $"the enrolment token was used {Uses} of {MaxUses} times";
        return null;
    }
}

/// <summary>Random secrets and their stored form (SHA-256: the secrets are 256-bit random, so a slow hash adds nothing).</summary>
public static class Secrets
{
    public static string New() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public static bool Matches(string secret, string sha256) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(sha256));

    /// <summary>Splits "id.secret" as tokens and credentials are handed out.</summary>
    public static (string Id, string Secret)? Split(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var dot = value.IndexOf('.');
        return dot <= 0 || dot == value.Length - 1 ? null : (value[..dot].Trim(), value[(dot + 1)..].Trim());
    }
}
