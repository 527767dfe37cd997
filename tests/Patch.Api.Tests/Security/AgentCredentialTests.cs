using System.Net;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Security;

public class when_agent_credentials_rotate_or_are_revoked(AppFixture app) : SecurityTestBase(app)
{
    private async Task<string> EnrolAsync(string name)
    {
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "security", maxUses = 5 });
        var (status, enrolled) = await Send(App.AnonymousClient(), HttpMethod.Post, "/agent/v1/enrol",
            new { token = token.GetProperty("token").GetString(), computerName = name, agentVersion = "0.1.0" });
        Assert.True(status == HttpStatusCode.OK, enrolled.ToString());
        return enrolled.GetProperty("credential").GetString()!;
    }

    private async Task<HttpStatusCode> MeAsync(string credential) => (await Send(App.AnonymousClient(), HttpMethod.Get, "/agent/v1/me", bearer: credential)).Status;

    [Fact]
    public async Task a_rotated_credential_replaces_the_old_one_after_a_grace_period()
    {
        var old = await EnrolAsync("ROT-1");
        var (bad, problem) = await Send(App.AnonymousClient(), HttpMethod.Post, "/agent/v1/credential", new { credential = "short" }, bearer: old);
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Contains("credential:", problem.GetProperty("detail").GetString());
        var (status, rotated) = await Send(App.AnonymousClient(), HttpMethod.Post, "/agent/v1/credential", bearer: old);
        Assert.Equal(HttpStatusCode.OK, status);
        var fresh = rotated.GetProperty("credential").GetString()!;
        Assert.NotEqual(old, fresh);
        Assert.Equal(old.Split('.')[0], fresh.Split('.')[0]);
        Assert.Equal(HttpStatusCode.OK, await MeAsync(fresh));
        Assert.Equal(HttpStatusCode.OK, await MeAsync(old));
        App.Clock.Shift = TimeSpan.FromMinutes(11);
        Assert.Equal(HttpStatusCode.Unauthorized, await MeAsync(old));
        Assert.Equal(HttpStatusCode.OK, await MeAsync(fresh));
        App.Clock.Shift = TimeSpan.Zero;
        var history = Types(await HistoryAsync("computer:rot-1"));
        Assert.Contains("agent_credential_rotated", history);
        // Neither secret is in the history.
        Assert.DoesNotContain(fresh.Split('.')[1], (await GetJsonAsync("/api/history/computer:rot-1")).ToString());
    }

    [Fact]
    public async Task a_revoked_agent_is_refused_at_once_and_its_computer_waits_for_a_reset()
    {
        var credential = await EnrolAsync("LOST-LAPTOP");
        Assert.Equal(HttpStatusCode.OK, await MeAsync(credential));
        // An operator may not; an administrator may.
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(App.Client("op", Domain.Users.Roles.Operator), HttpMethod.Post, "/api/computers/LOST-LAPTOP/agent/revoke")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, "/api/computers/LOST-LAPTOP/agent/revoke")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, await MeAsync(credential));

        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "again" });
        var retry = await Send(App.AnonymousClient(), HttpMethod.Post, "/agent/v1/enrol", new { token = token.GetProperty("token").GetString(), computerName = "LOST-LAPTOP", agentVersion = "0.1.0" });
        Assert.Equal(HttpStatusCode.Conflict, retry.Status);
        Assert.Contains("revoked", retry.Body.GetProperty("detail").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/api/computers/LOST-LAPTOP/agent")).Status);
        Assert.Equal(HttpStatusCode.OK, await MeAsync(await EnrolAsync("LOST-LAPTOP")));
        Assert.Equal(["computer_discovered", "agent_enrolled", "agent_revoked", "agent_reset", "agent_enrolled"], Types(await HistoryAsync("computer:lost-laptop")));
        Assert.Equal("dana", (await HistoryAsync("computer:lost-laptop"))[2].GetProperty("actor").GetString());
    }
}
