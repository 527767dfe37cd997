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

    [Theory]
    [InlineData("isServer", "servicePack")]
    [InlineData("servicePack")]
    public async Task an_inventory_that_leaves_out_a_number_or_a_yes_or_no_is_refused_naming_it_not_read_as_zero(params string[] left)
    {
        var inventory = new Patch.Agent.Inventory.FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/10_22H2_x64_enterprise_en-us_systeminfo.txt")).Read();
        var fields = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(inventory, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)))!.AsObject();
        foreach (var name in left) Assert.True(fields.Remove(name), name);
        var line = $$"""{"name":"REQ-{{left.Length}}","inventory":{{fields.ToJsonString()}}}""";
        var (status, body) = await RawAsync(HttpMethod.Post, "/api/computers/inventories", Utf8(line + "\n"), "application/x-ndjson");
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        foreach (var name in left) Assert.Contains(name, body);
        Assert.Contains("(required)", body);
        Assert.DoesNotContain("Patch.", body);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/api/computers/REQ-{left.Length}")).Status);
    }
}
