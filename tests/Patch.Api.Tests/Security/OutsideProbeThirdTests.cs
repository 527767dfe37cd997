using System.Net;
using System.Text;
using Patch.Api.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

/// <summary>
/// The third black-box sweep (stop 53): a console page that failed once it had something to show, a damaged bundle, a
/// server linked to itself, references and required fields taken on trust. Each is now answered as it should be.
/// </summary>
public class when_a_third_probe_sends_what_no_client_should(AppFixture app) : SecurityTestBase(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task the_custom_severity_page_with_levels_answers_with_their_up_and_down_buttons()
    {
        foreach (var name in new[] { "Sweep first", "Sweep second" })
        {
            var (created, body) = await RawAsync(HttpMethod.Post, "/api/custom-severities", Utf8($$"""{"name":"{{name}}"}"""), "application/json");
            Assert.True(created is HttpStatusCode.Created or HttpStatusCode.Conflict, $"{created}: {body}");
        }
        await CreateUserAsync("sami", Roles.Administrator);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "sami"));
        using var page = await browser.GetAsync("/settings/custom-severities", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.True(page.StatusCode == HttpStatusCode.OK, $"{page.StatusCode}: {html[..Math.Min(300, html.Length)]}");
        Assert.Contains("Move Sweep first down", html);
        Assert.Contains("Move Sweep second up", html);
    }

    [Theory]
    [InlineData("isServer", "servicePack")]
    [InlineData("servicePack")]
    public async Task an_inventory_that_leaves_out_a_number_or_a_yes_or_no_is_refused_naming_it_not_read_as_zero(params string[] left)
    {
        var inventory = new Patch.Agent.Inventory.FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/10_22H2_x64_enterprise_en-us_systeminfo.txt")).Read();
        var fields = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(inventory, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)))!.AsObject();
        foreach (var name in left) Assert.True(fields.Remove(name), name);
        var line = $$"""{"name":"REQ-{{left.Length}}","inventory":{{fields.ToJsonString()}}}""";
        var (status, body) = await RawAsync(HttpMethod.Post, "/api/computers/inventories", Utf8(line + "\n"), "application/x-ndjson");
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        foreach (var name in left) Assert.Contains(name, body);
        Assert.Contains("(required)", body);
        Assert.DoesNotContain("Patch.", body);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/api/computers/REQ-{left.Length}")).Status);
    }

    [Fact]
    public async Task head_is_answered_wherever_get_is_with_its_status_and_no_body()
    {
        foreach (var (url, expected) in new[] { ("/api/policies", HttpStatusCode.OK), ("/api/policies/policy:nope", HttpStatusCode.NotFound), ("/api/policies?colour=red", HttpStatusCode.BadRequest) })
        {
            var (status, body) = await RawAsync(HttpMethod.Head, url);
            Assert.True(status == expected, $"HEAD {url}: {status}");
            Assert.Equal("", body);
        }
        await CreateUserAsync("hedda", Roles.Auditor);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "hedda"));
        using var page = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/policies"), Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Empty(await page.Content.ReadAsByteArrayAsync(Ct));
        // Still not a way to change anything: a POST to a page is refused as before.
        using var post = await browser.PostAsync("/policies", new StringContent(""), Ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        // …with a page that says why (it had no body).
        Assert.Contains("is read with GET", await post.Content.ReadAsStringAsync(Ct));
        using var form = await browser.PostAsync("/sign-in", new FormUrlEncodedContent([new("Input.UserName", "x")]), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, form.StatusCode);
        Assert.NotEmpty(await form.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task a_percent_that_starts_no_escape_in_the_path_is_refused()
    {
        var (status, body) = await RawAsync(HttpMethod.Get, "/api/computers/PC%G1");
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains("The request path has '%G1'", body);
    }

    /// <summary>A query string as Kestrel passes it on (an HttpClient would escape the '%' itself before sending).</summary>
    [Theory]
    [InlineData("?q=%zz", "The query string has '%zz'")]
    [InlineData("?q=50%", "The query string has '%'")]
    [InlineData("?q=%4", "The query string has '%4'")]
    public async Task a_percent_that_starts_no_escape_in_the_query_is_refused_not_searched_for(string query, string detail)
    {
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext
        {
            RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider(),
        };
        http.Request.Path = "/api/bulletins";
        http.Request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query);
        http.Response.Body = new MemoryStream();
        var reached = false;
        await Patch.Application.Common.RequestText.InvokeAsync(http, _ => { reached = true; return Task.CompletedTask; });
        http.Response.Body.Position = 0;
        var body = await new StreamReader(http.Response.Body).ReadToEndAsync(Ct);
        Assert.False(reached, body);
        Assert.Equal(400, http.Response.StatusCode);
        Assert.Contains(detail, body);
    }

    [Fact]
    public async Task csv_asked_by_accept_links_its_next_page_as_csv_and_a_quality_of_zero_is_no_csv()
    {
        await ComputersAsync("ACCEPT-1", "ACCEPT-2");
        using var client = App.Client("dana");
        using var csv = new HttpRequestMessage(HttpMethod.Get, "/api/computers?q=ACCEPT-&pageSize=1");
        csv.Headers.Accept.ParseAdd("text/csv");
        using var first = await client.SendAsync(csv, Ct);
        Assert.Equal("text/csv", first.Content.Headers.ContentType?.MediaType);
        Assert.True(first.Headers.TryGetValues("Link", out var links), "no Link");
        Assert.Contains("format=csv", Assert.Single(links));
        using var refused = new HttpRequestMessage(HttpMethod.Get, "/api/computers?q=ACCEPT-&pageSize=1");
        refused.Headers.Accept.ParseAdd("text/csv;q=0");
        refused.Headers.Accept.ParseAdd("application/json");
        using var json = await client.SendAsync(refused, Ct);
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task a_cursor_asked_with_other_filters_or_another_asof_is_refused_not_read_as_that_lists_page()
    {
        await ComputersAsync("CURSOR-1", "CURSOR-2", "CURSOR-3");
        var first = await GetJsonAsync("/api/computers?q=CURSOR-&pageSize=1");
        var next = Uri.EscapeDataString(first.GetProperty("next").GetString()!);
        var same = await GetJsonAsync($"/api/computers?q=CURSOR-&pageSize=1&after={next}");
        Assert.Equal(2, same.GetProperty("page").GetInt32());
        foreach (var other in new[] { $"q=CURSOR-2&pageSize=1&after={next}", $"q=CURSOR-&pageSize=1&after={next}&asOf={Uri.EscapeDataString(DateTimeOffset.UtcNow.ToString("O"))}" })
        {
            var (status, body) = await RawAsync(HttpMethod.Get, $"/api/computers?{other}");
            Assert.True(status == HttpStatusCode.BadRequest, $"{other}: {status}: {body}");
            Assert.Contains("this cursor continues the same report asked otherwise", body);
        }
    }

    [Fact]
    public async Task a_subject_missing_at_an_instant_is_said_missing_then_and_a_control_character_in_a_computers_system_is_refused()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var before = Uri.EscapeDataString(DateTimeOffset.UtcNow.ToString("O"));
        await Task.Delay(50, Ct);
        Assert.True((await SendAsync(HttpMethod.Post, "/api/computers", new { name = "THEN-1" })).Status is HttpStatusCode.Created or HttpStatusCode.OK);
        var (status, body) = await RawAsync(HttpMethod.Get, $"/api/computers/THEN-1/deliveries?asOf={before}");
        Assert.True(status == HttpStatusCode.NotFound, $"{status}: {body}");
        Assert.Contains("No computer 'THEN-1' then (asOf).", body);
        var (os, refusal) = await RawAsync(HttpMethod.Post, "/api/computers", Utf8("{\"name\":\"CTRL-OS\",\"operatingSystem\":\"Windows\u0085 11\"}"), "application/json");
        Assert.True(os == HttpStatusCode.BadRequest, $"{os}: {refusal}");
        Assert.Contains("no control characters", refusal);
    }
}
