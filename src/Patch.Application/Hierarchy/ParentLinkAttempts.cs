using Marten;
using Patch.Application.Common;
using Patch.Domain.Agents;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>
/// The secret this server chooses for the credential it registers with at a parent, one per registration token, recorded
/// (protected at rest) before the parent is asked: when the parent's answer is lost after it registered this server, the
/// same token sent again carries the same secret, and the parent answers the same registration instead of refusing a
/// used token (and keeping a child that never got its credential).
/// </summary>
public static class ParentLinkAttempts
{
    public static async Task<string> SecretAsync(IDocumentStore store, ParentClient parent, Actor actor, string token, TimeProvider time, CancellationToken ct)
    {
        var tokenId = Secrets.Split(token)!.Value.Id;
        var streamId = ParentLinkAttempted.StreamId(tokenId);
        await using var session = store.OpenSession(actor);
        if ((await session.Events.FetchStreamAsync(streamId, token: ct)).Select(e => e.Data).OfType<ParentLinkAttempted>().FirstOrDefault() is { } earlier)
            return parent.Unprotect(earlier.ProtectedSecret);
        var secret = Secrets.New();
        // Two attempts with one token at once: the second finds the stream started and fails as a concurrent change (409).
        session.Events.StartStream(streamId, new ParentLinkAttempted(tokenId, parent.Protect(secret), time.GetUtcNow()));
        await session.SaveChangesAsync(ct);
        return secret;
    }
}
