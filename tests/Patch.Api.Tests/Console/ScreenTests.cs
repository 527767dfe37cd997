using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Deque.AxeCore.Playwright;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>Every screen of the console, filled by the demo data: it renders, axe finds no serious or critical problem, and its picture is kept.</summary>
[Collection("console")]
public class when_every_screen_is_opened(ConsoleFixture console)
{
    [Fact]
    public async Task each_renders_real_data_passes_axe_and_is_saved_as_a_screenshot()
    {
        await console.UserAsync("screens-admin", Roles.Administrator);
        var ids = await IdsAsync();
        var screens = new Dictionary<string, string>
        {
            ["/"] = "home",
            ["/remediation-center"] = "remediation-center",
            ["/bulletins/{Id}"] = $"/bulletins/{ids["bulletin"]}",
            ["/policies"] = "policies",
            ["/policies/new"] = $"/policies/new?bulletin={ids["bulletin"]}",
            ["/policies/{Id}"] = $"/policies/{ids["policy"]}",
            ["/targets"] = "targets",
            ["/targets/{Id}"] = $"/targets/{ids["target"]}",
            ["/maintenance-windows"] = "maintenance-windows",
            ["/computers"] = "computers",
            ["/computers/{Name}"] = "/computers/WS-060",
            ["/computers/enrolment-tokens"] = "computers/enrolment-tokens",
            ["/agent-configurations"] = "agent-configurations",
            ["/agent-configurations/{Id}"] = $"/agent-configurations/{ids["configuration"]}",
            ["/reports/compliance/bulletins"] = "reports/compliance/bulletins",
            ["/reports/compliance/bulletins/{Key}"] = $"/reports/compliance/bulletins/{ids["bulletin"]}",
            ["/reports/compliance/computers"] = "reports/compliance/computers",
            ["/reports/compliance/computers/{Key}"] = "/reports/compliance/computers/WS-060",
            ["/reports/compliance/updates"] = "reports/compliance/updates",
            ["/reports/compliance/trend"] = "reports/compliance/trend",
            ["/reports/compliance/updates/{Key}"] = $"/reports/compliance/updates/{Uri.EscapeDataString(ids["update"])}",
            ["/reports/vulnerabilities"] = "reports/vulnerabilities",
            ["/reports/vulnerabilities/products"] = "reports/vulnerabilities/products",
            ["/reports/delivery-summary"] = "reports/delivery-summary",
            ["/reports/reboot-status"] = "reports/reboot-status",
            ["/reports/computers-not-reporting"] = "reports/computers-not-reporting",
            ["/reports/agent-versions"] = "reports/agent-versions",
            ["/reports/seat-usage"] = "reports/seat-usage",
            ["/reports/superseded-bulletins"] = "reports/superseded-bulletins",
            ["/server-tasks"] = "server-tasks",
            ["/hierarchy"] = "hierarchy",
            ["/audit"] = "audit",
            ["/server-tasks/runs/{Id}"] = $"/server-tasks/runs/{ids["run"]}",
            ["/server-tasks/catalog-import"] = "server-tasks/catalog-import",
            ["/settings/vendors/{Vendor}"] = "/settings/vendors/microsoft",
            ["/settings/core"] = "settings/core",
            ["/settings/custom-severities"] = "settings/custom-severities",
            ["/users"] = "users",
            ["/users/{Name}"] = "/users/admin",
            ["/account"] = "account",
            ["/not-found"] = "not-found",
            ["/access-denied"] = "access-denied",
        };

        // Every console page of the application's route table is in the list above: a new screen must be added to it.
        var pages = console.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Components.Endpoints.ComponentTypeMetadata>() is not null)
            .Select(e => "/" + e.RoutePattern.RawText!.Trim('/')).Where(p => p is not "/sign-in" and not "/_framework/opaque-redirect").ToHashSet();
        Assert.Empty(pages.Except(screens.Keys));

