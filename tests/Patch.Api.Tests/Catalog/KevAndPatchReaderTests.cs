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
    public void the_kev_csv_twin_reads_to_the_same_catalog_as_the_json()
    {
        using var json = SharedData.Open(SharedData.Kev);
        using var csv = SharedData.Open(SharedData.KevCsv);
        var fromJson = KevCatalogReader.Read(json);
        var fromCsv = KevCatalogReader.Read(csv);
        // The CSV has no catalogVersion: its latest dateAdded, written as CISA writes the version, stands for it.
        Assert.Equal(fromJson.CatalogVersion, fromCsv.CatalogVersion);
        Assert.Equal(fromJson.Vulnerabilities.Count, fromCsv.Vulnerabilities.Count);
        foreach (var (a, b) in fromJson.Vulnerabilities.OrderBy(v => v.Cve, StringComparer.Ordinal).Zip(fromCsv.Vulnerabilities.OrderBy(v => v.Cve, StringComparer.Ordinal)))
            Assert.Equal(a, b);
    }

    [Fact]
    public void a_kev_csv_with_quoted_commas_quotes_and_line_breaks_other_columns_and_any_order_is_read()
    {
        var csv = "\uFEFFdateAdded,CVEID,product,vendorProject,vulnerabilityName,shortDescription,notes\r\n" +
                  "2024-02-13,cve-2024-21412,Windows,Microsoft,\"Internet Shortcut Files, \"\"SmartScreen\"\" Bypass\",\"line one\nline two\",https://x\r\n" +
                  ",,,,,,\r\n" +
                  "2024-02-14,CVE-2024-21351,Windows,Microsoft,SmartScreen Bypass,,\r\n";
        var kev = KevCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(csv)));
        Assert.Equal("2024.02.14", kev.CatalogVersion);
        Assert.Equal(2, kev.Vulnerabilities.Count);
        var first = kev.Vulnerabilities[0];
        Assert.Equal("CVE-2024-21412", first.Cve);
        Assert.Equal("Internet Shortcut Files, \"SmartScreen\" Bypass", first.Name);
        Assert.Equal("line one\nline two", first.ShortDescription);
        Assert.Null(kev.Vulnerabilities[1].ShortDescription);
        Assert.Null(kev.Vulnerabilities[1].DueDate);

        // Re-saved by Excel where the decimal mark is a comma: semicolons, the commas inside cells kept.
        var semicolons = "dateAdded;cveID;product;vendorProject;vulnerabilityName\r\n2024-02-13;CVE-2024-21412;Windows;Microsoft;Internet Shortcut Files, SmartScreen Bypass\r\n";
        var resaved = KevCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(semicolons)));
        Assert.Equal("Internet Shortcut Files, SmartScreen Bypass", Assert.Single(resaved.Vulnerabilities).Name);
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
