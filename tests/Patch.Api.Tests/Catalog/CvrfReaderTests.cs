using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Catalog;

namespace Patch.Api.Tests.Catalog;

public class when_reading_the_real_msrc_cvrf_documents
{
    private static CatalogDocument Read(string file)
    {
        using var stream = SharedData.Open(file);
        return CvrfCatalogReader.Read(stream);
    }

    [Theory]
    [InlineData("msrc-cvrf/2023-Jan.xml", "2023-Jan", 39, 111, 30, 9)]
    [InlineData("msrc-cvrf/2024-Jan.xml", "2024-Jan", 37, 125, 14, 23)]
    public void it_maps_one_bulletin_per_kb_and_one_update_per_kb_and_product(string file, string id, int bulletins, int updates, int critical, int important)
    {
        var doc = Read(file);

        Assert.Equal(id, doc.DocumentId);
        Assert.Equal(bulletins, doc.Bulletins.Count);
        Assert.Equal(updates, doc.Bulletins.Sum(b => b.Updates.Count));
        Assert.Equal(critical, doc.Bulletins.Count(b => b.Facts.Severity == Severity.Critical));
        Assert.Equal(important, doc.Bulletins.Count(b => b.Facts.Severity == Severity.Important));
        Assert.All(doc.Bulletins, b => Assert.Matches("^KB[0-9]{6,8}$", b.Facts.Number));
        Assert.All(doc.Bulletins.SelectMany(b => b.Updates), u => Assert.Equal("neutral", u.Culture));
        Assert.Equal(doc.Bulletins.Count, doc.Bulletins.Select(b => b.StreamId).Distinct().Count());
    }

    [Fact]
    public void KB5022282_has_64_cves_8_products_and_supersedes_KB5021233()
    {
        var kb = Read(SharedData.Cvrf2023).Bulletins.Single(b => b.Facts.Number == "KB5022282");

        Assert.Equal(64, kb.Facts.Cves.Count);
        Assert.Equal(8, kb.Updates.Count);
        Assert.Contains("KB5021233", kb.Facts.Supersedes);
        Assert.Equal(Severity.Critical, kb.Facts.Severity);
        Assert.Equal(new DateTimeOffset(2023, 1, 10, 8, 0, 0, TimeSpan.Zero), kb.Facts.Released);
        Assert.Equal(new DateTimeOffset(2026, 6, 28, 1, 39, 49, TimeSpan.Zero), kb.Facts.Revised);
        Assert.All(kb.Updates, u =>
        {
            Assert.StartsWith("KB5022282-", u.UpdateId);
            Assert.False(string.IsNullOrEmpty(u.Product));
            Assert.False(u.Product.StartsWith("Microsoft product", StringComparison.Ordinal), $"{u.ProductId} has no name");
            Assert.Contains("5022282", u.DownloadUrl);
            Assert.NotNull(u.SubType);
            Assert.NotNull(u.FixedBuild);
        });
    }

    [Theory]
    [InlineData("msrc-cvrf/2023-Jan.xml", "KB5022289", "KB5021235")]
    [InlineData("msrc-cvrf/2023-Jan.xml", "KB5019966", "KB5018419")]
    [InlineData("msrc-cvrf/2024-Jan.xml", "KB5034119", "KB5033373")]
    [InlineData("msrc-cvrf/2024-Jan.xml", "KB5034129", "KB5033118")]
    public void supersedence_comes_from_the_supercedence_element(string file, string kb, string superseded)
    {
        var bulletin = Read(file).Bulletins.Single(b => b.Facts.Number == kb);
        Assert.Contains(superseded, bulletin.Facts.Supersedes);
        Assert.Contains(bulletin.Updates, u => u.Supersedes.Contains(superseded));
    }

    [Theory]
    [InlineData("msrc-cvrf/2023-Jan.xml", 28)]
    [InlineData("msrc-cvrf/2024-Jan.xml", 13)]
    public void the_number_of_kbs_declaring_a_superseded_kb_matches_the_reference(string file, int count) =>
        Assert.Equal(count, Read(file).Bulletins.Count(b => b.Facts.Supersedes.Count > 0));

    [Fact]
    public void non_kb_vendor_fixes_of_windows_products_are_vulnerability_facts_and_the_rest_are_skipped_never_bulletins()
    {
        var doc = Read(SharedData.Cvrf2023);
        Assert.Contains(doc.Skipped, s => s.Item == "CBL-Mariner Releases" && s.Count > 0);
        Assert.DoesNotContain(doc.Skipped, s => s.Item == "Click to Run");
        var clickToRun = doc.ProductVulnerabilities!.Where(f => f.Kind == "Click to Run").ToList();
        Assert.NotEmpty(clickToRun);
        Assert.Contains(clickToRun, f => f.Product == "Microsoft 365 Apps for Enterprise for 64-bit Systems");
        Assert.All(doc.ProductVulnerabilities!, f => Assert.Matches("^CVE-[0-9]{4}-[0-9]+$", f.Cve));
        Assert.DoesNotContain(doc.ProductVulnerabilities!, f => f.Product.Contains("Mariner", StringComparison.Ordinal));
        Assert.DoesNotContain(doc.Bulletins, b => b.Facts.Number.Contains("Mariner", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(doc.Bulletins, b => b.Facts.Number.Contains("Click", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void fixed_builds_are_versions_without_the_invisible_characters_real_documents_carry()
    {
        // 2024-Oct gives Windows 10 22H2's KB5046400 the fixed build "10.0.19041.5000" followed by seven zero-width spaces.
        using var stream = SharedData.OpenCvrf("msrc-cvrf/archive/2024-Oct.xml.gz");
        var doc = CvrfCatalogReader.Read(stream);
        var update = doc.Bulletins.Single(b => b.Facts.Number == "KB5046400").Updates.First(u => u.Product == "Windows 10 Version 22H2 for x64-based Systems");
        Assert.Equal("10.0.19041.5000", update.FixedBuild);
        var every = SharedData.CvrfFiles().Where(f => f.Contains("2024-") || f.Contains("2025-"))
            .SelectMany(f => { using var s = SharedData.OpenCvrf(f); return CvrfCatalogReader.Read(s).Bulletins; })
            .SelectMany(b => b.Updates).Select(u => u.FixedBuild).OfType<string>().Where(b => b.Length > 0).ToList();
        Assert.NotEmpty(every);
        Assert.All(every, b => Assert.DoesNotContain(b, c => char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format));
    }
}
