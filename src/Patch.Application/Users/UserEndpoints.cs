using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Users;

namespace Patch.Application.Users;

public sealed record CreateUserRequest(string? UserName, string? DisplayName, string? Role, string? Password, bool? MustChangePassword);

public sealed record ChangeUserRequest(string? DisplayName, string? Role, bool? MustChangePassword);

public sealed record SetPasswordRequest(string? Password, bool? MustChangePassword);

/// <summary>Local users and their roles, managed by administrators (C14). Every change is an event on the user's stream (<c>user:NAME</c>).</summary>
public static class UserEndpoints
{
    public static async Task<IReadOnlyList<UserView>> ListAsync(IQuerySession session, TimeProvider time, CancellationToken ct) =>
        (await session.Query<User>().Where(u => !u.Deleted).OrderBy(u => u.UserName).ToListAsync(ct)).Select(u => UserView.Of(u, time.GetUtcNow())).ToList();

    public static void MapUsers(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/users").WithTags("Users");

        group.MapGet("", async (IQuerySession session, TimeProvider time, CancellationToken ct) => Results.Ok(await ListAsync(session, time, ct)))
            .ForAuditor().WithName("ListUsers").WithSummary("Local users with their role, state, last sign-in and number of active tokens.")
            .Produces<IReadOnlyList<UserView>>();

        group.MapGet("{name}", async (string name, IQuerySession session, TimeProvider time, CancellationToken ct) =>
                await session.LoadAsync<User>(User.StreamId(name), ct) is { Deleted: false } u ? Results.Ok(UserView.Of(u, time.GetUtcNow())) : Problems.NotFound($"No user '{UserDecisions.Printable(name)}'."))
            .ForAuditor().WithName("GetUser").WithSummary("One local user. Their history: GET /api/history/user:NAME.")
            .Produces<UserView>().ProducesProblem(404);

        group.MapPost("", async (CreateUserRequest body, HttpContext http, UserAccounts accounts, TimeProvider time, CancellationToken ct) =>
            {
                var (user, rejection) = await accounts.CreateAsync(Actor.From(http), body.UserName, body.DisplayName, body.Role, body.Password, body.MustChangePassword ?? false, ct);
                return rejection is not null ? Problems.From(rejection) : Results.Created($"/api/users/{user!.UserName}", UserView.Of(user, time.GetUtcNow()));
            })
            .ForAdministrator().WithName("CreateUser")
            .WithSummary("A local user: user name (letters, digits, '.', '-', '_', '@'), display name, role (auditor, operator, administrator), password (at least 12 characters), " +
                         "and whether a new password is required at the first sign-in.")
            .Produces<UserView>(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(409);

        group.MapPut("{name}", (string name, ChangeUserRequest body, HttpContext http, UserAccounts accounts, TimeProvider time, CancellationToken ct) =>
                Answer(accounts.ChangeAsync(Actor.From(http), name, (u, others, now) => UserDecisions.Change(u, body.DisplayName, body.Role, body.MustChangePassword, others, now), ct), time))
            .ForAdministrator().WithName("ChangeUser")
            .WithSummary("Change a user's display name, role or 'must change password' (fields left out stay). A new role ends the user's open sessions. The last enabled administrator keeps the role.")
            .Produces<UserView>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);

        group.MapPut("{name}/password", (string name, SetPasswordRequest body, HttpContext http, UserAccounts accounts, TimeProvider time, CancellationToken ct) =>
                Answer(accounts.SetPasswordAsync(Actor.From(http), name, body.Password, byUser: false, body.MustChangePassword ?? true, ct), time))
            .ForAdministrator().WithName("SetUserPassword")
            .WithSummary("Set a user's password (a forgotten one); by default the user must choose a new one at the next sign-in. Ends their open sessions and unlocks the account.")
            .Produces<UserView>().ProducesProblem(400).ProducesProblem(404);

        group.MapPost("{name}/disable", (string name, HttpContext http, UserAccounts accounts, TimeProvider time, CancellationToken ct) =>
                Answer(accounts.ChangeAsync(Actor.From(http), name, (u, others, now) => UserDecisions.Disable(u, others, now), ct), time))
            .ForAdministrator().WithName("DisableUser").WithSummary("Disable a user: sign-in, open sessions and their tokens stop at once.")
            .Produces<UserView>().ProducesProblem(404).ProducesProblem(409);

        group.MapPost("{name}/enable", (string name, HttpContext http, UserAccounts accounts, TimeProvider time, CancellationToken ct) =>
                Answer(accounts.ChangeAsync(Actor.From(http), name, (u, _, now) => UserDecisions.Enable(u, now), ct), time))
            .ForAdministrator().WithName("EnableUser").WithSummary("Enable a disabled user; also lifts a lockout after failed sign-ins.")
            .Produces<UserView>().ProducesProblem(404);

        group.MapDelete("{name}", async (string name, HttpContext http, UserAccounts accounts, CancellationToken ct) =>
            {
                var (_, rejection) = await accounts.ChangeAsync(Actor.From(http), name, (u, others, now) => UserDecisions.Delete(u, others, now), ct);
                return rejection is null ? Results.NoContent() : Problems.From(rejection);
            })
            .ForAdministrator().WithName("DeleteUser").WithSummary("Delete a user: sign-in, sessions and tokens stop; the history stays. The name may be created again.")
            .Produces(204).ProducesProblem(404).ProducesProblem(409);

        group.MapGet("{name}/tokens", async (string name, IQuerySession session, UserAccounts accounts, CancellationToken ct) =>
                await session.LoadAsync<User>(User.StreamId(name), ct) is { Deleted: false }
                    ? Results.Ok(await accounts.TokensAsync(session, User.StreamId(name), ct))
                    : Problems.NotFound($"No user '{UserDecisions.Printable(name)}'."))
            .ForAuditor().WithName("ListUserTokens").WithSummary("A user's personal access tokens (never their secrets), with expiry, revocation and last use.")
            .Produces<IReadOnlyList<TokenView>>().ProducesProblem(404);

        group.MapDelete("{name}/tokens/{tokenId}", async (string name, string tokenId, HttpContext http, UserAccounts accounts, CancellationToken ct) =>
                await accounts.RevokeTokenAsync(Actor.From(http), User.StreamId(name), tokenId, ct) is { } r ? Problems.From(r) : Results.NoContent())
            .ForAdministrator().WithName("RevokeUserToken").WithSummary("Revoke one of a user's tokens: its next request is a 401.")
            .Produces(204).ProducesProblem(404);
    }

    private static async Task<IResult> Answer(Task<(User? User, Rejection? Rejection)> change, TimeProvider time)
    {
        var (user, rejection) = await change;
        return rejection is not null ? Problems.From(rejection) : Results.Ok(UserView.Of(user!, time.GetUtcNow()));
    }
}
