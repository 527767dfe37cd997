using System.Net;
using System.Text.Json;
using Marten;
using Marten.Services;
using Microsoft.AspNetCore.Http;
using Npgsql;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Operations;

/// <summary>
/// The database fails once a request's change has committed — the read-back of what was created, a later statement: a
/// commit of the endpoint of a request that carries <see cref="Header"/> throws afterwards, as a lost connection would. Test-only.
/// </summary>
public sealed class FailAfterCommit(IHttpContextAccessor accessor) : DocumentSessionListenerBase
{
    public const string Header = "X-Test-Fail-After-Commit";

    public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token) =>
        accessor.HttpContext is { } http && http.Request.Headers.ContainsKey(Header) && Patch.Api.Hosting.ChangesSaved.EndpointRuns(http)
            ? throw new NpgsqlException("Exception while reading from stream", new IOException("Connection reset by peer"))
            : Task.CompletedTask;
}

/// <summary>A failure after the change was saved is never answered "nothing was saved": the client would send it again and repeat it.</summary>
public class when_the_database_fails_after_a_change_was_saved(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task the_answer_says_the_change_was_saved_and_not_to_send_it_again()
    {
        using var client = App.Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/targets")
        {
            Content = JsonContent("""{"name":"Saved then failed","include":[{"namePattern":"SAVED-*"}]}"""),
        };
        request.Headers.Add(FailAfterCommit.Header, "1");
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.DoesNotContain("nothing was saved", detail);
        Assert.StartsWith("The database cannot be reached. This request's change was saved before the failure", detail);
        Assert.Contains("Saved then failed", (await GetJsonAsync("/api/targets")).GetRawText());
    }

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");
}
