using Patch.Api.Tests.Infrastructure;
using System.Text;
using Patch.Application.Catalog.Formats;

namespace Patch.Api.Tests.Catalog;

/// <summary>Every kind of bad file is refused with an error that names the problem and the place.</summary>
public class when_a_catalog_file_is_bad
{
    private static CatalogFormatException Refused(Func<Stream, object> read, string content) =>
        Assert.Throws<CatalogFormatException>(() => read(new MemoryStream(Encoding.UTF8.GetBytes(content))));

    private const string CvrfNs = "http://www.icasi.org/CVRF/schema/cvrf/1.1";

    [Fact]
    public void malformed_xml_names_line_and_column()
    {
        var e = Refused(CvrfCatalogReader.Read, $"<cvrfdoc xmlns=\"{CvrfNs}\">\n  <DocumentTitle>x</DocumentTit>\n</cvrfdoc>");
        Assert.Equal("Malformed XML", e.Title);
        Assert.Equal("line 2, column 21", e.Place);
    }

    [Fact]
    public void an_encoding_the_bytes_do_not_match_is_refused_at_the_declaration()
    {
        // UTF-8 bytes that declare UTF-16 (no byte order mark): the reader cannot switch and says so.
        var e = Refused(CvrfCatalogReader.Read, $"<?xml version=\"1.0\" encoding=\"utf-16\"?>\n<cvrfdoc xmlns=\"{CvrfNs}\"/>");
        Assert.Equal("Malformed XML", e.Title);
        Assert.Contains("byte order mark", e.Detail);
        Assert.Equal("line 1, column 1", e.Place);
    }

    private const string KevHeader = "cveID,vendorProject,product,vulnerabilityName,dateAdded,dueDate\n";

    [Theory]
    [InlineData(KevHeader + "CVE-2024-1000,Microsoft,Windows,A,2024-02-30,\n", "Invalid KEV catalog", "row 2, dateAdded", "'2024-02-30' is not a date")]
    [InlineData(KevHeader + "CVE-2024-1000,Microsoft,Windows,A,2024-02-13,\nCVE-2024-1000,Microsoft,Windows,B,2024-02-13,\n", "Invalid KEV catalog", "row 3, cveID", "also at row 2")]
    [InlineData(KevHeader + "CVE-2024-1000,Microsoft,Windows,A,2024-02-13\n", "Invalid KEV catalog", "row 2", "5 cells where the header has 6")]
    [InlineData(KevHeader + "CVE-2024-1000,Micro\u0000soft,Windows,A,2024-02-13,\n", "Control character in text", "row 2, vendorProject", "U+0000")]
    [InlineData(KevHeader + "CVE-2024-1000,Microsoft,,A,2024-02-13,\n", "Invalid KEV catalog", "row 2, product", "required field is missing")]
    [InlineData(KevHeader + "\"CVE-2024-1000,Microsoft,Windows,A,2024-02-13,\n", "Malformed CSV", "row", "")]
    [InlineData(KevHeader, "Invalid KEV catalog", "row 2", "no entries")]
    [InlineData("cve,vendor,product\nCVE-2024-1000,Microsoft,Windows\n", "Invalid KEV catalog", "row 1", "no 'cveID' column")]
    [InlineData("cveID,cveid,vendorProject\n", "Invalid KEV catalog", "row 1, column 2", "twice")]
    public void a_bad_kev_csv_is_refused_naming_the_row_and_column(string csv, string title, string place, string detail)
    {
        var e = Refused(KevCatalogReader.Read, csv);
        Assert.Equal(title, e.Title);
        Assert.StartsWith(place, e.Place);
        Assert.Contains(detail, e.Detail);
    }

    [Fact]
    public void a_kev_csv_in_latin_1_is_refused_as_not_utf_8()
    {
        var bytes = Encoding.Latin1.GetBytes(KevHeader + "CVE-2024-1000,Micr\u00f6soft,Windows,A,2024-02-13,\n");
        var e = Assert.Throws<CatalogFormatException>(() => KevCatalogReader.Read(new MemoryStream(bytes)));
        Assert.Equal("Not UTF-8", e.Title);
        Assert.Equal("line 2, byte 19", e.Place);
    }

