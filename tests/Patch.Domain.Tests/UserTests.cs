using Patch.Domain.Users;

namespace Patch.Domain.Tests;

public class when_deciding_about_users
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private static string Hash(string password) => $"hash({password})";

    private static User Alice(string role = Roles.Operator)
    {
        var created = (UserCreated)UserDecisions.Create(null, "Alice", null, role, "a long enough passphrase", Hash, false, Now).Events.Single();
        return User.Create(created);
    }

    private static User Apply(User u, Outcome outcome) => outcome.Events.Aggregate(u, (user, e) => e switch
    {
        UserSignInFailed f => User.Apply(f, user),
        UserLockedOut l => User.Apply(l, user),
        UserSignedIn s => User.Apply(s, user),
        UserChanged c => User.Apply(c, user),
        PasswordChanged p => User.Apply(p, user),
        PersonalAccessTokenCreated t => User.Apply(t, user),
        PersonalAccessTokenRevoked r => User.Apply(r, user),
        UserDeleted d => User.Apply(d, user),
        UserCreated c => User.Apply(c, user),
        _ => throw new InvalidOperationException(e.GetType().Name),
    });

    [Fact]
    public void a_user_gets_a_case_insensitive_stream_and_every_problem_at_once()
    {
        var alice = Alice();
        Assert.Equal(("user:alice", "Alice", "Alice", "operator", "hash(a long enough passphrase)"), (alice.Id, alice.UserName, alice.DisplayName, alice.Role, alice.PasswordHash));
        var refused = UserDecisions.Create(null, "al ice", null, "root", "short", Hash, false, Now);
        Assert.Equal(RejectionKind.Invalid, refused.Rejection!.Kind);
        Assert.Contains("userName", refused.Rejection.Detail);
        Assert.Contains("role", refused.Rejection.Detail);
        Assert.Contains("at least 12 characters", refused.Rejection.Detail);
        Assert.Contains("control characters", UserDecisions.PasswordProblem("twelve chars\0 plus"));
        Assert.Equal(RejectionKind.Conflict, UserDecisions.Create(alice, "ALICE", null, "auditor", "a long enough passphrase", Hash, false, Now).Rejection!.Kind);
        // A deleted name may be created again, on the same stream.
        var deleted = Apply(alice, UserDecisions.Delete(alice, otherAdministrators: 1, Now));
        var again = Apply(deleted, UserDecisions.Create(deleted, "alice", null, "auditor", "another long passphrase", Hash, false, Now));
        Assert.Equal(("auditor", false, true), (again.Role, again.Deleted, again.Enabled));
        Assert.True(again.CredentialVersion > alice.CredentialVersion);
    }

    [Fact]
    public void failures_in_a_row_lock_the_account_and_a_success_resets_the_count()
    {
        var policy = new SignInPolicy(3, TimeSpan.FromMinutes(15));
        var user = Alice();
        for (var i = 0; i < 2; i++)
        {
            var (accepted, outcome) = UserDecisions.SignIn(user, passwordMatches: false, policy, "10.0.0.1", Now);
            Assert.False(accepted);
            user = Apply(user, outcome);
        }
        user = Apply(user, UserDecisions.SignIn(user, true, policy, null, Now).Outcome);
        Assert.Equal(0, user.FailedSignIns);
        for (var i = 0; i < 3; i++) user = Apply(user, UserDecisions.SignIn(user, false, policy, null, Now).Outcome);
        Assert.Equal(Now.AddMinutes(15), user.LockedUntil);
        // Locked: even the right password is refused, and the refusal does not extend the lock.
        var (inLock, locked) = UserDecisions.SignIn(user, true, policy, null, Now.AddMinutes(5));
        Assert.False(inLock);
        Assert.Equal(SignInPolicy.LockedReason, ((UserSignInFailed)locked.Events.Single()).Reason);
        Assert.Equal(Now.AddMinutes(15), Apply(user, locked).LockedUntil);
        Assert.True(UserDecisions.SignIn(user, true, policy, null, Now.AddMinutes(16)).Accepted);
    }

    [Fact]
    public void the_last_administrator_keeps_the_role_and_role_changes_end_sessions()
    {
        var admin = Alice(Roles.Administrator);
        Assert.Equal("Last administrator", UserDecisions.Change(admin, null, "operator", null, otherAdministrators: 0, Now).Rejection!.Title);
        Assert.Equal("Last administrator", UserDecisions.Disable(admin, 0, Now).Rejection!.Title);
        Assert.Equal("Last administrator", UserDecisions.Delete(admin, 0, Now).Rejection!.Title);
        var demoted = Apply(admin, UserDecisions.Change(admin, "Alice A.", "operator", null, otherAdministrators: 1, Now));
        Assert.Equal(["displayName", "role"], ((UserChanged)UserDecisions.Change(admin, "Alice A.", "operator", null, 1, Now).Events.Single()).Changed);
        Assert.True(demoted.CredentialVersion > admin.CredentialVersion);
        Assert.Empty(UserDecisions.Change(demoted, "Alice A.", "OPERATOR", null, 1, Now).Events);
    }

    [Fact]
    public void a_token_never_outranks_its_user_and_expires_within_a_year()
    {
        var user = Alice(Roles.Operator);
        Assert.Contains("above", UserDecisions.CreateToken(user, "t1", "ci", "administrator", Now.AddDays(30), "h", Now).Rejection!.Detail);
        Assert.Contains("a year", UserDecisions.CreateToken(user, "t1", "ci", null, Now.AddDays(400), "h", Now).Rejection!.Detail);
        Assert.Contains("future", UserDecisions.CreateToken(user, "t1", "ci", null, Now, "h", Now).Rejection!.Detail);
        var created = UserDecisions.CreateToken(user, "t1", " ci ", "auditor", Now.AddDays(30), "h", Now);
        Assert.Equal(("ci", "auditor"), (((PersonalAccessTokenCreated)created.Events.Single()).Name, ((PersonalAccessTokenCreated)created.Events.Single()).Role));
        user = Apply(user, created);
        user = Apply(user, UserDecisions.RevokeToken(user, "t1", Now));
        Assert.True(user.Tokens.Single().Revoked);
        Assert.Empty(UserDecisions.RevokeToken(user, "t1", Now).Events);
        Assert.Equal(RejectionKind.NotFound, UserDecisions.RevokeToken(user, "t2", Now).Rejection!.Kind);
        Assert.Equal("operator", Roles.Lower("administrator", "operator"));
    }
}
