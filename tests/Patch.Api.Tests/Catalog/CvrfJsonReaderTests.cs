using System.Text;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Catalog;

namespace Patch.Api.Tests.Catalog;

/// <summary>
/// A CVRF document as the MSRC API serves it unless asked for XML: read to the very catalog its XML form gives, and
/// refused, where it cannot be read, naming the JSON path.
/// </summary>
public class when_reading_a_cvrf_document_in_json
{
    private static CatalogDocument Json(string json) => CvrfCatalogReader.Read(Encoding.UTF8.GetBytes(json));

    private static string Serialized(CatalogDocument doc) => JsonSerializer.Serialize(doc);

    public static TheoryData<string> Months()
    {
        // The two months the suite knows by heart, and one month in six of the archive (1999 to 2025).
        var months = new TheoryData<string> { SharedData.Cvrf2023, SharedData.Cvrf2024 };
        foreach (var (file, i) in SharedData.CvrfFiles().Where(f => f.Contains("archive")).Select((f, i) => (f, i)))
            if (i % 6 == 0) months.Add(file);
        return months;
    }

    [Theory]
    [MemberData(nameof(Months))]
    public void a_real_month_in_json_is_the_same_catalog_as_in_xml(string file)
    {
        CatalogDocument xml;
        byte[] json;
        using (var stream = SharedData.OpenCvrf(file)) xml = CvrfCatalogReader.Read(stream);
        using (var stream = SharedData.OpenCvrf(file)) json = CvrfJsonTwin.Of(stream);

        var fromJson = CvrfCatalogReader.Read(json);

        Assert.Equal(Serialized(xml), Serialized(fromJson));
    }

    /// <summary>
    /// The API's own shape: numbers for types (a threat 3 is a severity, 0 an impact; a remediation 2 a vendor fix, 3
    /// release notes, 6 a known issue), an empty RestartRequired, one Supercedence text, products in branches' items;
    /// the XML's type names read too.
    /// </summary>
    [Fact]
    public void the_apis_types_are_read_by_number_or_by_name()
    {
        const string json = """
            {
              "DocumentTitle": { "Value": "Test month" },
              "DocumentTracking": { "Identification": { "ID": { "Value": "2026-Test" } }, "Status": 2,
                "InitialReleaseDate": "2026-09-08T07:00:00", "CurrentReleaseDate": "2026-10-04T01:53:47" },
              "ProductTree": { "Branch": [ { "Items": [ { "Items": [ { "ProductID": "20438", "Value": "Windows 11 Version 25H2 for x64-based Systems" } ], "Type": 1, "Name": "Windows" } ], "Type": 0, "Name": "Microsoft" } ],
                "FullProductName": [ { "ProductID": "12390", "CPE": "cpe:2.3:o:microsoft:windows_11_24H2", "Value": "Windows 11 Version 24H2 for x64-based Systems" } ] },
              "Vulnerability": [ {
                "Title": { "Value": "Windows Update Stack Elevation of Privilege Vulnerability" },
                "Notes": [ { "Title": "Description", "Type": 2, "Ordinal": "0", "Value": "<p>never read</p>" } ],
                "CVE": "cve-2026-81963",
                "Threats": [ { "Description": { "Value": "Critical" }, "ProductID": [ "20438" ], "Type": 0 },
                             { "Description": { "Value": "Important" }, "ProductID": [ "20438" ], "Type": 3 },
                             { "Description": { "Value": "Moderate" }, "ProductID": [ "12390" ], "Type": "Severity" } ],
                "Remediations": [
                  { "Description": { "Value": "5124008" }, "URL": "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB5124008",
                    "Supercedence": "5121003", "ProductID": [ "20438" ], "Type": 2, "AffectedFiles": [], "RestartRequired": { "Value": "Yes" },
                    "SubType": "Security Update", "FixedBuild": "10.0.26200.9445" },
                  { "URL": "https://support.microsoft.com/help/5124008", "ProductID": [ "20438" ], "Type": 3, "SubType": "5124008" },
                  { "Description": { "Value": "5124009" }, "URL": "https://support.microsoft.com/help/5124009", "ProductID": [ "20438" ], "Type": 6 },
                  { "Description": { "Value": "5124008" }, "ProductID": [ "12390" ], "Type": "Vendor Fix", "RestartRequired": {}, "FixedBuild": "10.0.26100.9445" } ]
              } ]
            }
            """;
        var doc = Json(json);

        Assert.Equal("2026-Test", doc.DocumentId);
        var bulletin = Assert.Single(doc.Bulletins);
        Assert.Equal("KB5124008", bulletin.Facts.Number);
        Assert.Equal(["CVE-2026-81963"], bulletin.Facts.Cves);
        Assert.Equal(Severity.Important, bulletin.Facts.Severity);
        Assert.Equal(["KB5121003"], bulletin.Facts.Supersedes);
        Assert.Equal(new DateTimeOffset(2026, 9, 8, 7, 0, 0, TimeSpan.Zero), bulletin.Facts.Released);
        Assert.Equal(new DateTimeOffset(2026, 10, 4, 1, 53, 47, TimeSpan.Zero), bulletin.Facts.Revised);
        Assert.Equal(["Windows 11 Version 24H2 for x64-based Systems", "Windows 11 Version 25H2 for x64-based Systems"],
            bulletin.Updates.Select(u => u.Product).Order(StringComparer.Ordinal));
        var update = bulletin.Updates.Single(u => u.ProductId == "20438");
        Assert.Equal(("10.0.26200.9445", "Security Update", RestartBehavior.Required), (update.FixedBuild, update.SubType, update.Restart));
        Assert.Equal(RestartBehavior.Unknown, bulletin.Updates.Single(u => u.ProductId == "12390").Restart);
    }

