using System.Security.Claims;
using System.Text.Encodings.Web;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Patch.Application.Hierarchy;
using Patch.Domain.Agents;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Security;

/// <summary>
/// A child server's calls to its parent carry "Authorization: Bearer child-ID.secret" (the third credential kind beside
/// users and agents): the child is loaded by its id, its secret compared in constant time with the stored hash; a
/// revoked child is refused. Endpoints read the authenticated child from the request, never from its body.
/// </summary>
public sealed class ChildCredentialHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IDocumentStore store)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string ChildItem = "patch.child-server";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.NoResult();
        if (Secrets.Split(header[7..]) is not var (id, secret) || !id.StartsWith(ReplicationProtocol.CredentialPrefix, StringComparison.Ordinal)
            || !Guid.TryParseExact(id[ReplicationProtocol.CredentialPrefix.Length..], "N", out var guid))
            return AuthenticateResult.Fail("The bearer credential is not a child server's credential.");
        await using var session = store.QuerySession();
        var child = await session.LoadAsync<ChildServer>(ChildServer.StreamId(guid), Context.RequestAborted);
        if (child is null || child.Revoked || !Secrets.Matches(secret, child.CredentialSha256))
            return AuthenticateResult.Fail("The credential is not valid (unknown, revoked or wrong).");
        Context.Items[ChildItem] = child;
        var identity = new ClaimsIdentity(
        [
            new Claim(PatchAuth.Claims.Kind, "child-server"),
            new Claim(PatchAuth.Claims.ChildId, child.Id),
            new Claim(PatchAuth.Claims.UserName, child.Name),
        ], Scheme.Name, PatchAuth.Claims.UserName, null);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }

    /// <summary>The child server this request authenticated as.</summary>
    public static ChildServer Caller(Microsoft.AspNetCore.Http.HttpContext http) => (ChildServer)http.Items[ChildItem]!;
}
