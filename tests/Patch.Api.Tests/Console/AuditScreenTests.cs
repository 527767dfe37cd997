using System.Net.Http.Headers;
using System.Text;
using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>
/// The audit page's "What changed" in words: a target's rules (lists of objects, answered by the API as JSON text) read
/// as their criteria, an empty list as "(none)" — while the API and its CSV keep the JSON.
/// </summary>
[Collection("console")]
public class when_the_audit_shows_a_changed_list(ConsoleFixture console)
{
    [Fact]
    public async Task its_items_read_in_words()
    {
        using var api = await console.ApiAsync("aude", Roles.Administrator);
        var ct = TestContext.Current.CancellationToken;
        var created = await api.PostAsync("/api/targets",
            new StringContent("""{"name":"Audit words","include":[{"namePattern":"AUD-*"}]}""", Encoding.UTF8, "application/json"), ct);
        created.EnsureSuccessStatusCode();
        var id = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(ct)).RootElement.GetProperty("id").GetString()!;
        (await api.PutAsync($"/api/targets/{Uri.EscapeDataString(id)}", new StringContent(
            """{"name":"Audit words","include":[{"namePattern":"AUD-*"},{"computers":["AUD-1","AUD-2"]}],"exclude":[{"operatingSystemContains":"Server"}]}""",
            Encoding.UTF8, "application/json"), ct)).EnsureSuccessStatusCode();

        // The API answers the lists as JSON text.
        var audit = System.Text.Json.JsonDocument.Parse(await api.GetStringAsync($"/api/audit?stream={Uri.EscapeDataString(id)}", ct)).RootElement;
        var include = audit.GetProperty("items")[0].GetProperty("changes").EnumerateArray().Single(c => c.GetProperty("field").GetString() == "include");
        Assert.StartsWith("[", include.GetProperty("after").GetString());

        var page = await console.SignInAsync("aude");
        try
        {
            await page.GotoAsync($"/audit?stream={Uri.EscapeDataString(id)}");
            var changes = page.Locator("tbody tr").First.Locator("td.changes");
            await Expect(changes).ToContainTextAsync("include: name pattern: AUD-* → name pattern: AUD-*; computers: (AUD-1, AUD-2)");
            await Expect(changes).ToContainTextAsync("exclude: (none) → operating system contains: Server");
            await Expect(changes).Not.ToContainTextAsync("[{");
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>
    /// The audit reads newest first while events keep coming: "Next" keeps the first page's end, so the rows newer events
    /// pushed down are not shown again on the next page (an offset alone showed them twice).
    /// </summary>
    [Fact]
    public async Task its_next_page_does_not_show_again_what_newer_events_pushed_down()
    {
        using var api = await console.ApiAsync("aude", Roles.Administrator);
        var ct = TestContext.Current.CancellationToken;
        async Task CreateAsync(string name) => (await api.PostAsync("/api/targets",
            new StringContent($$"""{"name":"{{name}}","include":[{"namePattern":"PIN-*"}]}""", Encoding.UTF8, "application/json"), ct)).EnsureSuccessStatusCode();
        foreach (var n in new[] { "Pin 1", "Pin 2", "Pin 3" }) await CreateAsync(n);

        var page = await console.SignInAsync("aude");
        try
        {
            await page.GotoAsync("/audit?type=target_defined&pageSize=2");
            var first = await page.Locator("tbody tr td.id a").EvaluateAllAsync<string[]>("links => links.map(a => a.title)");
            Assert.Equal(2, first.Length);
            foreach (var n in new[] { "Pin 4", "Pin 5" }) await CreateAsync(n);
            await page.GetByRole(AriaRole.Link, new() { Name = "Next" }).ClickAsync();
            await Expect(page.Locator("nav.pager")).ToContainTextAsync("Page 2");
            var second = await page.Locator("tbody tr td.id a").EvaluateAllAsync<string[]>("links => links.map(a => a.title)");
            Assert.NotEmpty(second);
            Assert.Empty(first.Intersect(second));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
        Assert.Empty(console.ScriptErrors);
    }
}