    [Theory]
    [InlineData("[]", "Invalid CVRF document", "$")]
    [InlineData("{\"DocumentTitle\":{\"Value\":\"January 2023 Security Updates\"}}", "Missing field", "$")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\" \"}}}}", "Missing field", "$.DocumentTracking")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\"2024-Jan\"}},\"InitialReleaseDate\":\"next Tuesday\"}}", "Invalid date", "$.DocumentTracking.InitialReleaseDate")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\"2024-Jan\"}}},\"Vulnerability\":[{\"CVE\":\"CVE-2024-1000\"},{\"Title\":{\"Value\":\"x\"}}]}", "Missing field", "$.Vulnerability[1]")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\"2024-Jan\"}}},\"Vulnerability\":{}}", "Invalid CVRF document", "$.Vulnerability")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\"2024-Jan\"}}},\"Vulnerability\":[{\"CVE\":7}]}", "Invalid CVRF document", "$.Vulnerability[0].CVE")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\"2024-Jan\"}}},\"Vulnerability\":[{\"CVE\":\"CVE-2024-1000\",\"Threats\":[{\"Type\":true}]}]}", "Invalid CVRF document", "$.Vulnerability[0].Threats[0].Type")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\"2024-Jan\"}}},\"Vulnerability\":[{\"CVE\":\"CVE-2024-1000\",\"Remediations\":[{\"Type\":2,\"ProductID\":[11]}]}]}", "Invalid CVRF document", "$.Vulnerability[0].Remediations[0].ProductID[0]")]
    [InlineData("{\"DocumentTracking\":{\"Identification\":{\"ID\":{\"Value\":\"2024-Jan\"}}},\"Vulnerability\":[{\"CVE\":\"CVE-2024-1000\",\"Remediations\":[{\"Type\":2.5}]}]}", "Invalid CVRF document", "$.Vulnerability[0].Remediations[0].Type")]
    [InlineData("{\"DocumentTitle\":{\"Value\":[\"a\"]}}", "Invalid CVRF document", "$.DocumentTitle")]
    [InlineData("{\"DocumentTitle\":{\"Value\":\"a\"},\"DocumentTitle\":{\"Value\":\"b\"}}", "Malformed JSON", "line 1")]
    [InlineData("{\"DocumentTitle\":{\"Value\":\"a\"}", "Malformed JSON", "line 1")]
    [InlineData("{\"document\":{},\"vulnerabilities\":[]}", "Not a CVRF document", "$.document")]
    [InlineData("{\"@odata.context\":\"x\",\"value\":[]}", "Not a CVRF document", "$.value")]
    [InlineData("{\"catalogVersion\":\"2025.01.01\",\"vulnerabilities\":[]}", "Not a CVRF document", "$.catalogVersion")]
    public void a_document_that_cannot_be_read_is_refused_naming_the_json_path(string json, string title, string place)
    {
        var e = Assert.Throws<CatalogFormatException>(() => Json(json));

        Assert.Equal(title, e.Title);
        Assert.StartsWith(place, e.Place);
        if (place.StartsWith('$')) Assert.Equal(place, e.Place);
    }

    [Fact]
    public void a_document_in_another_encoding_is_refused_naming_the_byte()
    {
        var bytes = Encoding.Latin1.GetBytes("{\"DocumentTitle\":{\"Value\":\"Mise à jour\"}}");

        var e = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(bytes));

        Assert.Equal(("Not UTF-8", "line 1, byte 33"), (e.Title, e.Place));
        // PowerShell 5's Out-File writes UTF-16 with a byte order mark: named as such, not read as malformed XML.
        foreach (var utf16 in new[] { Encoding.Unicode, Encoding.BigEndianUnicode })
        {
            e = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read([.. utf16.GetPreamble(), .. utf16.GetBytes("\r\n{\"DocumentTitle\":{\"Value\":\"x\"}}")]));
            Assert.Equal("Not UTF-8", e.Title);
            Assert.Contains("UTF-16", e.Detail);
        }
    }
}
