using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Patch.Domain.Users;

namespace Patch.Application.Security;

/// <summary>Who may call an endpoint, as endpoint metadata: the route table test and the OpenAPI document read it.</summary>
public sealed record EndpointAccess(string Kind, string? Role, string? Reason = null)
{
    public const string Anonymous = "anonymous";
    public const string User = "user";
    public const string Agent = "agent";
    public const string ChildServer = "child-server";

    /// <summary>What docs/security.md writes in its role column.</summary>
    public string Label => Kind switch { User => Role ?? "signed-in", _ => Kind };
}

/// <summary>Marks an endpoint a user may call while an administrator requires a new password (their account and sign-out).</summary>
public sealed class AllowedBeforePasswordChange;

public static class EndpointAccessExtensions
{
    /// <summary>The endpoint needs a signed-in user with at least this role (auditor &lt; operator &lt; administrator).</summary>
    public static TBuilder ForRole<TBuilder>(this TBuilder builder, string role) where TBuilder : IEndpointConventionBuilder
    {
        if (Roles.Rank(role) == 0) throw new ArgumentException($"'{role}' is not a role", nameof(role));
        return builder.RequireAuthorization(PatchAuth.Policies.ForRole(role)).WithMetadata(new EndpointAccess(EndpointAccess.User, role));
    }

    public static TBuilder ForAuditor<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder => builder.ForRole(Roles.Auditor);

    public static TBuilder ForOperator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder => builder.ForRole(Roles.Operator);

    public static TBuilder ForAdministrator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder => builder.ForRole(Roles.Administrator);

    /// <summary>Any signed-in user, whatever the role; also while a password change is required.</summary>
    public static TBuilder ForSignedInUser<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(PatchAuth.Policies.SignedIn).WithMetadata(new EndpointAccess(EndpointAccess.User, null), new AllowedBeforePasswordChange());

    /// <summary>The endpoint takes an agent credential (never a user's).</summary>
    public static TBuilder ForAgent<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(PatchAuth.Policies.Agent).WithMetadata(new EndpointAccess(EndpointAccess.Agent, null));

    /// <summary>The endpoint takes a child server's credential (never a user's or an agent's).</summary>
    public static TBuilder ForChildServer<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(PatchAuth.Policies.ChildServer).WithMetadata(new EndpointAccess(EndpointAccess.ChildServer, null));

    /// <summary>No credential: only for the documented list (health, sign-in, enrolment guarded by its token, the console's sign-in page).</summary>
    public static TBuilder Anonymous<TBuilder>(this TBuilder builder, string reason) where TBuilder : IEndpointConventionBuilder =>
        builder.AllowAnonymous().WithMetadata(new EndpointAccess(EndpointAccess.Anonymous, null, reason));

    public static EndpointAccess? Access(this Endpoint endpoint) => endpoint.Metadata.GetMetadata<EndpointAccess>();
}
