using System.Net.Http.Headers;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Fuzzing;

/// <summary>
/// Mutated real catalogs imported through the server on real PostgreSQL: every answer is a success or a 400 that names the
/// problem; a refused import appends no catalog event and changes no report, and only its failed run is recorded.
/// </summary>
public class when_mutated_catalogs_are_imported(AppFixture app) : AppTest(app)
{
    private async Task<string> CatalogAsync()
    {
        // The catalog as administrators read it, with every bulletin's facts (known-exploited flags included).
        using var client = App.Client();
        return await client.GetStringAsync("/api/bulletins");
    }

    private async Task<int> RunsAsync()
    {
        var runs = await GetJsonAsync("/api/catalog/imports?pageSize=1");
        return runs.GetProperty("total").GetInt32();
    }

    private async Task Imports(string format, Lazy<byte[][]> seeds, Shape shape, string mediaType)
    {
        // A store that already holds a real catalog: "changes nothing" then means something.
        await App.ImportAsync(format, seeds.Value[0]);
        var catalog = await CatalogAsync();
        var events = await App.CatalogEventCountAsync();
        var runs = await RunsAsync();
        await Fuzz.RunAsync($"{format} import", Mutations.Of(seeds.Value.Length), async c =>
        {
            var bytes = Mutations.Apply(seeds.Value[c.Seed], c.Changes, shape);
            using var client = App.Client();
            using var body = new ByteArrayContent(bytes);
            body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            using var response = await client.PostAsync($"/api/catalog/imports?format={format}", body);
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            Assert.True(status is 200 or 400, $"HTTP {status}: {text}");
            var json = JsonDocument.Parse(text).RootElement;
            runs++;
            Assert.Equal(runs, await RunsAsync());
            if (status == 200)
            {
                catalog = await CatalogAsync();
                events = await App.CatalogEventCountAsync();
                return "accepted";
            }
            var title = Fuzz.Names(json.GetProperty("title").GetString(), format);
            Fuzz.Names(json.GetProperty("detail").GetString(), format);
            Assert.Equal("failed", json.GetProperty("result").GetString());
            // Nothing of the refused file reached the catalog; its run is recorded failed with the reason.
            Assert.Equal(events, await App.CatalogEventCountAsync());
            Assert.Equal(catalog, await CatalogAsync());
            var last = (await GetJsonAsync("/api/catalog/imports?pageSize=1")).GetProperty("items")[0];
            Assert.Equal("failed", last.GetProperty("status").GetString());
            Assert.Contains(title, last.GetProperty("error").GetString());
            return "refused: " + title;
        }, c => $"seed {c.Seed}, mutations {string.Join(", ", c.Changes.Select(m => m.ToString()))}");
    }

    [Fact] public Task cvrf() => Imports("cvrf", FuzzSeeds.CvrfForImport, Shape.Xml, "application/xml");

    [Fact] public Task mssecure() => Imports("mssecure", FuzzSeeds.MssecureForImport, Shape.Xml, "application/xml");

    [Fact] public Task patch_json() => Imports("patch", FuzzSeeds.Patch, Shape.Json, "application/json");

    [Fact] public Task kev() => Imports("kev", FuzzSeeds.KevForImport, Shape.Json, "application/json");
}
