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
        Assert.Equal(200, runs!.Status);
        await Expect(page.GetByText("page must be from 1")).ToBeVisibleAsync();
        await console.ScreenshotAsync(page, "server-tasks-page-not-a-number");
    }
}
