using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog;

namespace Patch.Api.Tests.Catalog;

public class when_the_scheduled_import_checks_its_sources(AppFixture app) : AppTest(app)
{
    private async Task<IReadOnlyList<CatalogImportResult>> RunAsync(params CatalogSource[] sources)
    {
        await using var scope = App.Host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<CatalogSourcePoller>().RunAsync(sources, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task a_file_source_is_imported_once_and_then_skipped_by_its_hash()
    {
        var source = new CatalogSource { Url = new Uri(SharedData.PathOf(SharedData.Cvrf2024)).AbsoluteUri, Format = "cvrf" };

        var first = Assert.Single(await RunAsync(source));
        Assert.Equal("completed", first.Status);
        Assert.Equal(37, first.BulletinsAdded);
        var events = await App.CatalogEventCountAsync();

        var second = Assert.Single(await RunAsync(source));
        Assert.Equal("unchanged", second.Status);
        Assert.Equal(events, await App.CatalogEventCountAsync());
        var run = await GetJsonAsync($"/api/server-tasks/runs/{second.RunId}");
        Assert.Equal("schedule", run.GetProperty("trigger").GetString());
        Assert.Equal(source.Url, run.GetProperty("parameters").GetProperty("source").GetString());
        Assert.Equal(64, run.GetProperty("parameters").GetProperty("sha256").GetString()!.Length);
    }

    [Fact]
    public async Task an_http_source_is_asked_with_its_etag_and_a_304_imports_nothing()
    {
        var version = 1;
        var conditional = 0;
        var content = SharedData.Bytes(SharedData.Cvrf2023);
        await using var server = await StartServerAsync(async http =>
        {
            var etag = new EntityTagHeaderValue($"\"v{version}\"");
            if (http.Request.Headers.IfNoneMatch.Count > 0) conditional++;
            if (http.Request.Headers.IfNoneMatch.ToString() == etag.ToString())
            {
                http.Response.StatusCode = StatusCodes.Status304NotModified;
                return;
            }
            http.Response.Headers.ETag = etag.ToString();
            http.Response.ContentType = "application/xml";
            await http.Response.Body.WriteAsync(content);
        });
        var source = new CatalogSource { Url = $"{server.Urls.First()}/cvrf/2023-Jan", Format = "cvrf" };

        Assert.Equal("completed", Assert.Single(await RunAsync(source)).Status);
        var events = await App.CatalogEventCountAsync();
        var notModified = Assert.Single(await RunAsync(source));
        Assert.Equal("unchanged", notModified.Status);
        Assert.Equal(1, conditional);
        Assert.Equal(events, await App.CatalogEventCountAsync());

        // The vendor revises the document: a new ETag, new content → imported, with the revision events.
        version = 2;
        content = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(content).Replace("<vuln:FixedBuild>10.0.17763.3887</vuln:FixedBuild>", "<vuln:FixedBuild>10.0.17763.3888</vuln:FixedBuild>"));
        var revised = Assert.Single(await RunAsync(source));
        Assert.Equal("completed", revised.Status);
        Assert.True(revised.UpdatesRevised > 0);
    }

    [Fact]
    public async Task a_source_that_is_gone_is_a_failed_run()
    {
        await using var server = await StartServerAsync(http => { http.Response.StatusCode = 404; return Task.CompletedTask; });
        var result = Assert.Single(await RunAsync(new CatalogSource { Url = $"{server.Urls.First()}/gone.xml", Format = "cvrf" }));
        Assert.Equal("failed", result.Status);
        Assert.Contains("404", result.Error);
        Assert.Equal("failed", (await GetJsonAsync($"/api/server-tasks/runs/{result.RunId}")).GetProperty("status").GetString());
    }

    [Fact]
    public void a_bad_source_configuration_is_refused_naming_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new CatalogScheduleOptions { Sources = [new CatalogSource { Url = "ftp://x/y.xml", Format = "cvrf" }] }.Validate());
        Assert.Contains("Patch:CatalogImport:Sources:0:Url", e.Message);
        e = Assert.Throws<InvalidOperationException>(() => new CatalogScheduleOptions { Sources = [new CatalogSource { Url = "https://x/y.xml", Format = "csaf" }] }.Validate());
        Assert.Contains("Patch:CatalogImport:Sources:0:Format", e.Message);
    }

    private static Task<WebApplication> StartServerAsync(RequestDelegate handler) => Loopback.StartAsync(handler);
}
