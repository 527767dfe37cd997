using Marten.Events.Projections;
using Patch.Domain.Users;

namespace Patch.Projections.Security;

/// <summary>
/// A personal access token as the sign-in check reads it: found by the SHA-256 of the presented secret (a unique
/// index), then checked against its user. Projected inline from the user stream (created, revoked) and the token's own
/// use stream (last use).
/// </summary>
public sealed record AccessToken(string Id, string UserId, string Name, string Role, string SecretSha256, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt,
    bool Revoked, DateTimeOffset? LastUsedAt);

public sealed partial class AccessTokenProjection : MultiStreamProjection<AccessToken, string>
{
    public AccessTokenProjection()
    {
        Identity<PersonalAccessTokenCreated>(e => e.TokenId);
        Identity<PersonalAccessTokenRevoked>(e => e.TokenId);
        Identity<PersonalAccessTokenUsed>(e => e.TokenId);
    }

    public static AccessToken Create(PersonalAccessTokenCreated e) =>
        new(e.TokenId, e.UserId, e.Name, e.Role, e.SecretSha256, e.At, e.ExpiresAt, false, null);

    public static AccessToken Apply(PersonalAccessTokenRevoked e, AccessToken t) => t with { Revoked = true };

    public static AccessToken Apply(PersonalAccessTokenUsed e, AccessToken t) => t with { LastUsedAt = e.At };
}
