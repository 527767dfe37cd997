using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace Patch.Api.Tests.Catalog;

/// <summary>
/// A real XML month written as the MSRC API serves it in JSON (its default form): every element the XML holds, text
/// elements as {"Value": …}, types as Microsoft's enumeration numbers, lists as arrays. The shape is the one
/// docs/catalog-formats.md describes and names the sources of (Microsoft's MsrcSecurityUpdates module, a public parser
/// checked against a real 2026 document); no real JSON document is in ../shared.
/// </summary>
internal static class CvrfJsonTwin
{
    private static readonly XNamespace Cvrf = "http://www.icasi.org/CVRF/schema/cvrf/1.1", Vuln = "http://www.icasi.org/CVRF/schema/vuln/1.1",
        Prod = "http://www.icasi.org/CVRF/schema/prod/1.1";

    private static readonly Dictionary<string, int> NoteTypes = new()
    {
        ["General"] = 0, ["Details"] = 1, ["Description"] = 2, ["Summary"] = 3, ["FAQ"] = 4, ["Legal Disclaimer"] = 5, ["Other"] = 6, ["Tag"] = 7, ["CNA"] = 8,
    };
    private static readonly Dictionary<string, int> ThreatTypes = new() { ["Impact"] = 0, ["Exploit Status"] = 1, ["Target Set"] = 2, ["Severity"] = 3 };
    private static readonly Dictionary<string, int> RemediationTypes = new()
    {
        ["Workaround"] = 0, ["Mitigation"] = 1, ["Vendor Fix"] = 2, ["Release Notes"] = 3, ["None Available"] = 4, ["Will Not Fix"] = 5, ["Known Issue"] = 6,
    };

