namespace Patch.Domain.Users;

public sealed record UserCreated(string UserId, string UserName, string DisplayName, string Role, string PasswordHash, bool MustChangePassword, DateTimeOffset At);

/// <summary>An administrator changed the display name, role or "must change password"; <c>Changed</c> names the fields.</summary>
public sealed record UserChanged(string UserId, string DisplayName, string Role, bool MustChangePassword, IReadOnlyList<string> Changed, DateTimeOffset At);

public sealed record UserDisabled(string UserId, DateTimeOffset At);

public sealed record UserEnabled(string UserId, DateTimeOffset At);

/// <summary>The user is gone: sign-in, sessions and tokens stop. The name may be created again later (the stream goes on).</summary>
public sealed record UserDeleted(string UserId, DateTimeOffset At);

/// <summary>A new password: set by the user (<c>ByUser</c>) or by an administrator (who may require a change at the next sign-in).</summary>
public sealed record PasswordChanged(string UserId, string PasswordHash, bool ByUser, bool MustChangePassword, DateTimeOffset At);

public sealed record UserSignedIn(string UserId, string Method, string? RemoteAddress, DateTimeOffset At);

public sealed record UserSignInFailed(string UserId, string Reason, string? RemoteAddress, DateTimeOffset At);

/// <summary>Too many failed sign-ins in a row: no sign-in is accepted until <c>Until</c>.</summary>
public sealed record UserLockedOut(string UserId, DateTimeOffset Until, DateTimeOffset At);

public sealed record UserSignedOut(string UserId, DateTimeOffset At);

/// <summary>A personal access token: its role is never above its user's; only the SHA-256 of the secret is kept.</summary>
public sealed record PersonalAccessTokenCreated(string UserId, string TokenId, string Name, string Role, string SecretSha256, DateTimeOffset ExpiresAt, DateTimeOffset At);

public sealed record PersonalAccessTokenRevoked(string UserId, string TokenId, DateTimeOffset At);

/// <summary>A token was used (recorded at most once a minute, on the token's own stream so the user's history stays readable).</summary>
public sealed record PersonalAccessTokenUsed(string TokenId, DateTimeOffset At)
{
    public static string StreamId(string tokenId) => $"token-use:{tokenId}";
}

public sealed record UserToken(string TokenId, string Name, string Role, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, bool Revoked);

/// <summary>
/// A local user (C14): one stream per user name. <c>CredentialVersion</c> moves whenever what a session was issued
/// under changes (password, role, disabled, deleted), so open sessions of the old version end.
/// </summary>
public sealed record User(
    string Id,
    string UserName,
    string DisplayName,
    string Role,
    string PasswordHash,
    bool MustChangePassword,
    bool Enabled,
    bool Deleted,
    DateTimeOffset CreatedAt,
    DateTimeOffset? LastSignInAt,
    int FailedSignIns,
    DateTimeOffset? LockedUntil,
    int CredentialVersion,
    IReadOnlyList<UserToken> Tokens)
{
    public static string StreamId(string userName) => $"user:{userName.Trim().ToLowerInvariant()}";

    public bool CanSignIn => Enabled && !Deleted;

    public static User Create(UserCreated e) =>
        new(e.UserId, e.UserName, e.DisplayName, e.Role, e.PasswordHash, e.MustChangePassword, true, false, e.At, null, 0, null, 1, []);

    /// <summary>The same name created again after <see cref="UserDeleted"/>: a new user on the same stream, credentials moved on.</summary>
    public static User Apply(UserCreated e, User u) => Create(e) with { CredentialVersion = u.CredentialVersion + 1 };

    public static User Apply(UserChanged e, User u) => u with
    {
        DisplayName = e.DisplayName, MustChangePassword = e.MustChangePassword, Role = e.Role,
        CredentialVersion = e.Role != u.Role || e.MustChangePassword != u.MustChangePassword ? u.CredentialVersion + 1 : u.CredentialVersion,
    };

    public static User Apply(UserDisabled e, User u) => u with { Enabled = false, CredentialVersion = u.CredentialVersion + 1 };

    public static User Apply(UserEnabled e, User u) => u with { Enabled = true, FailedSignIns = 0, LockedUntil = null };

    public static User Apply(UserDeleted e, User u) => u with { Deleted = true, Enabled = false, CredentialVersion = u.CredentialVersion + 1, Tokens = [] };

    public static User Apply(PasswordChanged e, User u) => u with
    {
        PasswordHash = e.PasswordHash, MustChangePassword = e.MustChangePassword, FailedSignIns = 0, LockedUntil = null,
        CredentialVersion = u.CredentialVersion + 1,
    };

    public static User Apply(UserSignedIn e, User u) => u with { LastSignInAt = e.At, FailedSignIns = 0, LockedUntil = null };

    public static User Apply(UserSignInFailed e, User u) => e.Reason == SignInPolicy.LockedReason ? u : u with { FailedSignIns = u.FailedSignIns + 1 };

    public static User Apply(UserLockedOut e, User u) => u with { LockedUntil = e.Until, FailedSignIns = 0 };

    public static User Apply(UserSignedOut e, User u) => u;

    public static User Apply(PersonalAccessTokenCreated e, User u) => u with
    {
        Tokens = [.. u.Tokens, new UserToken(e.TokenId, e.Name, e.Role, e.At, e.ExpiresAt, false)],
    };

    public static User Apply(PersonalAccessTokenRevoked e, User u) => u with
    {
        Tokens = u.Tokens.Select(t => t.TokenId == e.TokenId ? t with { Revoked = true } : t).ToList(),
    };
}
