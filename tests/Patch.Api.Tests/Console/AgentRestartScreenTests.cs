using System.Net.Http.Headers;
using System.Text;
using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>
/// An agent configuration's reboot settings on its page: when the agent may not restart the computer, when it would is
/// not asked (the "Restart" choice hides, and keeps its value) — the page cannot say both "allowed" and "never" — and what
/// is saved is read back.
/// </summary>
[Collection("console")]
public class when_the_agent_may_not_restart_the_computer(ConsoleFixture console)
{
    [Fact]
    public async Task the_restart_choice_hides_and_the_setting_is_saved()
    {
        using var api = await console.ApiAsync("rita", Roles.Administrator);
        var ct = TestContext.Current.CancellationToken;
        var all = System.Text.Json.JsonDocument.Parse(await api.GetStringAsync("/api/agent-configurations", ct)).RootElement;
        var defaultId = all.EnumerateArray().First(c => c.GetProperty("isDefault").GetBoolean()).GetProperty("id").GetString()!;
        // A clone of the default one for every computer with an agent (removed at the end: the console's other tests run agents).
        var clone = await api.PostAsync($"/api/agent-configurations/{Uri.EscapeDataString(defaultId)}/clone",
            new StringContent("""{"name":"Kiosk restarts","targets":["builtin:all-with-agent"],"priority":50}""", Encoding.UTF8, "application/json"), ct);
        clone.EnsureSuccessStatusCode();
        var id = System.Text.Json.JsonDocument.Parse(await clone.Content.ReadAsStringAsync(ct)).RootElement.GetProperty("id").GetString()!;

        var page = await console.SignInAsync("rita");
        try
        {
            await page.GotoAsync($"/agent-configurations/{Uri.EscapeDataString(id)}");
            var allow = page.GetByLabel("Allow the agent to restart the computer");
            await Expect(allow).ToBeCheckedAsync();
            await Expect(page.GetByLabel("Restart", new() { Exact = true })).ToBeVisibleAsync();
            await allow.UncheckAsync();
            await Expect(page.GetByLabel("Restart", new() { Exact = true })).ToBeHiddenAsync();
            // Saving reloads the page: the answer to the PUT, then the page drawn again (asserted on below, not the one edited).
            var put = page.WaitForResponseAsync(r => r.Request.Method == "PUT" && r.Url.Contains("/api/agent-configurations/", StringComparison.Ordinal));
            var reload = page.WaitForResponseAsync(r => r.Request.IsNavigationRequest && r.Request.Method == "GET");
            await page.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
            Assert.Equal(200, (await put).Status);
            await reload;
            await page.WaitForLoadStateAsync(LoadState.Load);

            // Not allowed to restart; when it would, were it allowed, is kept as it was (not reset to "never").
            var reboot = System.Text.Json.JsonDocument.Parse(await api.GetStringAsync($"/api/agent-configurations/{Uri.EscapeDataString(id)}", ct))
                .RootElement.GetProperty("settings").GetProperty("reboot");
            Assert.False(reboot.GetProperty("allowReboot").GetBoolean());
            Assert.Equal("EndOfCycle", reboot.GetProperty("mode").GetString());
            await Expect(page.GetByLabel("Allow the agent to restart the computer")).Not.ToBeCheckedAsync();
            await Expect(page.GetByLabel("Restart", new() { Exact = true })).ToBeHiddenAsync();
        }
        finally
        {
            await page.Context.CloseAsync();
            (await api.DeleteAsync($"/api/agent-configurations/{Uri.EscapeDataString(id)}", CancellationToken.None)).EnsureSuccessStatusCode();
        }
    }
}
