using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Patch.Agent;
using Patch.Api.Tests.Cycle;
using Patch.Api.Tests.Staging;
using Patch.Domain.Agents;
using Patch.Domain.Cycle;
using Patch.Domain.Users;
using static Microsoft.Playwright.Assertions;

namespace Patch.Api.Tests.Console;

/// <summary>The seed's recommended workflow, through the browser only (agents aside): catalog → staging → policy → cycles → reports → CSV.</summary>
[Collection("console")]
public class when_an_operator_works_through_the_console(ConsoleFixture console)
{
    // A product only the walkthrough's computers have (the demo fleet's Windows computers would need it too otherwise).
    private const string Product = "Contoso Endpoint Agent 5";

    [Fact]
    public async Task the_catalog_becomes_a_staged_bulletin_a_policy_delivered_updates_and_reports()
    {
        await console.UserAsync("olivia", Roles.Operator);
        await console.UserAsync("walk-admin", Roles.Administrator);

        // A vendor's packages on a loopback content server, and a Patch catalog that names them with their hashes.
        await using var content = await ContentServer.StartAsync();
        var quiet = content.Add("kb9300001-quiet.msu", ContentServer.Bytes(40_000, 71));
        var loud = content.Add("kb9300001-restart.msu", ContentServer.Bytes(50_000, 72));
        object Update(string id, string kb, (string Url, string Sha256, long Size) file, string restart) =>
            new { id, kb, product = "w10", fileName = Path.GetFileName(new Uri(file.Url).LocalPath), downloadUrl = file.Url, sha256 = file.Sha256, size = file.Size, restart,
                  installed = new { kbInstalled = kb } };
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "console-walkthrough",
            vendors = new[] { new { id = "contoso", name = "Contoso" } },
            products = new[] { new { id = "w10", name = Product, vendor = "contoso" } },
            bulletins = new[]
            {
                new
                {
                    id = "KB9300001", vendor = "contoso", title = "Security update for Contoso Endpoint Agent 5", severity = "Critical", released = "2026-11-10T18:00:00Z",
                    cves = new[] { "CVE-2026-90001" }, updates = new[] { Update("KB9300001-quiet", "KB9300011", quiet, "notRequired"), Update("KB9300001-restart", "KB9300012", loud, "required") },
                },
            },
        };
        var catalogFile = Path.Combine(Path.GetTempPath(), $"contoso-{Guid.NewGuid():N}.json");
        IReadOnlyList<SimulatedAgent> agents = [];
        await File.WriteAllTextAsync(catalogFile, JsonSerializer.Serialize(catalog), TestContext.Current.CancellationToken);

