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

    /// <summary>
    /// 2021-Oct: CVE-2021-36953's remediation for KB5006670 names 2004, 20H2 and 21H1 with one build (10.0.19041.1288),
    /// 29 others give 21H1 its own (10.0.19043.1288). The first read was kept, so every 21H1 computer on 19043.1237
    /// counted the update as reached: the highest is kept.
    /// </summary>
    [Fact]
    public void remediations_that_disagree_on_a_fixed_build_give_the_highest()
    {
        using var stream = SharedData.OpenCvrf(Path.Combine(SharedData.Root, "msrc-cvrf", "archive", "2021-Oct.xml.gz"));
        var document = CvrfCatalogReader.Read(stream);
        var kb = document.Bulletins.Single(b => b.Facts.Number == "KB5006670");
        Assert.Equal("10.0.19043.1288", kb.Updates.Single(u => u.Product == "Windows 10 Version 21H1 for x64-based Systems").FixedBuild);
        Assert.Equal("10.0.19041.1288", kb.Updates.Single(u => u.Product == "Windows 10 Version 2004 for x64-based Systems").FixedBuild);
    }

    /// <summary>Supersedence written with HTML line breaks, "None", or a truncated number keeps only what names something as text.</summary>
    [Theory]
    [InlineData("2018-Aug")]
    [InlineData("2017-Oct")]
    [InlineData("2022-Nov")]
    public void supersedence_text_keeps_no_markup_none_or_bare_digits(string month)
    {
        using var stream = SharedData.OpenCvrf(Path.Combine(SharedData.Root, "msrc-cvrf", "archive", $"{month}.xml.gz"));
        var texts = CvrfCatalogReader.Read(stream).Bulletins.SelectMany(b => b.Facts.SupersedesText).ToList();
        Assert.DoesNotContain(texts, t => t.Contains('<') || t.Equals("None", StringComparison.OrdinalIgnoreCase) || t.All(char.IsAsciiDigit));
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

    /// <summary>
    /// The reader is one streaming pass, but reads as a tree would: the product tree may come after the vulnerabilities,
    /// a remediation before its threats; the first of a singular element counts; an element's text is all the text in it
    /// (CDATA, comments between); the notes and score sets it skips are still checked for well-formedness.
    /// </summary>
    [Fact]
    public void a_document_reads_the_same_in_any_element_order()
    {
        const string xml = """
            <cvrfdoc xmlns="http://www.icasi.org/CVRF/schema/cvrf/1.1" xmlns:vuln="http://www.icasi.org/CVRF/schema/vuln/1.1" xmlns:prod="http://www.icasi.org/CVRF/schema/prod/1.1">
              <vuln:Vulnerability>
                <vuln:Notes><vuln:Note>Long <b>text</b> never read</vuln:Note></vuln:Notes>
                <vuln:Remediations>
                  <vuln:Remediation Type="Vendor Fix"><vuln:ProductID>11</vuln:ProductID><vuln:Description>5034441</vuln:Description>
                    <vuln:Description>999999</vuln:Description><vuln:Supercedence>5033372<!-- c -->, 5033373</vuln:Supercedence></vuln:Remediation>
                  <vuln:Remediation Type="Release Notes"><vuln:Description>5000001</vuln:Description><vuln:ProductID>11</vuln:ProductID></vuln:Remediation>
                </vuln:Remediations>
                <vuln:CVE>CVE-2024-<![CDATA[0001]]></vuln:CVE><vuln:CVE>CVE-2024-9999</vuln:CVE>
                <vuln:Threats><vuln:Threat Type="Impact"><vuln:Description>Critical</vuln:Description><vuln:ProductID>11</vuln:ProductID></vuln:Threat>
                  <vuln:Threat Type="Severity"><vuln:ProductID>11</vuln:ProductID><vuln:Description>Important</vuln:Description></vuln:Threat></vuln:Threats>
              </vuln:Vulnerability>
              <DocumentTitle>Test <!-- between -->month</DocumentTitle>
              <DocumentTracking><Identification><ID>2024-Test</ID></Identification><InitialReleaseDate>2024-01-09T08:00:00</InitialReleaseDate></DocumentTracking>
              <DocumentTracking><Identification><ID>ignored</ID></Identification></DocumentTracking>
              <prod:ProductTree><prod:Branch><prod:FullProductName ProductID="11">Windows 11 Version 23H2 for x64-based Systems</prod:FullProductName></prod:Branch></prod:ProductTree>
            </cvrfdoc>
            """;
        var doc = CvrfCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(xml)));

        Assert.Equal("2024-Test", doc.DocumentId);
        var bulletin = Assert.Single(doc.Bulletins);
        Assert.Equal("KB5034441", bulletin.Facts.Number);
        Assert.Contains("(Test month)", bulletin.Facts.Title);
        Assert.Equal(["CVE-2024-0001"], bulletin.Facts.Cves);
        Assert.Equal(Severity.Important, bulletin.Facts.Severity);
        Assert.Equal(["KB5033372", "KB5033373"], bulletin.Facts.Supersedes);
        Assert.Equal(new DateTimeOffset(2024, 1, 9, 8, 0, 0, TimeSpan.Zero), bulletin.Facts.Released);
        var update = Assert.Single(bulletin.Updates);
        Assert.Equal("Windows 11 Version 23H2 for x64-based Systems", update.Product);

        var broken = xml.Replace("Long <b>text</b>", "Long <b>text</i>");
        var e = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(broken))));
        Assert.Equal("Malformed XML", e.Title);
        Assert.StartsWith("line 3,", e.Place);
        var noCve = xml.Replace("<vuln:CVE>CVE-2024-<![CDATA[0001]]></vuln:CVE><vuln:CVE>CVE-2024-9999</vuln:CVE>", "");
        e = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(noCve))));
        Assert.Equal(("Missing field", "line 2, column 4"), (e.Title, e.Place));
        var badDate = xml.Replace("2024-01-09T08:00:00", "next Tuesday");
        e = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(badDate))));
        Assert.Equal(("Invalid date", "line 14, column 73"), (e.Title, e.Place));
    }
}

