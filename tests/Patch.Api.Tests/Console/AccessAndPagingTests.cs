using System.Net.Http.Headers;
using System.Text;
using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

[Collection("console")]
public class when_people_with_different_roles_use_the_console(ConsoleFixture console)
{
    [Fact]
    public async Task an_auditor_sees_no_action_and_the_server_refuses_a_change_sent_anyway()
    {
        await console.UserAsync("audrey", Roles.Auditor);
        var page = await console.SignInAsync("audrey");
        try
        {
            await page.GotoAsync("/remediation-center");
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "KB5034763", Exact = true })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Stage", Exact = true })).ToHaveCountAsync(0);
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Create Software Update policy" })).ToHaveCountAsync(0);
            await page.GotoAsync("/bulletins/KB5034763");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Stage" })).ToHaveCountAsync(0);
            // What a bulletin supersedes is named; only an imported bulletin is a link (no page has the others).
            await page.GotoAsync("/bulletins/KB5034123");
            await Expect(page.Locator("dd", new() { HasText = "KB5033375" })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "KB5033375" })).ToHaveCountAsync(0);
            await page.GotoAsync("/settings/core");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Save settings" })).ToHaveCountAsync(0);
            await page.GotoAsync("/users");
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Create user" })).ToHaveCountAsync(0);

            // The same request the operator's button makes, with the page's antiforgery token: the role decides, not the page.
            var answer = await page.EvaluateAsync<string>("""
                async () => { const r = await fetch('/api/bulletins/stage', { method: 'POST', credentials: 'same-origin',
                    headers: { 'Content-Type': 'application/json', 'X-Patch-Antiforgery': document.querySelector('meta[name="patch-antiforgery"]').content },
                    body: JSON.stringify({ bulletinIds: ['KB5034441'] }) }); return r.status + ' ' + r.url + ' ' + await r.text(); }
                """);
            Assert.StartsWith("403 ", answer);
            // An operator-only page is refused too.
            await page.GotoAsync("/policies/new?bulletin=KB5034441");
            await console.ArrivedAsync(page, "**/access-denied*");
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Not allowed" })).ToBeVisibleAsync();
            await Expect(page.Locator("main")).ToContainTextAsync("does not allow the page /policies/new:");
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task a_control_used_while_the_console_script_is_still_on_its_way_is_not_lost()
    {
        await console.UserAsync("early", Roles.Operator);
        var page = await console.SignInAsync("early");
        try
        {
            // The console's script held back, as on a slow link: the page must not offer a control before the script that
            // makes it work has run (a deferred script left the controls painted and dead meanwhile).
            await page.RouteAsync("**/console/patch.js*", async route =>
            {
                await Task.Delay(1500);
                await route.ContinueAsync();
            });
            await page.GotoAsync("/remediation-center", new() { WaitUntil = WaitUntilState.Commit });
            await page.Locator("input[data-select-all=rows]").ClickAsync();
            await Expect(page.Locator("input[type=checkbox][data-select=rows]").First).ToBeCheckedAsync();
            Assert.Equal(0, await page.Locator("input[type=checkbox][data-select=rows]:not(:checked)").CountAsync());
            Assert.True(await page.Locator("input[type=checkbox][data-select=rows]").CountAsync() > 1);
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    [Fact]
    public async Task a_wrong_password_is_refused_on_the_page_and_signing_out_ends_the_session()
    {
        await console.UserAsync("sid", Roles.Operator);
        var context = await console.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = console.BaseUrl });
        var page = await context.NewPageAsync();
        try
        {
            // A page asked for without a session leads to the sign-in page, and back to it afterwards.
            await page.GotoAsync("/reports/reboot-status");
            await console.ArrivedAsync(page, "**/sign-in?returnUrl=*");
            await page.GetByLabel("User name").FillAsync("sid");
            await page.GetByLabel("Password").FillAsync("not the right one at all");
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("wrong");
            await page.GetByLabel("Password").FillAsync(ConsoleFixture.Password);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await console.ArrivedAsync(page, "**/reports/reboot-status");

            await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
            await console.ArrivedAsync(page, "**/sign-in");
            await page.GotoAsync("/");
            await console.ArrivedAsync(page, "**/sign-in?returnUrl=*");
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    [Fact]
    public async Task ten_thousand_computers_page_on_the_server()
    {
        await console.UserAsync("paging-admin", Roles.Administrator);
        using var api = new HttpClient { BaseAddress = new Uri(console.BaseUrl), Timeout = TimeSpan.FromMinutes(5) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await console.TokenAsync("paging-admin"));
        var csv = new StringBuilder("name,domain,os,mac\n");
        for (var i = 1; i <= 10_000; i++) csv.Append($"PAGE-{i:D5},paging.example,Windows 11,\n");
        var imported = await api.PostAsync("/api/computers/import", new StringContent(csv.ToString(), Encoding.UTF8, "text/csv"));
        Assert.True(imported.IsSuccessStatusCode, await imported.Content.ReadAsStringAsync());

        var page = await console.SignInAsync("paging-admin");
        try
        {
            await page.GotoAsync("/computers?q=PAGE-");
            await Expect(page.Locator("caption")).ToHaveTextAsync("10,000 computers");
            await Expect(page.Locator("tbody tr")).ToHaveCountAsync(50);
            await Expect(page.Locator("tbody tr").First).ToContainTextAsync("PAGE-00001");
            await page.GetByRole(AriaRole.Link, new() { Name = "Next" }).ClickAsync();
            await Expect(page.Locator("tbody tr").First).ToContainTextAsync("PAGE-00051");
            await Expect(page.GetByText("Page 2 of 200")).ToBeVisibleAsync();
            await page.GotoAsync("/computers?q=PAGE-&page=200");
            await Expect(page.Locator("tbody tr").Last).ToContainTextAsync("PAGE-10000");
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Next" })).ToHaveCountAsync(0);
            // Sorting is on the server too: the last name first.
            await page.GotoAsync("/computers?q=PAGE-");
            await page.GetByRole(AriaRole.Link, new() { Name = "Name" }).ClickAsync();
            await Expect(page.Locator("tbody tr").First).ToContainTextAsync("PAGE-10000");
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }
}
