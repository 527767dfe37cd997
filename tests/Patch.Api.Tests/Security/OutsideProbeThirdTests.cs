using System.Net;
using System.Text;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Users;

namespace Patch.Api.Tests.Security;

/// <summary>
/// The third black-box sweep (stop 53): a console page that failed once it had something to show, a damaged bundle, a
/// server linked to itself, references and required fields taken on trust. Each is now answered as it should be.
/// </summary>
public class when_a_third_probe_sends_what_no_client_should(AppFixture app) : SecurityTestBase(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task the_custom_severity_page_with_levels_answers_with_their_up_and_down_buttons()
    {
        foreach (var name in new[] { "Sweep first", "Sweep second" })
        {
            var (created, body) = await RawAsync(HttpMethod.Post, "/api/custom-severities", Utf8($$"""{"name":"{{name}}"}"""), "application/json");
            Assert.True(created is HttpStatusCode.Created or HttpStatusCode.Conflict, $"{created}: {body}");
        }
        await CreateUserAsync("sami", Roles.Administrator);
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.OK, await SignInAsync(browser, "sami"));
        using var page = await browser.GetAsync("/settings/custom-severities", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.True(page.StatusCode == HttpStatusCode.OK, $"{page.StatusCode}: {html[..Math.Min(300, html.Length)]}");
        Assert.Contains("Move Sweep first down", html);
        Assert.Contains("Move Sweep second up", html);
    }
}
