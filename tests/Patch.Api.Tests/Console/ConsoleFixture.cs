using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Common;
using Patch.Application.Users;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Console;

/// <summary>
/// The console in a real browser: Patch on Kestrel (a real port, its own database) and Debian's Chromium driven by
/// Playwright. A machine without /usr/bin/chromium fails these tests with the command that installs it; the test
/// script (scripts/test.sh) installs it when it runs as root.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";
    public const string Password = "console test passphrase";

    public WebApplicationFactory<Program> Factory { get; private set; } = null!;
    public string BaseUrl { get; private set; } = "";
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public string Screenshots { get; } = Path.Combine(AppContext.BaseDirectory, "console-screenshots");
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"patch-console-{Guid.NewGuid():N}");

    /// <summary>What the server logged as an error.</summary>
    public ErrorLog ServerErrors { get; } = new();

    /// <summary>Script errors any page raised; every test ends by checking there are none.</summary>
    public List<string> ScriptErrors { get; } = [];

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"The browser tests need Debian's Chromium at {Chromium}: run 'apt-get install -y chromium' as root (scripts/test.sh does it).");
        var connection = await TestDatabase.ConnectionStringAsync("patch_console");
        Factory = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("ConnectionStrings:Patch", connection);
            // The demo fills the console with a fleet, a staged bulletin, a policy and delivered cycles, through the product's own paths.
            b.UseSetting("Patch:Demo", "true");
            b.UseSetting("Patch:DataDirectory", DataDirectory);
            b.UseSetting("Patch:Staging:RetryDelay", "00:00:00.050");
            b.UseSetting("Patch:Auth:SignIn:AttemptsPerMinute", "10000");
            b.UseSetting("Patch:WakeOnLan:CheckSeconds", "86400");
            // A free loopback port of its own, never the default 5000 a developer's server may hold.
            b.UseSetting("urls", "http://127.0.0.1:0");
            b.ConfigureLogging(l => l.AddProvider(ServerErrors));
        });
        Factory.UseKestrel(0);
        Factory.StartServer();
        BaseUrl = Factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("[::]", "127.0.0.1").TrimEnd('/');
        await Factory.Services.GetRequiredService<Patch.Api.Hosting.DemoStatus>().Loaded.Task.WaitAsync(TimeSpan.FromMinutes(4));
        Directory.CreateDirectory(Screenshots);
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        await Factory.DisposeAsync();
        if (Directory.Exists(DataDirectory)) Directory.Delete(DataDirectory, recursive: true);
    }

    /// <summary>A local user with a password (created once; the console tests share their database).</summary>
    public async Task UserAsync(string name, string role)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var session = scope.ServiceProvider.GetRequiredService<Marten.IDocumentStore>().QuerySession();
        if (await session.LoadAsync<User>(User.StreamId(name)) is { Deleted: false }) return;
        var (_, rejection) = await scope.ServiceProvider.GetRequiredService<UserAccounts>().CreateAsync(Actor.CommandLine(), name, null, role, Password, false, CancellationToken.None);
        Assert.Null(rejection);
    }

    /// <summary>A personal access token, for what a test prepares through the API rather than the browser.</summary>
    public async Task<string> TokenAsync(string name)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var (issued, rejection) = await scope.ServiceProvider.GetRequiredService<UserAccounts>()
            .CreateTokenAsync(Actor.CommandLine(), User.StreamId(name), "console tests", null, null, CancellationToken.None);
        Assert.Null(rejection);
        return issued!.Token;
    }

    /// <summary>The user (created once) and an API client carrying a token of theirs, for what a test prepares or checks through the API.</summary>
    public async Task<HttpClient> ApiAsync(string name, string role)
    {
        await UserAsync(name, role);
        var api = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        api.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await TokenAsync(name));
        return api;
    }

    /// <summary>A new browser tab signed in as this user through the sign-in page.</summary>
    public async Task<IPage> SignInAsync(string name)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseUrl, ViewportSize = new ViewportSize { Width = 1400, Height = 1000 }, AcceptDownloads = true });
        var page = await context.NewPageAsync();
        page.PageError += (_, e) => { lock (ScriptErrors) ScriptErrors.Add($"{page.Url}: {e}"); };
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource", StringComparison.Ordinal)) lock (ScriptErrors) ScriptErrors.Add($"{page.Url}: {m.Text}"); };
        await page.GotoAsync("/sign-in");
        await page.GetByLabel("User name").FillAsync(name);
        await page.GetByLabel("Password").FillAsync(Password);
        // The sign-in's answer, to say why when the page stays (once in CI it did, with nothing to tell why).
        var answer = page.WaitForResponseAsync(r => r.Url.Contains("/sign-in") && r.Request.Method == "POST");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        try
        {
            // Signed in once the browser has left the page (committed the navigation): whatever the landing page then loads
            // is the test's to wait for (once in CI the URL was "/" after the form's 302 and its load event had not fired in 30 s).
            await page.WaitForURLAsync(url => !url.Contains("/sign-in"), new() { WaitUntil = WaitUntilState.Commit });
        }
        catch (TimeoutException) when (!page.Url.Contains("/sign-in", StringComparison.Ordinal))
        {
            // The browser has left the page (twice in CI: at "/" after the form's 302, yet Playwright's wait for the URL ran out
            // waiting for a load state): signed in all the same.
        }
        catch (TimeoutException e)
        {
            var posted = answer.IsCompletedSuccessfully ? $"{answer.Result.Status} {answer.Result.StatusText}" : "no answer to the form's POST";
            throw await StuckAsync(page, $"{name} was not signed in ({posted})", e);
        }
        return page;
    }

    /// <summary>What a page that did not go where a test expected shows (its address, its alerts) and what the server logged as errors.</summary>
    private async Task<Exception> StuckAsync(IPage page, string what, TimeoutException e)
    {
        var alerts = await page.GetByRole(AriaRole.Alert).AllInnerTextsAsync();
        List<string> errors;
        lock (ServerErrors.Errors) errors = [.. ServerErrors.Errors];
        return new InvalidOperationException($"{what}: still at {page.Url}; alerts: [{string.Join(" | ", alerts)}]; server errors: [{string.Join(" | ", errors)}]", e);
    }

    /// <summary>
    /// The browser went to a page whose address matches <paramref name="glob"/> and the console's script has wired it
    /// (<c>html[data-console-ready]</c>, set at DOMContentLoaded) — never the load event, which in CI had sometimes not
    /// fired 30 s after the navigation committed (after the sign-in form's 302, twice; after signing out, once).
    /// </summary>
    public async Task ArrivedAsync(IPage page, string glob)
    {
        try
        {
            await page.WaitForURLAsync(glob, new() { WaitUntil = WaitUntilState.Commit });
            await page.Locator("html[data-console-ready]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
        }
        catch (TimeoutException e)
        {
            throw await StuckAsync(page, $"the page did not go to {glob}", e);
        }
    }

    public async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });
}

[CollectionDefinition("console")]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>;