        var page = await console.SignInAsync("screens-admin");
        var problems = new List<string>();
        try
        {
            foreach (var (route, target) in screens)
            {
                var url = target.StartsWith('/') ? target : "/" + (target == "home" ? "" : target);
                var response = await page.GotoAsync(url);
                const int expected = 200;
                if (response?.Status != expected) problems.Add($"{url}: HTTP {response?.Status}: {(await page.ContentAsync())[..Math.Min(3000, (await page.ContentAsync()).Length)]}");
                if (await page.Locator(".problem").CountAsync() > 0 && route != "/policies/new")
                    problems.Add($"{url}: shows a problem: {await page.Locator(".problem").First.TextContentAsync()}");
                var axe = await page.RunAxe();
                foreach (var v in axe.Violations.Where(v => v.Impact is "serious" or "critical"))
                    problems.Add($"{url}: axe {v.Impact} {v.Id}: {v.Help} ({string.Join(" | ", v.Nodes.Take(3).Select(n => n.Html))})");
                var name = route == "/" ? "home" : route.Trim('/').Replace('/', '-').Replace("{", "").Replace("}", "");
                await console.ScreenshotAsync(page, name);
            }
        }
        finally
        {
            await page.Context.CloseAsync();
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems) + "\n" + string.Join("\n", console.ServerErrors.Errors));
        Assert.Empty(console.ScriptErrors);

        // The README shows two of them: PATCH_UPDATE_SCREENSHOTS=1 refreshes docs/screenshots.
        if (Environment.GetEnvironmentVariable("PATCH_UPDATE_SCREENSHOTS") == "1")
            foreach (var shot in new[] { "home", "remediation-center" })
                File.Copy(Path.Combine(console.Screenshots, shot + ".png"), SharedData.RepoFile($"docs/screenshots/{shot}.png"), overwrite: true);
    }

    [Fact]
    public async Task the_demo_shows_something_real_on_its_main_screens()
    {
        await console.UserAsync("demo-reader", Roles.Auditor);
        var page = await console.SignInAsync("demo-reader");
        try
        {
            await page.GotoAsync("/");
            var withAgent = await page.Locator("#wp-configuration ~ dl dt:has-text('With an agent') + dd").TextContentAsync();
            Assert.True(int.Parse(withAgent!, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture) >= 200, withAgent);
            await Expect(page.Locator("#wp-top + .table-wrap tbody tr")).Not.ToHaveCountAsync(0);
            await page.GotoAsync("/reports/delivery-summary");
            await Expect(page.Locator("tbody tr", new() { HasText = "February 2024 cumulative update" })).ToHaveCountAsync(1);
            await page.GotoAsync("/reports/reboot-status");
            await Expect(page.Locator("caption")).Not.ToHaveTextAsync("0 computers");
            await page.GotoAsync("/maintenance-windows");
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Servers: Sunday night" })).ToBeVisibleAsync();
            await page.GotoAsync("/remediation-center?staged=true");
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "KB5034763", Exact = true })).ToBeVisibleAsync();
            // Products beyond Windows: read from the registry on a Server 2022, inferred from the build on a Windows 10.
            await page.GotoAsync("/computers/SRV-010");
            await Expect(page.Locator("#products ~ .table-wrap tbody tr", new() { HasText = "Microsoft SQL Server 2022 (MSSQLSERVER)" })).ToContainTextAsync("16.0.4095.4");
            await page.GotoAsync("/computers/WS-001");
            await Expect(page.Locator("#products ~ .table-wrap tbody tr", new() { HasText = ".NET Framework" })).ToContainTextAsync("inferred");
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    private async Task<Dictionary<string, string>> IdsAsync()
    {
        using var api = new HttpClient { BaseAddress = new Uri(console.BaseUrl) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await console.TokenAsync("screens-admin"));
        async Task<JsonElement> Get(string url) => JsonDocument.Parse(await api.GetStringAsync(url)).RootElement.Clone();
        var policy = (await Get("/api/policies")).GetProperty("items").EnumerateArray().First();
        var target = (await Get("/api/targets")).EnumerateArray().First(t => !t.GetProperty("builtIn").GetBoolean());
        var configuration = (await Get("/api/agent-configurations")).EnumerateArray().First(c => !c.GetProperty("isDefault").GetBoolean());
        var run = (await Get("/api/server-tasks/runs?task=staging")).GetProperty("items").EnumerateArray().First();
        var update = (await Get("/api/reports/compliance/updates?pageSize=1")).GetProperty("items").EnumerateArray().First();
        return new Dictionary<string, string>
        {
            ["bulletin"] = "microsoft:KB5034763",
            ["policy"] = policy.GetProperty("id").GetString()!,
            ["target"] = target.GetProperty("id").GetString()!,
            ["configuration"] = configuration.GetProperty("id").GetString()!,
            ["run"] = run.GetProperty("id").GetString()!,
            ["update"] = update.GetProperty("updateKey").GetString()!,
        };
    }
}
