using System.Net;
using System.Text;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Operations;

/// <summary>
/// HTTP preconditions are evaluated, never ignored: a write sent with If-Match (to avoid overwriting another
/// administrator's change) is not carried out when the tag cannot match, and If-None-Match on a write is refused by name.
/// </summary>
public class when_a_request_carries_preconditions(AppFixture app) : AppTest(app)
{
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, string? json, params (string Name, string Value)[] headers)
    {
        using var client = App.Client("dana");
        var request = new HttpRequestMessage(method, url);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        return await client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    private async Task<string?> NameAsync(string id) =>
        (await GetJsonAsync("/api/targets")).EnumerateArray().Single(t => t.GetProperty("id").GetString() == id).GetProperty("name").GetString();

    [Fact]
    public async Task a_write_with_an_entity_tag_that_cannot_match_is_not_carried_out()
    {
        var created = await SendAsync(HttpMethod.Post, "/api/targets", """{"name":"Precondition servers","include":[{"operatingSystemContains":"Server"}]}""");
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("id").GetString()!;

        var put = await SendAsync(HttpMethod.Put, $"/api/targets/{id}", """{"name":"Renamed","include":[{"operatingSystemContains":"Server"}]}""", ("If-Match", "\"3\""));
        Assert.Equal(HttpStatusCode.PreconditionFailed, put.StatusCode);
        Assert.Contains("no tag can match", await put.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var delete = await SendAsync(HttpMethod.Delete, $"/api/targets/{id}", null, ("If-Match", "W/\"x\", \"y\""));
        Assert.Equal(HttpStatusCode.PreconditionFailed, delete.StatusCode);
        Assert.Equal("Precondition servers", await NameAsync(id));

        // "*" holds for a resource that exists.
        var any = await SendAsync(HttpMethod.Put, $"/api/targets/{id}", """{"name":"Renamed","include":[{"operatingSystemContains":"Server"}]}""", ("If-Match", "*"));
        Assert.Equal(HttpStatusCode.OK, any.StatusCode);
        Assert.Equal("Renamed", await NameAsync(id));

        // Create-only semantics are not evaluated by a write: refused by name, nothing created.
        var createOnly = await SendAsync(HttpMethod.Post, "/api/targets", """{"name":"Create only","include":[{"namePattern":"X-*"}]}""", ("If-None-Match", "*"));
        Assert.Equal(HttpStatusCode.BadRequest, createOnly.StatusCode);
        Assert.Contains("If-None-Match", await createOnly.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.DoesNotContain((await GetJsonAsync("/api/targets")).EnumerateArray(), t => t.GetProperty("name").GetString() == "Create only");

        // A read with a tag never issued holds: the full answer.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/targets", null, ("If-None-Match", "\"old\""))).StatusCode);
    }
}
