using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Playwright;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>
/// An operator removes the first of a target's two rules and adds another: the new row takes an index of its own, so
/// the target keeps the second rule and gains the new one (the new row took the removed row's count as its index, and
/// its fields were sent in place of the second rule's: that rule was lost without a word).
/// </summary>
[Collection("console")]
public class when_an_operator_edits_a_targets_rules_in_the_console(ConsoleFixture console)
{
    [Fact]
    public async Task a_rule_added_after_one_is_removed_never_takes_the_place_of_another()
    {
        var ct = TestContext.Current.CancellationToken;
        using var api = await console.ApiAsync("rules-operator", Roles.Operator);
        var created = await api.PostAsync("/api/targets", new StringContent(
            """{"name":"Front of house","include":[{"namePattern":"KIOSK-*"},{"namePattern":"LOBBY-*"}]}""", Encoding.UTF8, "application/json"), ct);
        created.EnsureSuccessStatusCode();
        var id = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(ct)).RootElement.GetProperty("id").GetString()!;

        var page = await console.SignInAsync("rules-operator");
        try
        {
            await page.GotoAsync($"/targets/{Uri.EscapeDataString(id)}");
            await page.Locator("#include-rules [data-row]").First.GetByRole(AriaRole.Button, new() { Name = "Remove this rule" }).ClickAsync();
            await page.Locator("button[data-add-row='include-rules']").ClickAsync();
            await page.Locator("#include-rules [data-row]").Last.Locator("input[name$='.namePattern']").FillAsync("SHOP-*");
            await page.Locator("#t-name").FillAsync("Front of house and shop");
            await page.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Front of house and shop" })).ToBeVisibleAsync();

            var saved = System.Text.Json.JsonDocument.Parse(await api.GetStringAsync("/api/targets", ct)).RootElement.EnumerateArray()
                .Single(t => t.GetProperty("id").GetString() == id);
            Assert.Equal(["LOBBY-*", "SHOP-*"], saved.GetProperty("include").EnumerateArray().Select(r => r.GetProperty("namePattern").GetString()));
        }
        finally
        {
            await page.Context.CloseAsync();
        }
        Assert.Empty(console.ScriptErrors);
    }

    /// <summary>A target replicated from the parent server is shown read-only: no Save, Preview or Delete to be refused with a 409.</summary>
    [Fact]
    public async Task a_target_replicated_from_the_parent_is_shown_read_only()
    {
        var ct = TestContext.Current.CancellationToken;
        await console.UserAsync("replica-admin", Roles.Administrator);
        var id = $"target:{Guid.NewGuid():N}";
        var store = console.Factory.Services.GetRequiredService<Marten.IDocumentStore>();
        await using (var session = store.LightweightSession())
        {
            session.Events.StartStream<Patch.Domain.Targets.Target>(id, new Patch.Domain.Targets.TargetReplicated(id, "hq", "HQ kiosks",
                [new Patch.Domain.Targets.TargetRule(NamePattern: "KIOSK-*")], []));
            await session.SaveChangesAsync(ct);
        }
        var page = await console.SignInAsync("replica-admin");
        try
        {
            await page.GotoAsync($"/targets/{Uri.EscapeDataString(id)}");
            await Expect(page.GetByText("Replicated from the parent server 'hq'")).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Save changes" })).ToBeHiddenAsync();
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Delete target" })).ToBeHiddenAsync();
            await Expect(page.Locator("#t-name")).ToBeDisabledAsync();
            await page.GotoAsync("/targets");
            await Expect(page.Locator("tr", new() { HasText = "HQ kiosks" })).ToContainTextAsync("replicated from hq");
        }
        finally
        {
            await page.Context.CloseAsync();
        }
        Assert.Empty(console.ScriptErrors);
    }
}