public class when_a_catalog_nests_elements_deeply
{
    private static string Nest(int depth) => string.Concat(Enumerable.Repeat("<x>", depth)) + string.Concat(Enumerable.Repeat("</x>", depth));

    [Fact]
    public void a_cvrf_document_passes_over_a_deep_subtree_it_does_not_read()
    {
        // The streamed CVRF reader builds nothing from what it skips: a deep extension under DocumentTracking is passed
        // over whole (by the reader beneath), not read node by node and refused.
        using var shared = SharedData.Open("msrc-cvrf/2024-Jan.xml");
        using var text = new StreamReader(shared);
        var xml = text.ReadToEnd().Replace("<cvrf:Identification>", $"<cvrf:Extension>{Nest(5_000)}</cvrf:Extension><cvrf:Identification>");

        var doc = CvrfCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(xml)));

        Assert.Equal("2024-Jan", doc.DocumentId);
        Assert.Equal(37, doc.Bulletins.Count);
    }

    [Fact]
    public void a_document_built_as_a_tree_is_refused_past_the_depth_limit_naming_the_place()
    {
        var xml = $"<BulletinDatastore><Bulletins>{Nest(SafeXml.MaxDepth + 10)}</Bulletins></BulletinDatastore>";

        var e = Assert.Throws<CatalogFormatException>(() => MssecureCatalogReader.Read(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(xml))));

        Assert.Equal("XML nested too deeply", e.Title);
        Assert.StartsWith("line 1, column ", e.Place);
    }

    /// <summary>
    /// Every month Microsoft published, 1999 to 2025, passes the value checks (stop 54): they are Microsoft's own values
    /// (ADV ids, "CVE-2023-1234-M", a "None" severity, file: and ms-windows-store: addresses, "KB Article").
    /// </summary>
    [Fact]
    public void every_real_month_passes_the_value_checks()
    {
        foreach (var file in SharedData.CvrfFiles())
        {
            using var stream = SharedData.OpenCvrf(file);
            var e = Record.Exception(() => CvrfCatalogReader.Read(stream));
            Assert.True(e is null, $"{file}: {e?.Message}");
        }
    }

    /// <summary>
    /// A real month with one value changed to what Microsoft never writes (the fourth sweep, stop 54): refused naming the
    /// vulnerability and the value. Each was stored before, and most for good (a CVE, an update, a fact is never taken away).
    /// </summary>
    [Theory]
    [InlineData("<vuln:CVE>CVE-2024-0340</vuln:CVE>", "<vuln:CVE>NOT-A-CVE</vuln:CVE>", "Invalid vulnerability", "'NOT-A-CVE' is no CVE id")]
    [InlineData("<vuln:Description>Moderate</vuln:Description>", "<vuln:Description>Apocalyptic</vuln:Description>", "Invalid vulnerability", "the severity 'Apocalyptic' is none of Critical, Important, Moderate, Low, None")]
    [InlineData("<vuln:RestartRequired>No</vuln:RestartRequired>", "<vuln:RestartRequired>Perhaps</vuln:RestartRequired>", "Invalid vulnerability", "RestartRequired 'Perhaps' is none of Yes, No, Maybe")]
    [InlineData(@"(Type=""Vendor Fix"">\s*<vuln:Description>)(\d{7})(</vuln:Description>\s*<vuln:URL>)[^<]+", "$1$2$3javascript:alert(1)", "Invalid vulnerability", "the URL 'javascript:alert(1)' is no http, https, file or ms-windows-store address")]
    [InlineData(@"(Type=""Vendor Fix"">\s*<vuln:Description>)\d{7}<", "$1KB50X5123<", "Invalid vulnerability", "the description 'KB50X5123' begins as a KB number but is none")]
    [InlineData(@"(Type=""Vendor Fix"">\s*<vuln:Description>)\d{7}<", "$1５０３４７６３<", "Invalid vulnerability", "begins as a KB number but is none")]
    [InlineData(@"(Type=""Vendor Fix"">\s*<vuln:Description>\d{7}</vuln:Description>\s*<vuln:URL>[^<]*</vuln:URL>\s*<vuln:ProductID>)[^<]+", "${1}999999", "Invalid vulnerability", "ProductID '999999' is not in the document's product tree")]
    [InlineData("<vuln:FixedBuild>5.15.153.1-1</vuln:FixedBuild>", "<vuln:FixedBuild>5.15.153.1-1XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX</vuln:FixedBuild>", "Invalid vulnerability", "a build is at most 256")]
    [InlineData("<cvrf:InitialReleaseDate>2024-01-09T08:00:00</cvrf:InitialReleaseDate>", "<cvrf:InitialReleaseDate></cvrf:InitialReleaseDate>", "Invalid date", "the date is empty")]
    [InlineData("<cvrf:CurrentReleaseDate>2026-06-28T01:39:56", "<cvrf:CurrentReleaseDate>2020-01-01T00:00:00", "Invalid date", "revised (2020-01-01 00:00) before it was released (2024-01-09 08:00)")]
    public void a_real_month_with_a_value_microsoft_never_writes_is_refused_naming_it(string pattern, string replacement, string title, string detail)
    {
        using var shared = SharedData.Open("msrc-cvrf/2024-Jan.xml");
        var xml = new StreamReader(shared).ReadToEnd();
        var mutated = new System.Text.RegularExpressions.Regex(pattern).Replace(xml, replacement, 1);
        Assert.NotEqual(xml, mutated);

        foreach (var bytes in new[] { System.Text.Encoding.UTF8.GetBytes(mutated), CvrfJsonTwin.Of(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(mutated))) })
        {
            var e = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(bytes));
            Assert.Equal(title, e.Title);
            Assert.Contains(detail, e.Detail);
            Assert.False(string.IsNullOrEmpty(e.Place));
        }
    }
}
