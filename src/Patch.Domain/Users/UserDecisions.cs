namespace Patch.Domain.Users;

/// <summary>How many failed sign-ins in a row lock an account, and for how long.</summary>
public sealed record SignInPolicy(int MaxFailures, TimeSpan LockoutDuration)
{
    public const string LockedReason = "locked";

    public static readonly SignInPolicy Default = new(5, TimeSpan.FromMinutes(15));
}

/// <summary>The pure decisions about users, their passwords, sign-ins and personal access tokens.</summary>
public static class UserDecisions
{
    public const int MinPasswordLength = 12;
    public const int MaxPasswordLength = 1024;
    public const int MaxActiveTokens = 100;

    public static string? UserNameProblem(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return "userName: required";
        // Spaces around a typed name go (as at sign-in); any other character around it (U+0085, an em space) is refused, not dropped.
        var n = name.Trim(' ');
        if (n.Length > 64) return "userName: at most 64 characters";
        return n.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '@')
            ? null
            : $"userName: '{Printable(n)}' may only hold ASCII letters (a–z, A–Z), digits, '.', '-', '_' and '@'";
    }

    /// <summary>At least 12 characters, no composition rules; no control characters (a NUL cannot be typed and breaks hashing elsewhere).</summary>
    public static string? PasswordProblem(string? password, string field = "password")
    {
        if (string.IsNullOrEmpty(password)) return $"{field}: required";
        if (password.Any(char.IsControl)) return $"{field}: must not contain control characters";
        if (password.Length < MinPasswordLength) return $"{field}: at least {MinPasswordLength} characters";
        if (password.Length > MaxPasswordLength) return $"{field}: at most {MaxPasswordLength} characters";
        // Spaces belong in a passphrase; a passphrase of spaces alone is the one every attacker tries after the empty one.
        if (string.IsNullOrWhiteSpace(password)) return $"{field}: more than spaces";
        return null;
    }

    /// <summary>A new user; <paramref name="hash"/> hashes the password once everything else is valid.</summary>
    public static Outcome Create(User? existing, string? userName, string? displayName, string? role, string? password, Func<string, string> hash, bool mustChangePassword,
        DateTimeOffset now)
    {
        var problems = new List<string>();
        if (UserNameProblem(userName) is { } p) problems.Add(p);
        if (PasswordProblem(password) is { } pw) problems.Add(pw);
        if (Roles.Parse(role) is null) problems.Add($"role: '{Printable(role)}' is not one of {string.Join(", ", Roles.All)}");
        if (DisplayNameProblem(displayName) is { } d) problems.Add(d);
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid user", string.Join("; ", problems));
        if (existing is { Deleted: false }) return Outcome.Refuse(RejectionKind.Conflict, "User exists", $"A user named '{existing.UserName}' exists.");
        var name = userName!.Trim();
        return Outcome.Append(new UserCreated(User.StreamId(name), name, string.IsNullOrWhiteSpace(displayName) ? name : displayName.Trim(), Roles.Parse(role)!,
            hash(password!), mustChangePassword, now));
    }

    /// <summary>A change by an administrator; <paramref name="otherAdministrators"/> counts the enabled administrators besides this user.</summary>
    public static Outcome Change(User? user, string? displayName, string? role, bool? mustChangePassword, int otherAdministrators, DateTimeOffset now)
    {
        if (user is null or { Deleted: true }) return Outcome.Refuse(RejectionKind.NotFound, "Not found", "No such user.");
        var problems = new List<string>();
        if (role is not null && Roles.Parse(role) is null) problems.Add($"role: '{Printable(role)}' is not one of {string.Join(", ", Roles.All)}");
        if (displayName is not null && DisplayNameProblem(displayName) is { } d) problems.Add(d);
        if (problems.Count > 0) return Outcome.Refuse(RejectionKind.Invalid, "Invalid user", string.Join("; ", problems));
        var next = new { DisplayName = displayName?.Trim() is { Length: > 0 } n ? n : user.DisplayName, Role = role is null ? user.Role : Roles.Parse(role)!,
            Must = mustChangePassword ?? user.MustChangePassword };
        if (user.Enabled && user.Role == Roles.Administrator && next.Role != Roles.Administrator && otherAdministrators == 0)
            return LastAdministrator(user);
        var changed = new List<string>();
        if (next.DisplayName != user.DisplayName) changed.Add("displayName");
        if (next.Role != user.Role) changed.Add("role");
        if (next.Must != user.MustChangePassword) changed.Add("mustChangePassword");
        return changed.Count == 0 ? Outcome.Nothing : Outcome.Append(new UserChanged(user.Id, next.DisplayName, next.Role, next.Must, changed, now));
    }

    public static Outcome Disable(User? user, int otherAdministrators, DateTimeOffset now)
    {
        if (user is null or { Deleted: true }) return Outcome.Refuse(RejectionKind.NotFound, "Not found", "No such user.");
        if (!user.Enabled) return Outcome.Nothing;
        return user.Role == Roles.Administrator && otherAdministrators == 0 ? LastAdministrator(user) : Outcome.Append(new UserDisabled(user.Id, now));
    }

    public static Outcome Enable(User? user, DateTimeOffset now) => user is null or { Deleted: true }
        ? Outcome.Refuse(RejectionKind.NotFound, "Not found", "No such user.")
        : user.Enabled && user.LockedUntil is null ? Outcome.Nothing : Outcome.Append(new UserEnabled(user.Id, now));

    public static Outcome Delete(User? user, int otherAdministrators, DateTimeOffset now)
    {
        if (user is null or { Deleted: true }) return Outcome.Refuse(RejectionKind.NotFound, "Not found", "No such user.");
        return user is { Enabled: true, Role: Roles.Administrator } && otherAdministrators == 0 ? LastAdministrator(user) : Outcome.Append(new UserDeleted(user.Id, now));
    }

    public static Outcome SetPassword(User? user, string passwordHash, bool byUser, bool mustChangePassword, DateTimeOffset now) => user is null or { Deleted: true }
        ? Outcome.Refuse(RejectionKind.NotFound, "Not found", "No such user.")
        : Outcome.Append(new PasswordChanged(user.Id, passwordHash, byUser, !byUser && mustChangePassword, now));

    /// <summary>
    /// A sign-in attempt on a user that exists. A locked or disabled account is refused without looking at the password;
    /// the caller answers every refusal alike so that nobody learns whether the name exists.
    /// </summary>
    public static (bool Accepted, Outcome Outcome) SignIn(User user, bool passwordMatches, SignInPolicy policy, string? remoteAddress, DateTimeOffset now)
    {
        if (!user.CanSignIn) return (false, Outcome.Append(new UserSignInFailed(user.Id, "disabled", remoteAddress, now)));
        if (user.LockedUntil is { } until && until > now)
            return (false, Outcome.Append(new UserSignInFailed(user.Id, SignInPolicy.LockedReason, remoteAddress, now)));
        if (passwordMatches) return (true, Outcome.Append(new UserSignedIn(user.Id, "password", remoteAddress, now)));
        var failed = new UserSignInFailed(user.Id, "wrong password", remoteAddress, now);
        return user.FailedSignIns + 1 >= policy.MaxFailures
            ? (false, Outcome.Append(failed, new UserLockedOut(user.Id, now + policy.LockoutDuration, now)))
            : (false, Outcome.Append(failed));
    }

    public static Outcome CreateToken(User? user, string tokenId, string? name, string? role, DateTimeOffset expiresAt, string secretSha256, DateTimeOffset now)
    {
        if (user is not { CanSignIn: true }) return Outcome.Refuse(RejectionKind.NotFound, "Not found", "No such user, or the user is disabled.");
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(name) || name.Trim().Length > 100 || name.Any(char.IsControl)) problems.Add("name: 1 to 100 characters, no control characters");
        var tokenRole = role is null ? user.Role : Roles.Parse(role);
        if (tokenRole is null) problems.Add($"role: '{Printable(role)}' is not one of {string.Join(", ", Roles.All)}");
        else if (Roles.Rank(tokenRole) > Roles.Rank(user.Role)) problems.Add($"role: a token cannot have a role above its user's ({user.Role})");
        if (expiresAt <= now) problems.Add("expiresAt: must be in the future");
        if (expiresAt > now.AddDays(366)) problems.Add("expiresAt: at most a year ahead");
        if (user.Tokens.Count(t => !t.Revoked && t.ExpiresAt > now) >= MaxActiveTokens) problems.Add($"a user has at most {MaxActiveTokens} active tokens: revoke one first");
        return problems.Count > 0
            ? Outcome.Refuse(RejectionKind.Invalid, "Invalid token", string.Join("; ", problems))
            : Outcome.Append(new PersonalAccessTokenCreated(user.Id, tokenId, name!.Trim(), tokenRole!, secretSha256, expiresAt, now));
    }

    public static Outcome RevokeToken(User? user, string tokenId, DateTimeOffset now)
    {
        var token = user?.Tokens.FirstOrDefault(t => t.TokenId == tokenId);
        if (user is null || token is null) return Outcome.Refuse(RejectionKind.NotFound, "Not found", $"No token '{Printable(tokenId)}' for this user.");
        return token.Revoked ? Outcome.Nothing : Outcome.Append(new PersonalAccessTokenRevoked(user.Id, tokenId, now));
    }

    private static string? DisplayNameProblem(string? displayName) =>
        displayName is not null && (displayName.Trim().Length > 128 || displayName.Any(char.IsControl)) ? "displayName: at most 128 characters, no control characters" : null;

    private static Outcome LastAdministrator(User user) => Outcome.Refuse(RejectionKind.Conflict, "Last administrator",
        $"'{user.UserName}' is the only enabled administrator: make another user administrator first.");

    /// <summary>Text safe to echo in an error message: control characters shown as \uXXXX, cut at 80 characters.</summary>
    public static string Printable(string? text)
    {
        if (text is null) return "";
        var s = string.Concat(text.Take(80).Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));
        return text.Length > 80 ? s + "…" : s;
    }
}
