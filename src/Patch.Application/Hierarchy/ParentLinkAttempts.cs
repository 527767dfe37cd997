using System.Security.Cryptography;
using Marten;
using Patch.Application.Common;
using Patch.Domain.Agents;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>
/// The secret this server chooses for the credential it registers with at a parent, one per registration token and
/// parent URL, recorded (protected at rest) before the parent is asked: when the parent's answer is lost after it
/// registered this server, linking again at the same URL with the same token carries the same secret, and the parent
/// answers the same registration instead of refusing a used token (and keeping a child that never got its credential).
/// A secret is never sent to a second URL: a server reached by mistake (a typo, a look-alike name) with the token must
/// not learn the secret the real parent would then keep for this server.
/// </summary>
public static class ParentLinkAttempts
{
    public static async Task<string> SecretAsync(IDocumentStore store, ParentClient parent, Actor actor, string token, string parentUrl, TimeProvider time,
        CancellationToken ct)
    {
        var tokenId = Secrets.Split(token)!.Value.Id;
        var streamId = ParentLinkAttempted.StreamId(tokenId);
        var url = parentUrl.TrimEnd('/');
        await using var session = store.OpenSession(actor);
        var attempts = (await session.Events.FetchStreamAsync(streamId, token: ct)).Select(e => e.Data).OfType<ParentLinkAttempted>().ToList();
        if (attempts.LastOrDefault(a => string.Equals(a.ParentUrl, url, StringComparison.OrdinalIgnoreCase)) is { } earlier)
        {
            try
            {
                return parent.Unprotect(earlier.ProtectedSecret);
            }
            catch (CryptographicException)
            {
                // The key ring that protected it is gone (restored elsewhere): a new secret, as for a first attempt.
            }
        }
        var secret = Secrets.New();
        var attempt = new ParentLinkAttempted(tokenId, parent.Protect(secret), time.GetUtcNow(), url);
        // Two attempts with one token at once: the second fails as a concurrent change (409), and may be sent again.
        if (attempts.Count == 0) session.Events.StartStream(streamId, attempt);
        else session.Events.Append(streamId, attempts.Count + 1, attempt);
        await session.SaveChangesAsync(ct);
        return secret;
    }
}
