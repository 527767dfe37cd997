using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

/// <summary>
/// The second black-box sweep (stop 52): a 500 on a null in a list, computers no route can reach, the console's own CSV
/// link refused, parts of a request replaced by defaults in silence, entity tags half read, refusals that named the wrong
/// thing. Each is now answered as it should be.
/// </summary>
public class when_a_second_probe_sends_what_no_client_should(AppFixture app) : SecurityTestBase(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("PUT", "/api/hierarchy/children/child:nope/policies", """{"policyIds":[null]}""", "none null or empty")]
    [InlineData("POST", "/api/policies", """{"bulletinIds":["KB5034441"],"bulletinId":"KB5034441","updateId":"u"}""", "not both")]
    [InlineData("POST", "/api/policies", """{"bulletinIds":["KB5034441","kb5034441"]}""", "is given 2 times")]
    [InlineData("POST", "/api/policies", """{"bulletinIds":["KB5034441"],"targets":[]}""", "targets: at least one")]
    [InlineData("POST", "/api/policies", """{"bulletinIds":["KB5034441"],"name":" "}""", "name: empty")]
    [InlineData("POST", "/api/users", """{"userName":"spacey","role":"auditor","password":"              "}""", "more than spaces")]
    [InlineData("PUT", "/api/server-tasks/package-cleanup/schedule", """{"cron":"0 3 * * *","timeZone":"","enabled":true}""", "timeZone: empty")]
    [InlineData("POST", "/api/auth/me/tokens", """{"name":"t","expiresAt":"never"}""", "an ISO 8601 instant with its offset")]
    [InlineData("POST", "/api/auth/me/tokens", """{"name":"t","expiresAt":"2026-12-31T00:00:00"}""", "an ISO 8601 instant with its offset")]
    [InlineData("GET", "/api/policies?asOf=2026-12-06T23:55:00", null, "with its offset")]
    [InlineData("POST", "/api/targets", "{\"name\":\"t\u0085x\",\"include\":[{\"namePattern\":\"PC-*\"}]}", "none a control character")]
    [InlineData("POST", "/api/enrolment-tokens", "{\"name\":\"e\u007fx\",\"maxUses\":1}", "none a control character")]
    [InlineData("POST", "/api/custom-severities", "{\"name\":\"s\u009b\"}", "holds a control character")]
    public async Task a_request_that_would_lose_a_part_in_silence_is_a_400_naming_it(string method, string url, string? json, string detail)
    {
        var (status, body) = await RawAsync(new HttpMethod(method), url, Utf8(json), "application/json");
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.True(body.Contains(detail), body);
    }

    [Fact]
    public async Task a_cron_cut_short_is_said_so_without_a_character_never_sent()
    {
        var (status, body) = await RawAsync(HttpMethod.Put, "/api/server-tasks/package-cleanup/schedule", """{"cron":"* * * *","timeZone":"UTC","enabled":true}"""u8.ToArray(), "application/json");
        Assert.True(status == HttpStatusCode.BadRequest, body);
        Assert.DoesNotContain("\\u0000", body);
    }

    [Fact]
    public async Task an_entity_tag_list_with_one_member_that_is_none_is_refused_whole()
    {
        var (status, body) = await RawAsync(HttpMethod.Delete, "/api/targets/target:nope", ifMatch: "junk, \"1\"");
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains("is not a list of entity tags", body);
    }

    [Fact]
    public async Task the_consoles_save_as_csv_link_of_the_remediation_center_answers()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var (status, body) = await RawAsync(HttpMethod.Get, "/api/bulletins?format=csv&pageSize=1000000");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.StartsWith("id,", body.TrimStart('\uFEFF'), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("PC-3.")]
    public async Task a_computer_no_route_could_reach_cannot_enrol(string name)
    {
        var (_, issued) = await Send(App.Client(), HttpMethod.Post, "/api/enrolment-tokens", new { name = "dots", maxUses = 1 });
        var (status, problem) = await Send(App.AnonymousClient(), HttpMethod.Post, "/agent/v1/enrol",
            new { token = issued.GetProperty("token").GetString(), computerName = name, agentVersion = "0.1.0" });
        Assert.True(status == HttpStatusCode.BadRequest, problem.ToString());
        Assert.Contains("computerName: 1 to 63", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task an_agent_asking_for_what_is_not_there_is_told_so_and_a_sign_in_sent_as_a_form_is_a_415()
    {
        var (_, issued) = await Send(App.Client(), HttpMethod.Post, "/api/enrolment-tokens", new { name = "probe", maxUses = 1 });
        var (_, enrolled) = await Send(App.AnonymousClient(), HttpMethod.Post, "/agent/v1/enrol",
            new { token = issued.GetProperty("token").GetString(), computerName = "PROBE-2", agentVersion = "0.1.0" });
        var credential = enrolled.GetProperty("credential").GetString();
        var (missing, said) = await RawAsync(HttpMethod.Get, "/agent/v1/config", bearer: credential);
        Assert.True(missing == HttpStatusCode.NotFound, $"{missing}: {said}");
        Assert.Contains("No operation answers GET /agent/v1/config", said);
        var (package, named) = await RawAsync(HttpMethod.Get, "/agent/v1/packages/nope", bearer: credential);
        Assert.True(package == HttpStatusCode.BadRequest, $"{package}: {named}");
        Assert.Contains("a SHA-256 in 64 lower-case hex digits", named);
        var (form, type) = await RawAsync(HttpMethod.Post, "/api/auth/sign-in", "userName=a&password=b"u8.ToArray(), "application/x-www-form-urlencoded", bearer: "");
        Assert.True(form == HttpStatusCode.UnsupportedMediaType, $"{form}: {type}");
    }

    [Fact]
    public async Task a_console_page_whose_subject_does_not_exist_answers_404_and_a_value_it_cannot_take_is_said_so()
    {
        await CreateUserAsync("vera", Roles.Administrator);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "vera"));
        foreach (var page in new[] { "/policies/policy:nope", "/targets/nope", "/users/nope", "/server-tasks/runs/nope", "/computers/NOPE-1", "/settings/vendors/nope" })
        {
            using var response = await browser.GetAsync(page, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{page}: {response.StatusCode}");
            var html = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(html.Contains("<h1>"), $"{page}: {html[..Math.Min(html.Length, 300)]}");
        }
        using var microsoft = await browser.GetAsync("/settings/vendors/microsoft", Ct);
        Assert.Equal(HttpStatusCode.OK, microsoft.StatusCode);

        // A console page's parameter that is no value it takes is said so on the page, never dropped as if not asked.
        foreach (var (page, said) in new[] { ("/server-tasks?page=abc", "page must be from 1"), ("/server-tasks?task=abc", "task: &#x27;abc&#x27; is not one of"),
                     ("/reports/computers-not-reporting?days=-5", "days: 1 to 3650") })
        {
            // …with the status the API gives the same question (stop 53: it was a 200).
            using var response = await browser.GetAsync(page, Ct);
            var html = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{page}: {response.StatusCode}");
            Assert.True(html.Contains(said), $"{page}: no '{said}'");
        }
        // A drill-down of a subject that does not exist is the console's "not found" page, a 404.
        using var nobody = await browser.GetAsync("/reports/compliance/computers/NOPE-1", Ct);
        Assert.Equal(HttpStatusCode.NotFound, nobody.StatusCode);
        Assert.Contains("There is no such page or item", await nobody.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task the_sign_in_page_asked_with_a_parameter_it_does_not_read_says_so_to_anyone()
    {
        using var browser = Browser();
        using var refused = await browser.GetAsync("/sign-in?returnUrl=/computers&lang=fr", Ct);
        var text = await refused.Content.ReadAsStringAsync(Ct);
        Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{refused.StatusCode}: {text}");
        Assert.Contains("&#x27;lang&#x27;: not a parameter of this page, which takes returnUrl.", text);
        using var asked = await browser.GetAsync("/sign-in?returnUrl=/computers", Ct);
        Assert.Equal(HttpStatusCode.OK, asked.StatusCode);
    }

    [Theory]
    [InlineData("/api/computers/PC%FF01", null, "The request path is not UTF-8")]
    [InlineData("/sign-in", "Input.UserName=nadia%FF&Input.Password=x", "The form is not UTF-8")]
    [InlineData("/sign-in", "Input.UserName=nadia\u00FF&Input.Password=x", "The form is not UTF-8")]
    [InlineData("/sign-in", "Input.UserName=na%01dia&Input.Password=x", "form field 'Input.UserName': a control character (U+0001)")]
    public async Task a_path_or_a_form_whose_escapes_are_no_utf8_or_hold_a_control_character_is_refused_naming_it(string url, string? form, string detail)
    {
        var (status, body) = form is null
            ? await RawAsync(HttpMethod.Get, url)
            : await RawAsync(HttpMethod.Post, url, Encoding.Latin1.GetBytes(form), "application/x-www-form-urlencoded", bearer: "");
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains(detail, body);
    }
}
