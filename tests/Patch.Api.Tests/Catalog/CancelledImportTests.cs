using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog;
using Patch.Application.Common;

namespace Patch.Api.Tests.Catalog;

/// <summary>
/// An import cancelled part-way (a proxy's timeout drops the request, a feed's run is cancelled, the server stops) ends
/// its run as failed — never a run left "running" for good — and writes none of its facts.
/// </summary>
public class when_an_import_is_cancelled(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task its_run_is_recorded_failed_whenever_the_cancellation_comes()
    {
        var importer = App.Host.Services.GetRequiredService<CatalogImporter>();
        var month = await File.ReadAllTextAsync(SharedData.PathOf("msrc-cvrf/2024-Jan.xml"), TestContext.Current.CancellationToken);
        var cancelled = 0;
        // Cancelled at once, then later and later: before the run is recorded, while the document is read, while it is written.
        foreach (var after in new[] { 0, 1, 2, 4, 8, 16, 32, 64 })
        {
            // Other bytes each time (a comment), so that none is recognised as the last import's.
            var bytes = System.Text.Encoding.UTF8.GetBytes(month + $"<!-- {Guid.NewGuid()} -->");
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(after));
            try
            {
                await importer.ImportAsync(new ImportCatalog(bytes, "cvrf", "test", Actor.ServerTask("test")), cts.Token);
            }
            catch (OperationCanceledException)
            {
                cancelled++;
            }
        }
        Assert.True(cancelled > 0, "no import was cancelled: the test proves nothing");
        var runs = (await GetJsonAsync("/api/catalog/imports?pageSize=100")).GetProperty("items").EnumerateArray().ToList();
        Assert.DoesNotContain(runs, r => r.GetProperty("status").GetString() == "running");
        Assert.Contains(runs, r => r.GetProperty("status").GetString() == "failed" && r.GetProperty("error").GetString()!.StartsWith("Cancelled before the import completed"));
    }
}
