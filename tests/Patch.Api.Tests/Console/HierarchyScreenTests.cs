using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>
/// The hierarchy screen in the browser: an administrator creates a registration token, a child server registers with
/// it (through the registration route, as a real child does) needing a culture this server does not manage; the
/// screen shows the child with its language alert, and the roll-up shows this server's fleet.
/// </summary>
[Collection("console")]
public class when_an_administrator_opens_the_hierarchy(ConsoleFixture console)
{
    [Fact]
    public async Task a_registration_token_made_in_the_console_registers_a_child_shown_with_its_language_alert()
    {
        await console.UserAsync("hierarchy-admin", Roles.Administrator);
        var page = await console.SignInAsync("hierarchy-admin");
        try
        {
            await page.GotoAsync("/hierarchy");
            await Expect(page.GetByText("This server has no parent.")).ToBeVisibleAsync();
            await page.GetByLabel("Name", new() { Exact = true }).FillAsync("Console child");
            await page.GetByRole(AriaRole.Button, new() { Name = "Create registration token" }).ClickAsync();
            await Expect(page.Locator("#registration-issued code")).ToContainTextAsync("child-token:");
            var token = await page.Locator("#registration-issued code").TextContentAsync();
            Assert.StartsWith("child-token:", token);

            using var child = new HttpClient { BaseAddress = new Uri(console.BaseUrl) };
            var registered = await child.PostAsync("/replication/v1/register", new StringContent(JsonSerializer.Serialize(new
            {
                token, name = "console-child", url = "https://child.example", cultures = new[] { "en-US", "ja-JP" },
            }), Encoding.UTF8, "application/json"));
            Assert.True(registered.IsSuccessStatusCode, await registered.Content.ReadAsStringAsync());
            Assert.True(registered.Headers.Contains("X-Patch-Signature"));

            await page.ReloadAsync();
            var row = page.Locator("section[aria-labelledby=children] tbody tr", new() { HasText = "console-child" });
            await Expect(row).ToContainTextAsync("Language alert: this server does not manage ja-JP");
            await Expect(page.Locator("section[aria-labelledby=new-registration] li", new() { HasText = "Console child" })).ToContainTextAsync("used");
            var computers = await page.Locator("section[aria-labelledby=rollup] tbody tr", new() { HasText = "This server" }).Locator("td").Nth(1).TextContentAsync();
            Assert.True(int.Parse(computers!, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture) >= 200, computers);
            await console.ScreenshotAsync(page, "hierarchy-child-with-alert");
        }
        finally
        {
            await page.Context.CloseAsync();
        }
        Assert.Empty(console.ScriptErrors);
    }
}
