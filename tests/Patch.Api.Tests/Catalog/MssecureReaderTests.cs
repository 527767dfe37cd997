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

    /// <summary>
    /// Most patch locations are no file (a bulletin's page, a download page, a placeholder), which staging would store as
    /// the package: only a location naming the file itself, or a folder the file is in, is a download URL.
    /// </summary>
    [Fact]
    public void a_location_that_is_a_page_is_no_download_url_and_a_folder_takes_the_file_name()
    {
        Assert.All(Doc.Value.Bulletins.Single(b => b.Facts.Number == "MS98-005").Updates, u => Assert.Null(u.DownloadUrl));
        Assert.All(Doc.Value.Bulletins.Single(b => b.Facts.Number == "MS00-011").Updates, u => Assert.Null(u.DownloadUrl));
        Assert.Contains(Doc.Value.Bulletins.Single(b => b.Facts.Number == "MS98-002").Updates,
            u => u.DownloadUrl == "ftp://ftp.microsoft.com/bussys/winnt/winnt-public/fixes/usa/NT40/hotfixes-postSP3/ssl-fix/ssl-fixi.exe");
        Assert.DoesNotContain(Doc.Value.Bulletins.SelectMany(b => b.Updates), u => u.DownloadUrl is { } url && url.Contains("urlplaceholder"));
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

/// <summary>
/// The datastore as MBSA 1.2 read it (2003–2005): a patch carries Microsoft's rating (MSSeverityID, named in MSSeverities)
/// and the CVEs it fixes (CVEID, candidates written CAN-). The shape follows the published description of the 1.1.2
/// files (BulletinDatastore DataVersion="1.1.2.409", MS03-026's Patch element); the rows of MSSeverities are read by
/// their rating word, whichever attribute holds it.
/// </summary>
public class when_reading_a_later_mssecure_datastore
{
    public const string Xml = """
        <?xml version="1.0"?>
        <BulletinDatastore DataVersion="1.1.2.409" LastDataUpdate="4/15/2005">
          <Bulletins>
            <Bulletin BulletinID="MS03-026" BulletinLocationID="73" Title="Buffer Overrun In RPC Interface Could Allow Code Execution (823980)" DatePosted="2003/07/16" DateRevised="2003/07/16" Supported="Yes" Summary="Remote Procedure Call (RPC) is a protocol used by the Windows operating system." Issue="">
              <QNumbers><QNumber QNumber="Q823980"/></QNumbers>
              <Patches>
                <Patch PatchName="Q823980i.EXE" PatchLocationID="1815" SBID="0" SQNumber="Q823980" NoReboot="0" MSSeverityID="2" BugtraqID="8205" CVEID="CAN-2003-0352" ShavlikPatchComment="">
                  <AffectedProduct ProductID="1" FixedInSP="0"><AffectedServicePack ServicePackID="7"/></AffectedProduct>
                </Patch>
                <Patch PatchName="WindowsXP-KB823980-x86-ENU.exe" PatchLocationID="1816" SBID="0" SQNumber="Q823980" NoReboot="0" MSSeverityID="1" CVEID="CVE-2003-0605, can-2003-0528;N/A junk-id">
                  <AffectedProduct ProductID="2" FixedInSP="0"/>
                </Patch>
              </Patches>
            </Bulletin>
            <Bulletin BulletinID="MS04-020" Title="Vulnerability in POSIX Could Allow Code Execution (841872)" DatePosted="2004/07/13" DateRevised="2004/07/13" Supported="Yes" Summary="A privilege elevation vulnerability exists in the POSIX operating system component.">
              <Patches>
                <Patch PatchName="Windows2000-KB841872-x86-ENU.EXE" PatchLocationID="1816" SBID="0" SQNumber="Q841872" NoReboot="0" MSSeverityID="3" CVEID="CAN-2004-0210">
                  <AffectedProduct ProductID="2" FixedInSP="0"/>
                </Patch>
              </Patches>
            </Bulletin>
            <Bulletin BulletinID="MS05-001" Title="Unrated" DatePosted="2005/01/11" DateRevised="2005/01/11" Supported="Yes" Summary="x">
              <Patches><Patch PatchName="a.exe" SBID="0" MSSeverityID="9"><AffectedProduct ProductID="2" FixedInSP="0"/></Patch></Patches>
            </Bulletin>
          </Bulletins>
          <Products>
            <Product ProductID="1" Name="Windows NT Workstation 4.0"/>
            <Product ProductID="2" Name="Windows XP Professional"/>
          </Products>
          <ServicePacks><ServicePack ServicePackID="7" Name="Windows NT4 Service Pack 6a"/></ServicePacks>
          <Locations><Location LocationID="1815" Path="http://download.microsoft.com/Q823980i.EXE"/><Location LocationID="1816" Path="http://download.microsoft.com/xp.exe"/></Locations>
          <Severities><Severity SeverityID="0" Description="NA"/></Severities>
          <MSSeverities>
            <MSSeverity MSSeverityID="1" Name="Critical"/>
            <MSSeverity MSSeverityID="2" Name="Important"/>
            <MSSeverity MSSeverityID="3" Description="Important"/>
            <MSSeverity MSSeverityID="9" Name="Unrated"/>
          </MSSeverities>
          <SupercededBys/>
        </BulletinDatastore>
        """;

    private static CatalogDocument Read() => MssecureCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(Xml.TrimStart())));

    [Fact]
    public void a_bulletin_is_rated_as_its_highest_rated_patch()
    {
        var doc = Read();
        Assert.Equal(Severity.Critical, doc.Bulletins.Single(b => b.Facts.Number == "MS03-026").Facts.Severity);
        Assert.Equal(Severity.Important, doc.Bulletins.Single(b => b.Facts.Number == "MS04-020").Facts.Severity);
        // A rating id whose row names no rating word rates nothing.
        Assert.Equal(Severity.None, doc.Bulletins.Single(b => b.Facts.Number == "MS05-001").Facts.Severity);
    }

    [Fact]
    public void its_cves_are_its_patches_candidates_named_as_cves_and_a_token_that_is_none_is_counted_as_skipped()
    {
        var doc = Read();
        Assert.Equal(["CVE-2003-0352", "CVE-2003-0528", "CVE-2003-0605"], doc.Bulletins.Single(b => b.Facts.Number == "MS03-026").Facts.Cves);
        Assert.Equal(["CVE-2004-0210"], doc.Bulletins.Single(b => b.Facts.Number == "MS04-020").Facts.Cves);
        Assert.Empty(doc.Bulletins.Single(b => b.Facts.Number == "MS05-001").Facts.Cves);
        Assert.Contains(doc.Skipped, s => s.Item == "CVEID 'junk-id' of MS03-026 is not a CVE id");
        Assert.DoesNotContain(doc.Skipped, s => s.Item.Contains("'N/A'"));
        Assert.Equal("mssecure-1.1.2.409", doc.DocumentId);
    }
}