    [Fact]
    public void a_gzip_compressed_catalog_is_opened_and_a_broken_or_expanding_one_refused()
    {
        var xml = SharedData.Bytes(SharedData.Cvrf2023);
        using var packed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(xml);
        Assert.Equal(xml, CatalogContainer.Open(packed.ToArray(), 64L << 20));

        var cut = Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(packed.ToArray()[..(int)(packed.Length / 2)], 64L << 20));
        Assert.Equal("Malformed gzip", cut.Title);
        // A kilobyte that expands past the limit is refused while it is read.
        var big = Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(packed.ToArray(), 1_000_000));
        Assert.Equal("Catalog file too large", big.Title);
        Assert.Contains("expands to more than", big.Detail);
    }

    [Theory]
    [InlineData("MSCF\0\0\0\0", "Cabinet file", "expand file.cab -F:mssecure.xml")]
    [InlineData("PK\u0003\u0004rest", "ZIP archive", "extract the catalog file")]
    public void an_archive_is_refused_naming_what_to_extract(string start, string title, string detail)
    {
        var e = Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(Encoding.Latin1.GetBytes(start), 64L << 20));
        Assert.Equal(title, e.Title);
        Assert.Contains(detail, e.Detail);
    }

    [Fact]
    public void a_zip_archive_is_refused_naming_its_files()
    {
        using var packed = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(packed, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            zip.CreateEntry("feeds/");
            using (var w = new StreamWriter(zip.CreateEntry("feeds/known_exploited_vulnerabilities.json").Open())) w.Write("{}");
        }
        var e = Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(packed.ToArray(), 64L << 20));
        Assert.Equal("ZIP archive", e.Title);
        Assert.Contains("holding feeds/known_exploited_vulnerabilities.json: extract", e.Detail);
    }

    /// <summary>A cabinet's header lists its files (CFFILE entries after the folders): the refusal names them and the one to extract.</summary>
    [Fact]
    public void a_cabinet_is_refused_naming_the_files_it_holds()
    {
        static byte[] Cab(params string[] names)
        {
            var files = names.SelectMany(n => new byte[16].Concat(Encoding.ASCII.GetBytes(n)).Append((byte)0)).ToArray();
            var header = new byte[36 + 8];
            "MSCF"u8.CopyTo(header);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)(header.Length + files.Length));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), (uint)header.Length);
            header[24] = 3; header[25] = 1; header[26] = 1;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(28), (ushort)names.Length);
            return [.. header, .. files];
        }

        var mbsa = Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(Cab("mssecure.xml"), 64L << 20));
        Assert.Equal("Cabinet file", mbsa.Title);
        Assert.Contains("holding mssecure.xml", mbsa.Detail);
        Assert.Contains("cabextract -F mssecure.xml file.cab", mbsa.Detail);
        var other = Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(Cab("readme.txt", "catalog.json"), 64L << 20));
        Assert.Contains("holding readme.txt, catalog.json", other.Detail);
        Assert.Contains("import catalog.json", other.Detail);
        var scan = Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(Cab("package.cab", "package2.cab"), 64L << 20));
        Assert.Contains("holding package.cab, package2.cab: none of them is a catalog Patch reads", scan.Detail);
        // A header that names more files than it holds lists what it can.
        // A file table placed past any file (an offset with its top bit set) lists nothing and is refused all the same.
        var far = Cab("mssecure.xml");
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(far.AsSpan(16), 0xFFFFFFF0);
        Assert.Equal("Cabinet file", Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(far, 64L << 20)).Title);
        var cut = Cab("mssecure.xml");
        cut[28] = 9;
        Assert.Contains("holding mssecure.xml,", Assert.Throws<CatalogFormatException>(() => CatalogContainer.Open(cut, 64L << 20)).Detail + ",");
    }

    [Fact]
    public void a_wrong_root_element_is_refused()
    {
        var e = Refused(CvrfCatalogReader.Read, "<rss version=\"2.0\"><channel/></rss>");
        Assert.Equal("Not a CVRF 1.1 document", e.Title);
        Assert.Contains("'rss'", e.Detail);
    }

    [Fact]
    public void the_right_root_in_the_wrong_namespace_is_refused()
    {
        var e = Refused(CvrfCatalogReader.Read, "<cvrfdoc xmlns=\"http://docs.oasis-open.org/csaf/ns/csaf-cvrf/v1.2/cvrf\"/>");
        Assert.Contains("namespace 'http://docs.oasis-open.org/csaf/ns/csaf-cvrf/v1.2/cvrf'", e.Detail);
    }

    [Fact]
    public void a_document_without_an_id_is_refused()
    {
        var e = Refused(CvrfCatalogReader.Read, $"<cvrfdoc xmlns=\"{CvrfNs}\"><DocumentTracking><Identification/></DocumentTracking></cvrfdoc>");
        Assert.Equal("Missing field", e.Title);
        Assert.Contains("cvrf:ID", e.Detail);
    }

    [Fact]
    public void an_external_entity_is_never_resolved()
    {
        var xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<BulletinDatastore>&xxe;</BulletinDatastore>";
        var e = Refused(MssecureCatalogReader.Read, xxe);
        Assert.Equal("XML with a DTD is refused", e.Title);
        Assert.Equal("line 2, column 1", e.Place);
    }

    [Fact]
    public void a_billion_laughs_bomb_is_refused_before_expansion()
    {
        var bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">" +
                   "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]><BulletinDatastore>&lol3;</BulletinDatastore>";
        Assert.Equal("XML with a DTD is refused", Refused(MssecureCatalogReader.Read, bomb).Title);
    }

    [Fact]
    public void a_duplicate_mssecure_bulletin_is_refused()
    {
        var e = Refused(MssecureCatalogReader.Read, "<BulletinDatastore><Bulletins><Bulletin BulletinID=\"MS01-001\"/>\n<Bulletin BulletinID=\"MS01-001\"/></Bulletins></BulletinDatastore>");
        Assert.Equal("Duplicate id", e.Title);
        Assert.StartsWith("line 2", e.Place);
    }

    private static string Catalog(string bulletins, string schemaVersion = "1.0") => $$"""
        { "schemaVersion": "{{schemaVersion}}", "catalogId": "t",
          "vendors": [{ "id": "microsoft", "name": "Microsoft" }],
          "products": [{ "id": "w10", "name": "Windows 10 Version 22H2 for x64-based Systems", "vendor": "microsoft" }],
          "bulletins": [{{bulletins}}] }
        """;

    private const string Update = """{ "id": "KB1-w10", "product": "w10", "culture": "en-US" }""";

    [Theory]
    [InlineData("{ \"schemaVersion\": \"1.0\", ", "Malformed JSON", "line 1, byte")]
    [InlineData("{ \"schemaVersion\": \"1.0\", \"catalogId\": \"a\", \"catalogId\": \"b\", \"bulletins\": [] }", "Malformed JSON", "line 1, byte")]
    [InlineData("[]", "Invalid Patch catalog", "$")]
    public void malformed_json_is_refused(string json, string title, string place)
    {
        var e = Refused(PatchCatalogReader.Read, json);
        Assert.Equal(title, e.Title);
        Assert.StartsWith(place, e.Place);
    }

    [Fact]
    public void an_unknown_schema_version_is_refused() =>
        Assert.Equal("$.schemaVersion", Refused(PatchCatalogReader.Read, Catalog("", "2.0")).Place);

    [Theory]
    [InlineData("""{ "vendor": "microsoft", "title": "t" }""", "$.bulletins[0].id", "required field is missing")]
    [InlineData("""{ "id": "KB1", "vendor": "contoso", "title": "t" }""", "$.bulletins[0].vendor", "unknown vendor 'contoso'")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "severity": "Urgent" }""", "$.bulletins[0].severity", "'Urgent'")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "cves": ["CVE-24-1"] }""", "$.bulletins[0].cves[0]", "not a CVE id")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w11" }] }""", "$.bulletins[0].updates[0].product", "unknown product 'w11'")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "sha256": "abc" }] }""", "$.bulletins[0].updates[0].sha256", "64 hexadecimal")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "size": -1 }] }""", "$.bulletins[0].updates[0].size", "non-negative")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "downloadUrl": "ftp://x/y" }] }""", "$.bulletins[0].updates[0].downloadUrl", "http, https or file")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "applicability": { "product": "a", "kbInstalled": "b" } }] }""", "$.bulletins[0].updates[0].applicability", "exactly one key")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "installed": { "all": [{ "registryKey": "x" }] } }] }""", "$.bulletins[0].updates[0].installed.all[0].registryKey", "unknown rule")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "installed": { "osBuildAtLeast": "22H2" } }] }""", "$.bulletins[0].updates[0].installed.osBuildAtLeast", "build number")]
    // The fourth sweep (stop 54): ids no address can name, file names that are paths, cultures and dates that are none.
    [InlineData("""{ "id": "KB/../X", "vendor": "microsoft", "title": "t" }""", "$.bulletins[0].id", "no id an address can name")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "a#b", "product": "w10" }] }""", "$.bulletins[0].updates[0].id", "no id an address can name")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "fileName": "..\\..\\Windows\\System32\\evil.msu" }] }""", "$.bulletins[0].updates[0].fileName", "must be a bare file name")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "fileName": "a|b.msu" }] }""", "$.bulletins[0].updates[0].fileName", "Windows forbids")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "culture": "xx-NOPE-123456789" }] }""", "$.bulletins[0].updates[0].culture", "not a culture name")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "released": "2024-03-12", "revised": "2020-01-01" }""", "$.bulletins[0].revised", "before released")]
    public void a_missing_or_wrong_field_is_named_by_its_json_path(string bulletin, string place, string detail)
    {
        var e = Refused(PatchCatalogReader.Read, Catalog(bulletin));
        Assert.Equal(place, e.Place);
        Assert.Contains(detail, e.Detail);
    }

    [Fact]
    public void duplicate_bulletin_ids_are_refused_naming_both_places()
    {
        var b = """{ "id": "KB1", "vendor": "microsoft", "title": "t" }""";
        var e = Refused(PatchCatalogReader.Read, Catalog($"{b}, {b}"));
        Assert.Equal("$.bulletins[1].id", e.Place);
        Assert.Contains("also at $.bulletins[0]", e.Detail);
    }

    [Fact]
    public void duplicate_update_ids_are_refused_even_across_bulletins()
    {
        var e = Refused(PatchCatalogReader.Read, Catalog($$"""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{{Update}}] }, { "id": "KB2", "vendor": "microsoft", "title": "t", "updates": [{{Update}}] }"""));
        Assert.Equal("$.bulletins[1].updates[0].id", e.Place);
    }

    [Theory]
    [InlineData("""{ "catalogVersion": "2024.01.01", "vulnerabilities": [{ "vendorProject": "x" }] }""", "$.vulnerabilities[0].cveID")]
    [InlineData("""{ "catalogVersion": "2024.01.01", "vulnerabilities": [{ "cveID": "CVE-2024-0001", "vendorProject": "x", "product": "p", "vulnerabilityName": "n", "dateAdded": "13/02/2024" }] }""", "$.vulnerabilities[0].dateAdded")]
    [InlineData("""{ "vulnerabilities": [] }""", "$.catalogVersion")]
    public void a_bad_kev_entry_is_named_by_its_json_path(string json, string place) =>
        Assert.Equal(place, Refused(KevCatalogReader.Read, json).Place);

    [Fact]
    public void a_duplicate_kev_cve_is_refused()
    {
        var v = """{ "cveID": "CVE-2024-0001", "vendorProject": "x", "product": "p", "vulnerabilityName": "n", "dateAdded": "2024-02-13" }""";
        var e = Refused(KevCatalogReader.Read, $$"""{ "catalogVersion": "2024.01.01", "vulnerabilities": [{{v}}, {{v}}] }""");
        Assert.Contains("duplicate CVE", e.Detail);
    }

    [Theory]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "files": [] }] }""", "$.bulletins[0].updates[0].files", "empty")]
    [InlineData("""{ "id": "KB1", "vendor": "microsoft", "title": "t", "updates": [{ "id": "u", "product": "w10", "files": [{ "url": "https://x.example/a.msu", "fileName": "a.msu" }, { "url": "https://x.example/b/a.msu", "fileName": "A.msu" }] }] }""", "$.bulletins[0].updates[0].files[1].fileName", "given twice")]
    public void a_files_list_that_is_empty_or_names_a_file_twice_is_refused(string bulletin, string place, string detail)
    {
        var e = Refused(PatchCatalogReader.Read, Catalog(bulletin, "1.1"));
        Assert.Equal(place, e.Place);
        Assert.Contains(detail, e.Detail);
    }

    /// <summary>The real datastore with one value changed to what it never holds (the fourth sweep, stop 54): refused naming it and its place.</summary>
    [Theory]
    [InlineData("PatchName=\"CREATALS_x86.exe\"", "PatchName=\"../../../etc/passwd\"", "PatchName: '../../../etc/passwd' must be a bare file name")]
    [InlineData("<AffectedProduct ProductID=\"3\"", "<AffectedProduct ProductID=\"99999\"", "ProductID='99999' is not in the datastore's Products")]
    [InlineData("<AffectedProduct ProductID=\"3\"", "<AffectedProduct ProductID=\"three\"", "ProductID='three' is not in the datastore's Products")]
    [InlineData("<AffectedProduct ProductID=\"3\" FixedInSP=\"0\"", "<AffectedProduct ProductID=\"3\" FixedInSP=\"99999999999999999999\"", "FixedInSP='99999999999999999999' is not in the datastore's ServicePacks")]
    [InlineData("SBID=\"0\"", "SBID=\"xyz\"", "SBID='xyz' is not a number")]
    [InlineData("DateRevised=\"1999/03/24\"", "DateRevised=\"\"", "DateRevised is empty")]
    [InlineData(@"<Bulletins>[\s\S]*</Bulletins>", "<Bulletins/>", "holds no bulletin")]
    public void the_real_datastore_with_a_value_it_never_holds_is_refused_naming_it(string pattern, string replacement, string detail)
    {
        var xml = Encoding.UTF8.GetString(SharedData.Bytes(SharedData.Mssecure));
        var mutated = pattern.StartsWith('<') && pattern.Contains('[')
            ? new System.Text.RegularExpressions.Regex(pattern).Replace(xml, replacement, 1)
            : new System.Text.RegularExpressions.Regex(System.Text.RegularExpressions.Regex.Escape(pattern)).Replace(xml, replacement, 1);
        Assert.NotEqual(xml, mutated);

        var e = Refused(MssecureCatalogReader.Read, mutated);

        Assert.Contains(detail, e.Detail);
        Assert.StartsWith("line ", e.Place);
    }
}
