using System.Net.Http.Headers;
using System.Text;
using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>
/// Two operators with the same target open: the second one's save, drawn from the version before the first one's, is
/// refused on the page with the reason — not written over the first one's change — and goes through once reloaded.
/// </summary>
[Collection("console")]
public class when_two_operators_edit_the_same_target_in_the_console(ConsoleFixture console)
{
    [Fact]
    public async Task the_later_save_of_a_stale_page_is_refused_and_the_earlier_change_kept()
    {
        await console.UserAsync("tina", Roles.Operator);
        await console.UserAsync("tom", Roles.Operator);
        using var api = new HttpClient { BaseAddress = new Uri(console.BaseUrl) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await console.TokenAsync("tina"));
        var created = await api.PostAsync("/api/targets", new StringContent("""{"name":"Kiosks","include":[{"namePattern":"KIOSK-*"}]}""", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        created.EnsureSuccessStatusCode();
        var id = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("id").GetString()!;

        var tina = await console.SignInAsync("tina");
        var tom = await console.SignInAsync("tom");
        try
        {
            await tina.GotoAsync($"/targets/{Uri.EscapeDataString(id)}");
            await tom.GotoAsync($"/targets/{Uri.EscapeDataString(id)}");

            await tina.Locator("#t-name").FillAsync("Kiosks (lobby)");
            await tina.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
            await Expect(tina.GetByRole(AriaRole.Heading, new() { Name = "Kiosks (lobby)" })).ToBeVisibleAsync();

            await tom.Locator("#t-name").FillAsync("Kiosks (shop)");
            await tom.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
            await Expect(tom.GetByRole(AriaRole.Alert)).ToContainTextAsync("Precondition failed");
            await Expect(tom.GetByRole(AriaRole.Alert)).ToContainTextAsync("It was changed since it was read");
            await console.ScreenshotAsync(tom, "target-stale-save-refused");

            await tom.ReloadAsync();
            await Expect(tom.Locator("#t-name")).ToHaveValueAsync("Kiosks (lobby)");
            await tom.Locator("#t-name").FillAsync("Kiosks (lobby and shop)");
            await tom.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
            await Expect(tom.GetByRole(AriaRole.Heading, new() { Name = "Kiosks (lobby and shop)" })).ToBeVisibleAsync();
            // The preview, another operation of the same form, is not sent with the form's tag.
            await tom.GetByRole(AriaRole.Button, new() { Name = "Preview members" }).ClickAsync();
            await Expect(tom.Locator("#preview")).ToBeVisibleAsync();
        }
        finally
        {
            await tina.Context.CloseAsync();
            await tom.Context.CloseAsync();
        }
        Assert.Empty(console.ScriptErrors);
    }
}