/// <summary>
/// Files written on Windows declare its code pages: their text is read in them (the server registers .NET's code-page
/// encodings; the bytes here are written by hand, so this test does not register them itself).
/// </summary>
public class when_an_xml_catalog_declares_a_windows_code_page
{
    [Theory]
    [InlineData("windows-1252", new byte[] { 0x92 }, "\u2019")]
    [InlineData("iso-8859-1", new byte[] { 0xE9 }, "\u00e9")]
    [InlineData("ibm850", new byte[] { 0x82 }, "\u00e9")]
    public void it_is_read_in_that_code_page(string encoding, byte[] character, string expected)
    {
        var head = System.Text.Encoding.ASCII.GetBytes($"<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n<BulletinDatastore DataVersion=\"1\"><Bulletins>" +
                   "<Bulletin BulletinID=\"MS02-001\" Title=\"Microsoft");
        var tail = System.Text.Encoding.ASCII.GetBytes("s Services\" DatePosted=\"2002/01/01\" DateRevised=\"2002/01/01\"/></Bulletins></BulletinDatastore>");
        var doc = MssecureCatalogReader.Read(new MemoryStream([.. head, .. character, .. tail]));
        Assert.Equal($"Microsoft{expected}s Services", doc.Bulletins.Single().Facts.Title);
    }
}