    public static byte[] Of(Stream xml)
    {
        var root = XDocument.Load(xml).Root!;
        var json = new JsonObject();
        foreach (var name in new[] { "DocumentTitle", "DocumentType" })
            if (root.Element(Cvrf + name) is { } e) json[name] = Value(e);
        if (root.Element(Cvrf + "DocumentTracking") is { } t)
            json["DocumentTracking"] = new JsonObject
            {
                ["Identification"] = new JsonObject { ["ID"] = Value(t.Element(Cvrf + "Identification")!.Element(Cvrf + "ID")!), ["Alias"] = Value(t.Element(Cvrf + "Identification")!.Element(Cvrf + "Alias")) },
                ["Status"] = 2,
                ["Version"] = t.Element(Cvrf + "Version")?.Value,
                ["RevisionHistory"] = Array(t.Element(Cvrf + "RevisionHistory")?.Elements(Cvrf + "Revision"), r => new JsonObject
                {
                    ["Number"] = r.Element(Cvrf + "Number")?.Value, ["Date"] = r.Element(Cvrf + "Date")?.Value, ["Description"] = Value(r.Element(Cvrf + "Description")),
                }),
                ["InitialReleaseDate"] = t.Element(Cvrf + "InitialReleaseDate")?.Value,
                ["CurrentReleaseDate"] = t.Element(Cvrf + "CurrentReleaseDate")?.Value,
            };
        if (root.Element(Prod + "ProductTree") is { } tree)
            json["ProductTree"] = new JsonObject
            {
                ["Branch"] = Array(tree.Elements(Prod + "Branch"), Branch),
                ["FullProductName"] = Array(tree.Elements(Prod + "FullProductName"), Product),
            };
        json["Vulnerability"] = Array(root.Elements(Vuln + "Vulnerability"), Vulnerability);
        return JsonSerializer.SerializeToUtf8Bytes(json, new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject Branch(XElement b) => new()
    {
        ["Items"] = Array(b.Elements(), e => e.Name == Prod + "Branch" ? Branch(e) : Product(e)),
        ["Type"] = b.Attribute("Type")?.Value == "Vendor" ? 0 : 1,
        ["Name"] = b.Attribute("Name")?.Value,
    };

    private static JsonObject Product(XElement p)
    {
        var o = new JsonObject { ["ProductID"] = p.Attribute("ProductID")?.Value };
        if (p.Attribute("CPE") is { } cpe) o["CPE"] = cpe.Value;
        o["Value"] = p.Value;
        return o;
    }

    private static JsonObject Vulnerability(XElement v) => new()
    {
        ["Title"] = Value(v.Element(Vuln + "Title")),
        ["Notes"] = Array(v.Element(Vuln + "Notes")?.Elements(Vuln + "Note"), n => new JsonObject
        {
            ["Title"] = n.Attribute("Title")?.Value, ["Type"] = NoteTypes[n.Attribute("Type")!.Value], ["Ordinal"] = n.Attribute("Ordinal")?.Value, ["Value"] = n.Value,
        }),
        ["DiscoveryDateSpecified"] = false,
        ["ReleaseDateSpecified"] = false,
        ["CVE"] = v.Element(Vuln + "CVE")?.Value,
        ["ProductStatuses"] = Array(v.Element(Vuln + "ProductStatuses")?.Elements(Vuln + "Status"), s => new JsonObject { ["ProductID"] = Ids(s), ["Type"] = 3 }),
        ["Threats"] = Array(v.Element(Vuln + "Threats")?.Elements(Vuln + "Threat"), t => new JsonObject
        {
            ["Description"] = Value(t.Element(Vuln + "Description")), ["ProductID"] = Ids(t), ["Type"] = ThreatTypes[t.Attribute("Type")!.Value], ["DateSpecified"] = false,
        }),
        ["CVSSScoreSets"] = Array(v.Element(Vuln + "CVSSScoreSets")?.Elements(Vuln + "ScoreSet"), s => new JsonObject
        {
            ["BaseScore"] = double.TryParse(s.Element(Vuln + "BaseScore")?.Value, System.Globalization.CultureInfo.InvariantCulture, out var b) ? b : 0,
            ["Vector"] = s.Element(Vuln + "Vector")?.Value, ["ProductID"] = Ids(s),
        }),
        ["Remediations"] = Array(v.Element(Vuln + "Remediations")?.Elements(Vuln + "Remediation"), Remediation),
        ["Ordinal"] = v.Attribute("Ordinal")?.Value,
    };

    private static JsonObject Remediation(XElement r)
    {
        var o = new JsonObject();
        if (r.Element(Vuln + "Description") is { } d) o["Description"] = Value(d);
        if (r.Element(Vuln + "URL") is { } url) o["URL"] = url.Value;
        var supercedence = r.Elements(Vuln + "Supercedence").Select(s => s.Value).ToList();
        if (supercedence.Count == 1) o["Supercedence"] = supercedence[0];
        else if (supercedence.Count > 1) o["Supercedence"] = new JsonArray([.. supercedence.Select(s => (JsonNode)s)]);
        o["ProductID"] = Ids(r);
        o["Type"] = RemediationTypes[r.Attribute("Type")!.Value];
        o["DateSpecified"] = false;
        o["AffectedFiles"] = new JsonArray();
        // A remediation without a restart statement carries an empty one in the API's JSON.
        o["RestartRequired"] = r.Element(Vuln + "RestartRequired") is { } restart ? Value(restart) : new JsonObject();
        if (r.Element(Vuln + "SubType") is { } subType) o["SubType"] = subType.Value;
        if (r.Element(Vuln + "FixedBuild") is { } build) o["FixedBuild"] = build.Value;
        return o;
    }

    private static JsonArray Ids(XElement e) => new([.. e.Elements(Vuln + "ProductID").Select(p => (JsonNode)p.Value)]);

    private static JsonObject? Value(XElement? e) => e is null ? null : new JsonObject { ["Value"] = e.Value };

    private static JsonArray Array(IEnumerable<XElement>? items, Func<XElement, JsonNode> map) => new([.. (items ?? []).Select(map)]);
}
