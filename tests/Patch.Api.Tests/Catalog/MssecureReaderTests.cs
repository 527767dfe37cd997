using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Catalog;

namespace Patch.Api.Tests.Catalog;

public class when_reading_the_real_mssecure_datastore
{
    private static readonly Lazy<CatalogDocument> Doc = new(() =>
    {
        using var stream = SharedData.Open(SharedData.Mssecure);
        return MssecureCatalogReader.Read(stream);
    });

    [Fact]
    public void it_maps_231_bulletins_and_393_patches_one_update_per_patch_and_product()
    {
        var doc = Doc.Value;
        Assert.Equal(231, doc.Bulletins.Count);
        Assert.Equal("MS98-001", doc.Bulletins[0].Facts.Number);
        Assert.Contains(doc.Bulletins, b => b.Facts.Number == "MS01-050");
        var updates = doc.Bulletins.SelectMany(b => b.Updates).ToList();
        // 393 Patch elements with 815 AffectedProduct children in all; 351 distinct (bulletin, patch file) pairs (names trimmed), as
        // some bulletins list one file twice for different products. None is dropped as a duplicate.
        Assert.Equal(815, updates.Count);
        Assert.Equal(351, doc.Bulletins.SelectMany(b => b.Updates.Select(u => (b.Facts.Number, u.FileName!.ToUpperInvariant()))).Distinct().Count());
        Assert.DoesNotContain(doc.Skipped, s => s.Item.Contains("listed twice"));
        Assert.Equal("mssecure-1.0.1.148", doc.DocumentId);
    }

    [Fact]
    public void NoReboot_is_honoured()
    {
        var noReboot = Doc.Value.Bulletins.SelectMany(b => b.Updates.Where(u => u.Restart == RestartBehavior.NotRequired).Select(u => (b.Facts.Number, u.FileName))).Distinct().Count();
        Assert.Equal(7, noReboot);
    }

    [Fact]
    public void supersedence_comes_from_SupercededBys()
    {
        var ms01029 = Doc.Value.Bulletins.Single(b => b.Facts.Number == "MS01-029");
        Assert.Contains("MS00-090", ms01029.Facts.Supersedes);
        Assert.Contains(ms01029.Updates, u => u.FileName == "WMSU47357.exe" && u.Supersedes.Contains("MS00-090"));
    }

    [Fact]
    public void titles_and_dates_are_trimmed_and_parsed()
    {
        var first = Doc.Value.Bulletins[0];
        Assert.Equal("Disabling Creation of Local Groups on a Domain by Non-Administrative Users", first.Facts.Title);
        Assert.Equal(new DateTimeOffset(1998, 6, 1, 0, 0, 0, TimeSpan.Zero), first.Facts.Released);
        Assert.Equal("ftp://ftp.microsoft.com/bussys/winnt/winnt-public/reskit/nt40/i386/CREATALS_x86.exe", first.Updates[0].DownloadUrl);
        Assert.Equal("Windows NT Server 4.0", first.Updates.Single(u => u.ProductId == "2").Product);
    }
}
