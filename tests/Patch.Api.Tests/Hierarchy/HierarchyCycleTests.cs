using System.Net;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Api.Tests.Security;

namespace Patch.Api.Tests.Hierarchy;

/// <summary>
/// A hierarchy is a tree, also through three servers or more (stop 54): a parent knows only its own parent, so the
/// servers below a child travel with its registration and its roll-ups, and a server that finds itself among them refuses.
/// </summary>
public class when_a_hierarchy_would_close_a_cycle(AppFixture app) : SecurityTestBase(app)
{
    private static string NewServerId() => $"server-{Guid.NewGuid():N}";

    private async Task<string> TokenAsync(string name)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name });
        Assert.True(status == HttpStatusCode.Created, body.ToString());
        return body.GetProperty("token").GetString()!;
    }

    private async Task<(HttpStatusCode Status, string Body)> RegisterAsync(string token, string serverId, params string[] subtree) =>
        await RawAsync(HttpMethod.Post, "/replication/v1/register", Utf8(JsonSerializer.Serialize(new
        {
            token, name = "cycle-site", url = "https://cycle.example", cultures = new[] { "en-US" }, serverId, subtree,
        })), "application/json", bearer: "");

    private static object Figures(int servers) => new
    {
        servers, computers = 3, computersWithAgent = 2, notReportingInventory = 0, vulnerabilities = Array.Empty<object>(),
        executed = 1, succeeded = 1, failed = 0, notCompleted = 0, pendingRestarts = 0,
    };

    private async Task<(HttpStatusCode Status, string Body)> RollupAsync(string credential, params string[] servers) =>
        await RawAsync(HttpMethod.Post, "/replication/v1/rollup",
            Utf8(JsonSerializer.Serialize(new { own = Figures(1), subtree = Figures(3), servers })), "application/json", bearer: credential);

    [Fact]
    public async Task a_server_below_the_registering_one_or_in_a_childs_roll_up_is_refused_and_nothing_is_kept()
    {
        var childId = NewServerId();
        var (registered, answer) = await RegisterAsync(await TokenAsync("cycle-child"), childId);
        Assert.True(registered == HttpStatusCode.OK, answer);
        var child = JsonDocument.Parse(answer).RootElement;
        var ownId = child.GetProperty("parentId").GetString()!;
        var credential = child.GetProperty("credential").GetString()!;

        // A → B → C, and now C asks to become A's child: A is in C's subtree.
        var token = await TokenAsync("cycle-closing");
        var (refused, why) = await RegisterAsync(token, NewServerId(), NewServerId(), ownId);
        Assert.True(refused == HttpStatusCode.BadRequest, why);
        Assert.Contains("this server is below the registering server (in its subtree): a hierarchy has no cycles", why);
        var (badId, badIdWhy) = await RegisterAsync(token, NewServerId(), "server-NOT-HEX");
        Assert.True(badId == HttpStatusCode.BadRequest, badIdWhy);
        Assert.Contains("subtree: 'server-NOT-HEX' is not a server id", badIdWhy);
        var twice = NewServerId();
        Assert.Contains("subtree: each server once", (await RegisterAsync(token, NewServerId(), twice, twice)).Body);
        // Refused, the token is still unused: the same site registers once its subtree is a tree.
        var tokens = (await GetJsonAsync("/api/hierarchy/registration-tokens")).EnumerateArray();
        Assert.Equal(JsonValueKind.Null, tokens.Single(t => t.GetProperty("name").GetString() == "cycle-closing").GetProperty("usedBy").ValueKind);
        var (later, laterAnswer) = await RegisterAsync(token, NewServerId(), NewServerId());
        Assert.True(later == HttpStatusCode.OK, laterAnswer);

        // A cycle made before any roll-up crossed it: the roll-up that would count this server again is refused, not kept.
        var (looped, loopedWhy) = await RollupAsync(credential, childId, NewServerId(), ownId);
        Assert.True(looped == HttpStatusCode.BadRequest, loopedWhy);
        Assert.Contains("this server is in the child's subtree: the hierarchy has a cycle", loopedWhy);
        var (tooMany, tooManyWhy) = await RollupAsync(credential, childId, NewServerId(), NewServerId(), NewServerId());
        Assert.True(tooMany == HttpStatusCode.BadRequest, tooManyWhy);
        Assert.Contains("servers: more server ids than subtree.servers counts", tooManyWhy);
        var line = (await GetJsonAsync("/api/hierarchy/rollup")).GetProperty("children").EnumerateArray()
            .Single(c => c.GetProperty("id").GetString() == child.GetProperty("childId").GetString());
        Assert.Equal(JsonValueKind.Null, line.GetProperty("reportedAt").ValueKind);

        // A severity the reports do not count by is no figure the parent can add up (the fifth sweep: "Bogus" was summed).
        var bogus = new { servers = 1, computers = 3, computersWithAgent = 2, notReportingInventory = 0, vulnerabilities = new[] { new { severity = "Bogus", missingInstalls = 4, computers = 1 } },
            executed = 1, succeeded = 1, failed = 0, notCompleted = 0, pendingRestarts = 0 };
        var (unknownSeverity, unknownSaid) = await RawAsync(HttpMethod.Post, "/replication/v1/rollup", Utf8(JsonSerializer.Serialize(new { own = bogus, subtree = bogus })), "application/json", bearer: credential);
        Assert.True(unknownSeverity == HttpStatusCode.BadRequest, unknownSaid);
        Assert.Contains("'Bogus' is no severity (None, Low, Moderate, Important, Critical)", unknownSaid);

        var (kept, keptAnswer) = await RollupAsync(credential, childId, NewServerId(), NewServerId());
        Assert.True(kept == HttpStatusCode.OK, keptAnswer);
        line = (await GetJsonAsync("/api/hierarchy/rollup")).GetProperty("children").EnumerateArray()
            .Single(c => c.GetProperty("id").GetString() == child.GetProperty("childId").GetString());
        Assert.Equal(3, line.GetProperty("subtree").GetProperty("servers").GetInt32());
    }
}
