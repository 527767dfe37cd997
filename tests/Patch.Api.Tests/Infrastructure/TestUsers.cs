using Marten;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Infrastructure;

public static class TestUsers
{
    /// <summary>Creates the user when missing (or raises its role) and a personal access token of the role, by appending their events directly.</summary>
    public static string NewToken(IDocumentStore store, string user, string role, string passwordHash)
    {
        var token = Patch.Application.Security.PatchAuth.TokenPrefix + Patch.Domain.Agents.Secrets.New();
        var now = DateTimeOffset.UtcNow;
        var id = User.StreamId(user);
        using var session = store.LightweightSession();
        session.SetHeader("actorKind", "command-line");
        var existing = session.LoadAsync<User>(id).GetAwaiter().GetResult();
        if (existing is null) session.Events.Append(id, new UserCreated(id, user, user, role, passwordHash, false, now));
        else if (existing.Role != role && Roles.Rank(existing.Role) < Roles.Rank(role))
            session.Events.Append(id, new UserChanged(id, user, role, false, ["role"], now));
        session.Events.Append(id, new PersonalAccessTokenCreated(id, $"pat-{Guid.NewGuid():N}", "tests", role, Patch.Domain.Agents.Secrets.Hash(token), now.AddYears(10), now));
        session.SaveChangesAsync().GetAwaiter().GetResult();
        return token;
    }
}
