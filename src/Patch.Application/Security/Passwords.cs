using Microsoft.AspNetCore.Identity;
using Patch.Domain.Users;

namespace Patch.Application.Security;

/// <summary>
/// Passwords are hashed with ASP.NET Core Identity's own hasher (PBKDF2 with HMAC-SHA512, salted, its current
/// iteration count), never by hand. A sign-in for a name nobody has still pays for one verification, so the time of
/// the answer does not tell whether the name exists.
/// </summary>
public static class Passwords
{
    private static readonly PasswordHasher<User> Hasher = new();
    private static readonly Lazy<string> Decoy = new(() => Hasher.HashPassword(null!, Domain.Agents.Secrets.New()));

    public static string Hash(string password) => Hasher.HashPassword(null!, password);

    public static bool Verify(User user, string password) =>
        Hasher.VerifyHashedPassword(user, user.PasswordHash, password) is PasswordVerificationResult.Success or PasswordVerificationResult.SuccessRehashNeeded;

    /// <summary>Spends the time of a verification and answers false.</summary>
    public static bool VerifyDecoy(string password)
    {
        Hasher.VerifyHashedPassword(null!, Decoy.Value, password);
        return false;
    }
}
