using System.Net;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Security;

/// <summary>Nothing silently ignored, nothing internal leaked: unknown query parameters and unreadable bodies get a 400 that names the problem.</summary>
public class when_requests_are_malformed(AppFixture app) : SecurityTestBase(app)
{
    [Theory]
    [InlineData("/api/catalog/sources?asOf=2020-01-01T00:00:00Z", "asOf")]
    [InlineData("/api/bulletins?severity=Critical&colour=red", "colour")]
    [InlineData("/api/reports/vulnerabilities?page=2", "page")]
    [InlineData("/api/settings/core?x=1", "x")]
    public async Task an_unknown_query_parameter_is_a_400_naming_it(string url, string parameter)
    {
        var (status, problem) = await SendAsync(HttpMethod.Get, url);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Unknown query parameter", problem.GetProperty("title").GetString());
        Assert.StartsWith($"'{parameter}'", problem.GetProperty("detail").GetString());
    }

    /// <summary>A body sent to an operation that takes none is refused by name, and the operation is not carried out.</summary>
    [Fact]
    public async Task a_body_sent_to_an_operation_that_takes_none_is_a_400_and_nothing_is_done()
    {
        var (created, target) = await SendAsync(HttpMethod.Post, "/api/targets", new { name = "Body test", include = new[] { new { namePattern = "BODY-*" } } });
        Assert.Equal(HttpStatusCode.Created, created);
        var id = target.GetProperty("id").GetString()!;

        var (deleted, problem) = await SendAsync(HttpMethod.Delete, $"/api/targets/{id}", new { force = true });
        Assert.Equal(HttpStatusCode.BadRequest, deleted);
        Assert.Equal("Unexpected request body", problem.GetProperty("title").GetString());
        Assert.Contains(id, (await GetJsonAsync("/api/targets")).EnumerateArray().Select(t => t.GetProperty("id").GetString()));
        var (search, _) = await SendAsync(HttpMethod.Get, "/api/bulletins", new { q = "kerberos" });
        Assert.Equal(HttpStatusCode.BadRequest, search);
        // Without a body — or with a chunked one that holds nothing — the same operations go through.
        using var client = App.Client("dana");
        var chunked = new HttpRequestMessage(HttpMethod.Get, "/api/bulletins") { Content = new StreamContent(new MemoryStream()) };
        chunked.Headers.TransferEncodingChunked = true;
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(chunked, TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, $"/api/targets/{id}")).Item1);
    }

    [Theory]
    [InlineData("/api/bulletins?q=kerberos&q=smb", "'q' is given 2 times")]
    [InlineData("/api/computers?q=WS&Q=SRV", "'q' is given 2 times")]
    [InlineData("/api/reports/compliance/bulletins?page=1&page=2&page=3", "'page' is given 3 times")]
    public async Task a_query_parameter_given_twice_is_a_400_not_its_values_joined(string url, string detail)
    {
        // ASP.NET binds q=a&q=b as "a,b": a search for neither.
        var (status, problem) = await SendAsync(HttpMethod.Get, url);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Repeated query parameter", problem.GetProperty("title").GetString());
        Assert.StartsWith(detail, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task the_parameters_an_operation_reads_are_accepted_in_any_case()
    {
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/reports/compliance/bulletins?page=1&pageSize=10&sort=-missing&format=json&severity=Critical&knownExploited=true&q=x")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/bulletins?PAGE=1&view=latest")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/reports/delivery-summary?from=2026-01-01&to=2026-02-01&sort=policy")).Status);
    }

    [Theory]
    [InlineData("{\"managedCultures\": [\"en-US\"], \"excludedSoftwareReleases\": 7}", "$.excludedSoftwareReleases")]
    [InlineData("{\"managedCultures\": [\"en-US\"", "line 1")]
    [InlineData("not json", "line 1")]
    [InlineData("{\"managedCultures\": [\"en-US\"], \"ManagedCultures\": [\"de-DE\"]}", "gives a property twice at $.ManagedCultures")]
    [InlineData("{\"managedCultures\": [\"en-US\"], \"excludedSoftwareRelease\": []}", "does not take at $.excludedSoftwareRelease")]
    public async Task an_unreadable_body_is_a_400_with_the_place_and_no_internal_names(string body, string place)
    {
        var (status, problem) = await SendAsync(HttpMethod.Put, "/api/settings/core", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains(place, detail);
        Assert.DoesNotContain("System.", detail);
        Assert.DoesNotContain("CoreSettingsRequest", detail);
        Assert.False(problem.TryGetProperty("exception", out _));
    }

    [Fact]
    public async Task a_query_value_of_the_wrong_type_names_the_parameter()
    {
        var (status, problem) = await SendAsync(HttpMethod.Get, "/api/reports/reboot-status?pendingOnly=maybe");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("pendingOnly: 'maybe' is not true or false.", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task answers_carry_the_security_headers()
    {
        using var client = App.AnonymousClient();
        var response = await client.GetAsync("/health/live");
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
    }
}
