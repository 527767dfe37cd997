using Microsoft.Playwright;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Console;

/// <summary>
/// Every console page names the query parameters it reads (<c>ConsoleQuery</c>), and refuses the others. Here the
/// console's own links and filter forms are followed from the home page: none may be an address its page refuses — a
/// filter whose field a page forgot to declare would refuse the page's own form — nor one that does not exist.
/// </summary>
[Collection("console")]
public class when_every_link_and_filter_of_the_console_is_followed(ConsoleFixture console)
{
    private const string Refused = "Not a question this page answers";

    /// <summary>Each GET form's address as a person submitting it with every field filled would send it (the script leaves out empty fields).</summary>
    private const string Forms = """
        () => [...document.querySelectorAll('main form[method=get]')].map(form => {
            const q = new URLSearchParams();
            for (const f of form.elements) {
                if (f.dataset && f.dataset.utc) { q.set(f.dataset.utc, '2026-01-01T00:00:00.000Z'); continue; }
                if (!f.name || f.tagName === 'BUTTON') continue;
                if (f.tagName === 'SELECT') { const o = [...f.options].find(o => o.value) ; if (o) q.set(f.name, o.value); continue; }
                if (f.type === 'number') q.set(f.name, '1');
                else if (f.type === 'date') q.set(f.name, '2026-01-01');
                else q.set(f.name, f.value || 'x');
            }
            return new URL(form.getAttribute('action') || location.pathname, location.href).pathname + '?' + q.toString();
        })
        """;

    private const string Links = """
        () => [...document.querySelectorAll('a[href^="/"]:not([download])')].map(a => a.getAttribute('href'))
        """;

    /// <summary>Pages of one subject each (a bulletin, a run…): a few of each are followed.</summary>
    private static readonly string[] Subjects =
    [
        "/bulletins/", "/policies/policy", "/computers/", "/users/", "/targets/", "/server-tasks/runs/", "/agent-configurations/",
        "/reports/compliance/bulletins/", "/reports/compliance/computers/", "/reports/compliance/updates/", "/settings/vendors/",
    ];

    /// <summary>Pages with filters the crawl must have reached (each one's form submitted).</summary>
    private static readonly string[] Filtered =
    [
        "/remediation-center", "/policies", "/computers", "/audit", "/server-tasks", "/reports/compliance/bulletins", "/reports/compliance/computers",
        "/reports/compliance/updates", "/reports/compliance/trend", "/reports/delivery-summary", "/reports/computers-not-reporting",
        "/reports/vulnerabilities/products", "/reports/reboot-status", "/reports/seat-usage", "/policies/new",
    ];

    [Fact]
    public async Task no_link_nor_filter_of_the_console_is_an_address_its_page_refuses()
    {
        await console.UserAsync("crawler", Roles.Administrator);
        var page = await console.SignInAsync("crawler");
        var queue = new Queue<string>(["/"]);
        var seen = new HashSet<string>(StringComparer.Ordinal) { "/?" };
        var paths = new HashSet<string>(StringComparer.Ordinal) { "/" };
        var perShape = new Dictionary<string, int>(StringComparer.Ordinal);
        var variants = new Dictionary<string, int>(StringComparer.Ordinal);
        var visited = 0;
        var refused = new List<string>();
        while (queue.TryDequeue(out var address) && visited < 600)
        {
            visited++;
            var response = await page.GotoAsync(address, new() { WaitUntil = WaitUntilState.DOMContentLoaded });
            if (response!.Status == 400 && await page.GetByRole(AriaRole.Heading, new() { Name = Refused }).CountAsync() > 0)
            {
                refused.Add($"{address}: {string.Join(" | ", await page.GetByRole(AriaRole.Alert).AllInnerTextsAsync())}");
                continue;
            }
            // A link or a form of the console's own leads to a page that exists (a superseded bulletin no catalog holds was a link).
            if (response.Status == 404)
            {
                refused.Add($"{address}: 404");
                continue;
            }
            var links = (await page.EvaluateAsync<string[]>(Links)).Select(l => (Address: l, Form: false));
            foreach (var (next, form) in links.Concat((await page.EvaluateAsync<string[]>(Forms)).Select(f => (Address: f, Form: true))))
            {
                var path = next.Split('?', '#')[0];
                if (path.StartsWith("/api/", StringComparison.Ordinal) || path.StartsWith("/swagger", StringComparison.Ordinal)
                    || path.StartsWith("/console/", StringComparison.Ordinal) || path.StartsWith("/agent/", StringComparison.Ordinal)) continue;
                // Each page once per set of parameters (a sort link per column says nothing new), every filter form, a few
                // links with parameters per page (each page's links add theirs: sort, page, a filter — combinations without
                // end), and a few of each page with its own subject (a bulletin, a run): their links are the same on every one.
                var keys = next.Contains('?') ? string.Join('&', next.Split('?', 2)[1].Split('&').Select(p => p.Split('=')[0]).Order(StringComparer.Ordinal)) : "";
                var shape = Subjects.FirstOrDefault(prefix => path.StartsWith(prefix, StringComparison.Ordinal)) ?? path;
                if (!paths.Contains(path) && perShape.GetValueOrDefault(shape) >= 4) continue;
                if (!form && variants.GetValueOrDefault(path) >= 4) continue;
                if (!seen.Add($"{path}?{keys}")) continue;
                if (paths.Add(path)) perShape[shape] = perShape.GetValueOrDefault(shape) + 1;
                if (!form) variants[path] = variants.GetValueOrDefault(path) + 1;
                queue.Enqueue(next);
            }
        }
        Assert.True(queue.Count == 0, $"{visited} addresses followed, {queue.Count} left");
        Assert.True(Filtered.All(paths.Contains), $"not reached: {string.Join(", ", Filtered.Where(f => !paths.Contains(f)))}");
        Assert.True(refused.Count == 0, string.Join("\n", refused));
        await page.Context.CloseAsync();
    }
}