        var page = await console.SignInAsync("olivia");
        try
        {
            // 1. Upload the catalog: the import's answer is shown.
            await page.GotoAsync("/server-tasks/catalog-import");
            await page.GetByLabel("Format").SelectOptionAsync("patch");
            await page.GetByLabel("File", new() { Exact = true }).SetInputFilesAsync(catalogFile);
            await page.GetByRole(AriaRole.Button, new() { Name = "Import" }).ClickAsync();
            await Expect(page.Locator("#import-result [data-field=status]")).ToHaveTextAsync("completed");
            await Expect(page.Locator("#import-result [data-field=bulletinsAdded]")).ToHaveTextAsync("1");

            // Three computers that need it (agents report their inventories through the agent protocol).
            agents = await EnrolAsync(["WALK-1", "WALK-2", "WALK-3"]);

            // 2. Stage it from the Patch Remediation Center: progress until done, then "Staged: Yes".
            await page.GotoAsync("/remediation-center?q=KB9300001");
            await page.GetByLabel("Select KB9300001").CheckAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Stage", Exact = true }).ClickAsync();
            await Expect(page.Locator("tbody tr").First.Locator("td").Nth(7)).ToHaveTextAsync("Yes", new() { Timeout = 30_000 });
            // The page the staging reloaded shows "Yes" as soon as it is parsed; its script (which handles the buttons) is in
            // place only after: act once it says so (a click before does nothing — seen on a loaded machine, twice).
            await page.Locator("html[data-console-ready]").WaitForAsync(new() { State = WaitForSelectorState.Attached });

            // 3. The wizard: every page, the target chosen for us (the computers that require the updates).
            await page.GetByLabel("Select KB9300001").CheckAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Create Software Update policy" }).ClickAsync();
            await console.ArrivedAsync(page, "**/policies/new?bulletin=*");
            await Expect(page.GetByText("1. Software updates")).ToBeVisibleAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Next" }).ClickAsync();
            await page.GetByLabel("Name").FillAsync("Contoso November");
            await page.GetByRole(AriaRole.Button, new() { Name = "Next" }).ClickAsync();
            await Expect(page.GetByLabel("Override maintenance windows")).ToBeVisibleAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Next" }).ClickAsync();
            await Expect(page.GetByLabel("Computers requiring the policy's updates")).ToBeCheckedAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Create policy" }).ClickAsync();
            await console.ArrivedAsync(page, "**/policies/policy*");
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Contoso November" })).ToBeVisibleAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Computers its targets reach now (3)" })).ToBeVisibleAsync();

            // 4. The agents run a Software Update cycle, then report what they have now.
            foreach (var agent in agents)
            {
                await agent.CycleAsync();
                await agent.Runner.RunAsync(CycleTrigger.Scheduled, null, install: false, CancellationToken.None);
            }

            // 5. Compliance by bulletin, then drill down to the computers and to one computer's updates.
            await page.GotoAsync("/reports/compliance/bulletins?q=KB9300001");
            var row = page.Locator("tbody tr").First;
            // Two updates on three computers: six applicable, six installed, none missing (after the product family column).
            await Expect(row.Locator("td").Nth(3)).ToHaveTextAsync("6");
            await Expect(row.Locator("td").Nth(4)).ToHaveTextAsync("6");
            await Expect(row.Locator("td").Nth(5)).ToHaveTextAsync("0");
            await row.GetByRole(AriaRole.Link, new() { Name = "KB9300001", Exact = true }).ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Computers for bulletin KB9300001" })).ToBeVisibleAsync();
            await Expect(page.Locator("caption")).ToHaveTextAsync("6 computer × update pairs");
            // The drill-down pages by cursor: Next walks on from the last row (after=), Previous and sorting go back to numbers.
            var drillDown = page.Url;
            await page.GotoAsync(drillDown + "?pageSize=2");
            await Expect(page.Locator("tbody tr").First).ToContainTextAsync("WALK-1");
            await page.GetByRole(AriaRole.Link, new() { Name = "Next" }).ClickAsync();
            await Expect(page.GetByText("Page 2 of 3")).ToBeVisibleAsync();
            Assert.Contains("after=", page.Url);
            await Expect(page.Locator("tbody tr").First).ToContainTextAsync("WALK-2");
            await console.ScreenshotAsync(page, "walkthrough-drill-down-by-cursor");
            await page.GetByRole(AriaRole.Link, new() { Name = "Next" }).ClickAsync();
            await Expect(page.GetByText("Page 3 of 3")).ToBeVisibleAsync();
            await Expect(page.Locator("tbody tr").Last).ToContainTextAsync("WALK-3");
            await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Next" })).ToHaveCountAsync(0);
            await page.GetByRole(AriaRole.Link, new() { Name = "Previous" }).ClickAsync();
            await Expect(page.GetByText("Page 2 of 3")).ToBeVisibleAsync();
            Assert.DoesNotContain("after=", page.Url);
            await page.GotoAsync(drillDown);
            await page.GetByRole(AriaRole.Link, new() { Name = "WALK-2" }).First.ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Updates of WALK-2" })).ToBeVisibleAsync();

            // 6. The Software Update Delivery Summary: the policy's deliveries, then its updates, then the computers.
            await page.GotoAsync("/reports/delivery-summary");
            var policy = page.Locator("tbody tr", new() { HasText = "Contoso November" });
            await Expect(policy.Locator("td").Nth(2)).ToHaveTextAsync("6");
            await Expect(policy.Locator("td").Nth(3)).ToHaveTextAsync("6");
            await policy.GetByRole(AriaRole.Link, new() { Name = "Contoso November" }).ClickAsync();
            await page.GetByRole(AriaRole.Link, new() { Name = "KB9300001-restart" }).ClickAsync();
            await Expect(page.Locator("caption")).ToHaveTextAsync("3 computers");

            // 7. "Save As" CSV of the drill-down.
            var download = await page.RunAndWaitForDownloadAsync(() => page.GetByRole(AriaRole.Link, new() { Name = "Save As CSV" }).ClickAsync());
            var csv = await File.ReadAllTextAsync((await download.PathAsync())!, TestContext.Current.CancellationToken);
            var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith("policyId,updateId,bulletin,computerId,computer,status,outcome,", lines[0]);
            Assert.Equal(["WALK-1", "WALK-2", "WALK-3"], lines.Skip(1).Select(l => l.Split(',')[4]).Order());
            await console.ScreenshotAsync(page, "walkthrough-delivery-drill-down");
        }
        finally
        {
            await page.Context.CloseAsync();
            File.Delete(catalogFile);
            foreach (var agent in agents) agent.Dispose();
        }
        Assert.Empty(console.ScriptErrors);
    }

    private async Task<IReadOnlyList<SimulatedAgent>> EnrolAsync(string[] names)
    {
        using var admin = new HttpClient { BaseAddress = new Uri(console.BaseUrl) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await console.TokenAsync("walk-admin"));
        var response = await admin.PostAsync("/api/enrolment-tokens", new StringContent("""{"name":"walkthrough","maxUses":10}""", Encoding.UTF8, "application/json"));
        var token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        var agents = new List<SimulatedAgent>();
        foreach (var name in names)
        {
            var agent = new SimulatedAgent(name, new HttpClient { BaseAddress = new Uri(console.BaseUrl) }, new ManualClock(DateTimeOffset.UtcNow));
            await agent.EnrolAsync(token, new AgentInventory("Microsoft Windows 10 Enterprise", "10.0.19045.4046", "x64", 0, false, ["en-US"], [Product], ["KB5034763"], "0.1.0"));
            agents.Add(agent);
        }
        return agents;
    }
}
