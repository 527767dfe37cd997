using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>What an administrator sees at an address whose subject does not exist, and at one whose number is none (stop 52).</summary>
[Collection("console")]
public class when_an_address_names_nothing_or_a_number_that_is_none(ConsoleFixture console)
{
    [Fact]
    public async Task a_missing_policy_or_vendor_is_the_not_found_page_with_its_404_and_a_bad_page_number_is_said_on_the_page()
    {
        await console.UserAsync("nadia", Roles.Administrator);
        var page = await console.SignInAsync("nadia");
        foreach (var (address, shot) in new[] { ("/policies/policy:nope", "missing-policy-404"), ("/settings/vendors/nope", "missing-vendor-404") })
        {
            var response = await page.GotoAsync(address);
            Assert.Equal(404, response!.Status);
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Not found" })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Back to the home page" })).ToBeVisibleAsync();
            await console.ScreenshotAsync(page, shot);
        }

        var runs = await page.GotoAsync("/server-tasks?page=abc");
        Assert.Equal(400, runs!.Status);
        await Expect(page.GetByText("page must be from 1")).ToBeVisibleAsync();
        await console.ScreenshotAsync(page, "server-tasks-page-not-a-number");
    }

    [Fact]
    public async Task a_parameter_a_page_does_not_read_is_refused_naming_it_and_its_filters_still_work()
    {
        await console.UserAsync("nadia", Roles.Administrator);
        var page = await console.SignInAsync("nadia");
        var asOf = await page.GotoAsync("/remediation-center?asOf=2026-01-01T00:00:00Z&severity=Critical");
        Assert.Equal(400, asOf!.Status);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Not a question this page answers" })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("'asOf': not a parameter of this page, which takes");
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("the API's reports answer asOf");
        await console.ScreenshotAsync(page, "remediation-center-asof-refused");
        await page.GetByRole(AriaRole.Link, new() { Name = "The page without these parameters" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/remediation-center$"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Patch Remediation Center" })).ToBeVisibleAsync();

        foreach (var (address, said) in new[]
        {
            ("/targets?counts=maybe", "'counts': 'maybe' is not true or false."),
            ("/computers?q=a&q=b", "'q' is given 2 times: give it once."),
            ("/server-tasks?after=x", "'after': not a parameter of this page, which takes page, task."),
            ("/policies/policy:nope?tab=1", "'tab': not a parameter of this page, which takes no parameters."),
        })
        {
            var response = await page.GotoAsync(address);
            Assert.Equal(400, response!.Status);
            await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync(said);
        }

        // The filters' own fields are the page's parameters: a filter submitted from the form is answered.
        await page.GotoAsync("/remediation-center");
        await page.GetByLabel("Severity", new() { Exact = true }).SelectOptionAsync("Critical");
        await page.GetByLabel("Known exploited", new() { Exact = true }).SelectOptionAsync("true");
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("severity=Critical"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Not a question this page answers" })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task a_post_to_a_page_says_why_and_custom_levels_show_their_order_buttons()
    {
        using var api = await console.ApiAsync("nadia", Roles.Administrator);
        foreach (var name in new[] { "Screen first", "Screen second" })
        {
            using var created = await api.PostAsync("/api/custom-severities", new StringContent($$"""{"name":"{{name}}"}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.True(created.StatusCode is System.Net.HttpStatusCode.Created or System.Net.HttpStatusCode.Conflict, created.StatusCode.ToString());
        }
        var page = await console.SignInAsync("nadia");
        var levels = await page.GotoAsync("/settings/custom-severities");
        Assert.Equal(200, levels!.Status);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Move Screen first down" })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Move Screen second up" })).ToBeVisibleAsync();
        await console.ScreenshotAsync(page, "custom-severities-with-levels");

        // A form posted to a page (as a stale bookmark or another tool might): the page says it is read with GET.
        var posted = page.WaitForResponseAsync(r => r.Url.EndsWith("/policies", StringComparison.Ordinal) && r.Request.Method == "POST");
        await page.EvaluateAsync("() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/policies'; document.body.appendChild(f); f.submit(); }");
        Assert.Equal(405, (await posted).Status);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Not a request this page takes" })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("is read with GET");
        await console.ScreenshotAsync(page, "post-to-a-page-405");
    }

    /// <summary>A sign-in form whose antiforgery token expired (a tab left open): shown again with the reason, nobody signed in (stop 54: an empty 400).</summary>
    [Fact]
    public async Task an_expired_sign_in_form_is_shown_again_with_the_reason()
    {
        await console.UserAsync("edith", Roles.Operator);
        var context = await console.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = console.BaseUrl, ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        try
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/sign-in");
            await page.GetByLabel("User name").FillAsync("edith");
            await page.GetByLabel("Password").FillAsync(ConsoleFixture.Password);
            // What a key ring restarted since the page was drawn does to its token.
            await page.EvaluateAsync("() => document.querySelector('input[name=__RequestVerificationToken]').value = 'expired'");
            var answer = page.WaitForResponseAsync(r => r.Url.Contains("/sign-in") && r.Request.Method == "POST");
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

            Assert.Equal(400, (await answer).Status);
            await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("This sign-in form has expired");
            await Expect(page.GetByLabel("User name")).ToBeVisibleAsync();
            Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "patch.session");
            await console.ScreenshotAsync(page, "sign-in-form-expired");
        }
        finally
        {
            await context.CloseAsync();
        }
    }
}
