using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Catalog;

namespace Patch.Api.Tests.Catalog;

public class when_reading_kev_and_patch_catalogs
{
    [Fact]
    public void the_real_kev_catalog_has_1404_entries_340_from_microsoft()
    {
        using var stream = SharedData.Open(SharedData.Kev);
        var kev = KevCatalogReader.Read(stream);
        Assert.Equal("2025.08.25", kev.CatalogVersion);
        Assert.Equal(1404, kev.Vulnerabilities.Count);
        Assert.Equal(340, kev.Vulnerabilities.Count(v => v.VendorProject == "Microsoft"));
        var alpc = kev.Vulnerabilities.Single(v => v.Cve == "CVE-2023-21674");
        Assert.Equal(new DateOnly(2023, 1, 31), alpc.DueDate);
    }

    [Fact]
    public void the_demo_catalog_is_a_valid_patch_catalog()
    {
        using var stream = File.OpenRead(SharedData.RepoFile("demo/patch-demo-catalog.json"));
        var doc = PatchCatalogReader.Read(stream);
        Assert.Equal("patch-demo-2024-02", doc.DocumentId);
        Assert.Equal(7, doc.Bulletins.Count);
        var feb = doc.Bulletins.Single(b => b.Facts.Number == "KB5034763");
        Assert.Equal(["KB5034122"], feb.Facts.Supersedes);
        Assert.All(feb.Updates, u => Assert.Equal(RestartBehavior.Required, u.Restart));
        Assert.All(feb.Updates, u => Assert.StartsWith("{\"any\":[{\"kbInstalled\":\"KB5034763\"}", u.InstalledRule));
    }
}
