using Microsoft.Playwright;
using Patch.Api.Tests.Hierarchy;
using Patch.Api.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>
/// The hierarchy screen of a child in the browser: its administrator moves the link to the parent's other name (the
/// parent answers there for this child), and a URL where another server answers is refused on the page with the link
/// left where it was. Two servers of their own (parent and child, real Kestrel, their own databases) beside the console's.
/// </summary>
[Collection("console")]
public class when_an_administrator_moves_the_parent_url(ConsoleFixture console)
{
    [Fact]
    public async Task the_link_moves_only_where_the_parent_answers_for_this_server()
    {
        await using var parent = new HierarchyServer("console-hq", "patch_console_parent");
        await using var child = new HierarchyServer("console-site", "patch_console_child");
        await parent.StartAsync();
        await child.StartAsync();
        var (_, token) = await parent.SendAsync(HttpMethod.Post, "/api/hierarchy/registration-tokens", new { name = "console-site" });
        var (linked, link) = await child.SendAsync(HttpMethod.Post, "/api/hierarchy/parent", new { url = parent.BaseUrl, token = token.GetProperty("token").GetString() });
        Assert.True(linked == 200, link.ToString());

        var context = await console.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = child.BaseUrl, ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var scriptErrors = new List<string>();
        try
        {
            var page = await context.NewPageAsync();
            page.PageError += (_, e) => scriptErrors.Add(e);
            await page.GotoAsync("/sign-in");
            await page.GetByLabel("User name").FillAsync("admin");
            await page.GetByLabel("Password").FillAsync(AppFixture.TestPassword);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await page.WaitForURLAsync(url => !url.Contains("/sign-in"), new() { WaitUntil = WaitUntilState.Commit });
            await page.GotoAsync("/hierarchy", new() { WaitUntil = WaitUntilState.Commit });
            await console.ArrivedAsync(page, "**/hierarchy");
            var facts = page.Locator("section[aria-labelledby=parent] dl");
            await Expect(facts).ToContainTextAsync($"console-hq ({parent.BaseUrl})");

            // Another Patch server answers at that URL, not this server's parent: refused on the page, the link stays.
            var move = page.GetByRole(AriaRole.Form, new() { Name = "Reach the parent at another URL" });
            await move.GetByLabel("Reach the parent at").FillAsync(console.BaseUrl);
            await move.GetByRole(AriaRole.Button, new() { Name = "Change the parent's URL" }).ClickAsync();
            await Expect(move.Locator(".form-problems")).ToContainTextAsync(new System.Text.RegularExpressions.Regex("The parent refused|Not this server's parent there"));
            Assert.Equal(parent.BaseUrl, (await child.GetAsync("/api/hierarchy/parent")).GetProperty("parentUrl").GetString());

            // The parent under its other name answers for this child: the link moves, and the page shows it.
            var byName = parent.BaseUrl.Replace("127.0.0.1", "localhost");
            await move.GetByLabel("Reach the parent at").FillAsync(byName);
            await move.GetByRole(AriaRole.Button, new() { Name = "Change the parent's URL" }).ClickAsync();
            await Expect(facts).ToContainTextAsync($"console-hq ({byName})");
            Assert.Equal(byName, (await child.GetAsync("/api/hierarchy/parent")).GetProperty("parentUrl").GetString());
            await console.ScreenshotAsync(page, "hierarchy-parent-moved");
        }
        finally
        {
            await context.CloseAsync();
        }
        Assert.Empty(scriptErrors);
    }
}
