using System.Runtime.CompilerServices;
using System.Text;
using System.Xml;
using Patch.Domain.Catalog;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// The streaming pass over a CVRF 1.1 document: what the mapping reads, in the order the document gives it. Element
/// semantics are those of a tree: the first of a singular element counts, an element's text is all the text inside it,
/// and a refusal names where the element starts. The whole document is read before anything is refused, so malformed
/// XML anywhere is refused as such.
/// </summary>
public static partial class CvrfCatalogReader
{
    private const string CvrfNamespace = "http://www.icasi.org/CVRF/schema/cvrf/1.1";
    private const string VulnNamespace = "http://www.icasi.org/CVRF/schema/vuln/1.1";
    private const string ProdNamespace = "http://www.icasi.org/CVRF/schema/prod/1.1";

    private sealed record Located(string Text, string Place);
    private sealed record Tracking(string Place, string? Id, Located? Released, Located? Revised);
    /// <summary>
    /// A "Vendor Fix" remediation as the mapping reads it, worked out by the pass (on the piece's thread): the trimmed
    /// description and the KB it names (null when it names none), the trimmed URL and subtype, the fixed build without
    /// invisible characters, the restart behaviour, the KBs and the other references of its supersedence.
    /// </summary>
    private sealed record VendorFix(string Description, string? Kb, string? Url, RestartBehavior Restart, string? SubType, string? FixedBuild,
        List<string> SupersededKbs, List<string> SupersededText, List<string> ProductIds, string? Problem = null);

    /// <summary>
    /// A vulnerability: its highest severity per product (the Severity threats), its vendor fixes in order, and what is
    /// wrong with a severity it gives (null when nothing).
    /// </summary>
    private sealed record Vulnerability(string Place, string? Cve, string? Title, Dictionary<string, Severity> Severities, List<VendorFix> VendorFixes,
        string? SeverityProblem = null);
    private sealed record Parsed(string RootPlace, Tracking? Tracking, string? Title, Dictionary<string, string>? Products, List<Vulnerability> Vulnerabilities, Words Words)
    {
        /// <summary>The pieces of one document (<see cref="XmlPieces"/>) as one: the first of each singular element in document order, every vulnerability in order.</summary>
        public static Parsed Merge(IReadOnlyList<Parsed> pieces) => new(pieces[0].RootPlace,
            pieces.Select(p => p.Tracking).FirstOrDefault(t => t is not null), pieces.Select(p => p.Title).FirstOrDefault(t => t is not null),
            pieces.Select(p => p.Products).FirstOrDefault(p => p is not null), [.. pieces.SelectMany(p => p.Vulnerabilities)], pieces[0].Words);
    }

    /// <summary>How <see cref="Map"/>'s refusals name what is missing, in the words of the form read (XML or JSON).</summary>
    private sealed record Words(string NoTracking, string NoId, string NoCve);

    private static readonly Words XmlWords = new("cvrf:DocumentTracking is required.", "cvrf:DocumentTracking/cvrf:Identification/cvrf:ID is required.", "vuln:Vulnerability has no vuln:CVE.");

    /// <summary>The names the pass compares, atomized in the reader's name table: compared by reference, never by characters.</summary>
    private sealed class Names(XmlNameTable t)
    {
        public readonly string Cvrf = t.Add(CvrfNamespace), Vuln = t.Add(VulnNamespace), Prod = t.Add(ProdNamespace), None = t.Add("");
        public readonly string Root = t.Add("cvrfdoc"), DocumentTitle = t.Add("DocumentTitle"), DocumentTracking = t.Add("DocumentTracking"),
            Identification = t.Add("Identification"), Id = t.Add("ID"), InitialReleaseDate = t.Add("InitialReleaseDate"),
            CurrentReleaseDate = t.Add("CurrentReleaseDate"), ProductTree = t.Add("ProductTree"), FullProductName = t.Add("FullProductName"),
            Vulnerability = t.Add("Vulnerability"), Cve = t.Add("CVE"), Title = t.Add("Title"), Threats = t.Add("Threats"), Threat = t.Add("Threat"),
            Description = t.Add("Description"), ProductId = t.Add("ProductID"), Remediations = t.Add("Remediations"), Remediation = t.Add("Remediation"),
            Url = t.Add("URL"), RestartRequired = t.Add("RestartRequired"), SubType = t.Add("SubType"), FixedBuild = t.Add("FixedBuild"),
            Supercedence = t.Add("Supercedence");

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool Is(XmlReader r, string local, string ns) => ReferenceEquals(r.LocalName, local) && ReferenceEquals(r.NamespaceURI, ns);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Parsed Parse(XmlReader r)
    {
        var n = new Names(r.NameTable);
        r.MoveToContent();
        var rootPlace = SafeXml.Place(r);
        if (!n.Is(r, n.Root, n.Cvrf))
        {
            var refusal = SafeXml.WrongRoot(r.LocalName, r.NamespaceURI, "cvrfdoc", CvrfNamespace, "CVRF 1.1", rootPlace);
            r.Skip();
            while (r.Read()) { }
            throw refusal;
        }

        Tracking? tracking = null;
        string? title = null;
        Dictionary<string, string>? products = null;
        var vulnerabilities = new List<Vulnerability>();
        Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () =>
        {
            if (n.Is(r, n.Vulnerability, n.Vuln)) vulnerabilities.Add(ReadVulnerability(r, n));
            else if (n.Is(r, n.DocumentTracking, n.Cvrf) && tracking is null) tracking = ReadTracking(r, n);
            else if (n.Is(r, n.DocumentTitle, n.Cvrf) && title is null) title = Text(r);
            else if (n.Is(r, n.ProductTree, n.Prod) && products is null) products = ReadProducts(r, n);
            else r.Skip();
        });
        while (r.Read()) { }
        return new Parsed(rootPlace, tracking, title, products, vulnerabilities, XmlWords);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Tracking ReadTracking(XmlReader r, Names n)
    {
        var place = SafeXml.Place(r);
        string? id = null;
        Located? released = null, revised = null;
        var identified = false;
        Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () =>
        {
            if (n.Is(r, n.Identification, n.Cvrf) && !identified)
            {
                identified = true;
                Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () => { if (n.Is(r, n.Id, n.Cvrf) && id is null) id = Text(r); else r.Skip(); });
            }
            else if (n.Is(r, n.InitialReleaseDate, n.Cvrf) && released is null) released = Locate(r);
            else if (n.Is(r, n.CurrentReleaseDate, n.Cvrf) && revised is null) revised = Locate(r);
            else r.Skip();
        });
        return new Tracking(place, id, released, revised);
    }

    /// <summary>Every FullProductName of the tree, at any depth (branches, relationships): its ProductID and name.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Dictionary<string, string> ReadProducts(XmlReader r, Names n)
    {
        var products = new Dictionary<string, string>(StringComparer.Ordinal);
        if (r.IsEmptyElement) { r.Read(); return products; }
        var depth = r.Depth;
        r.Read();
        while (!(r.NodeType == XmlNodeType.EndElement && r.Depth == depth))
        {
            if (r.NodeType == XmlNodeType.Element && n.Is(r, n.FullProductName, n.Prod))
            {
                var id = r.GetAttribute("ProductID", "");
                var name = Text(r);
                if (!string.IsNullOrWhiteSpace(id)) products.TryAdd(id.Trim(), name.Trim());
            }
            else r.Read();
        }
        r.Read();
        return products;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vulnerability ReadVulnerability(XmlReader r, Names n)
    {
        var place = SafeXml.Place(r);
        string? cve = null, title = null, severityProblem = null;
        Dictionary<string, Severity>? severities = null;
        List<VendorFix>? fixes = null;
        Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () =>
        {
            if (n.Is(r, n.Cve, n.Vuln) && cve is null) cve = Text(r);
            else if (n.Is(r, n.Title, n.Vuln) && title is null) title = Text(r);
            else if (n.Is(r, n.Threats, n.Vuln) && severities is null) (severities, severityProblem) = ReadSeverities(r, n);
            else if (n.Is(r, n.Remediations, n.Vuln) && fixes is null) fixes = ReadVendorFixes(r, n);
            else r.Skip();
        });
        return new Vulnerability(place, cve, title, severities ?? new(StringComparer.Ordinal), fixes ?? [], severityProblem);
    }

    /// <summary>The Severity threats: each of their products with the highest severity a threat gives it, and the first severity that is none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (Dictionary<string, Severity>, string?) ReadSeverities(XmlReader r, Names n)
    {
        var severities = new Dictionary<string, Severity>(StringComparer.Ordinal);
        string? problem = null;
        Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () =>
        {
            if (!n.Is(r, n.Threat, n.Vuln) || r.GetAttribute("Type", "") != "Severity") { r.Skip(); return; }
            string? description = null;
            var productIds = new List<string>();
            Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () =>
            {
                if (n.Is(r, n.Description, n.Vuln) && description is null) description = Text(r);
                else if (n.Is(r, n.ProductId, n.Vuln)) productIds.Add(Text(r).Trim());
                else r.Skip();
            });
            var severity = SeverityOfThreat(description, ref problem);
            foreach (var product in productIds)
                if (!severities.TryGetValue(product, out var known) || severity > known) severities[product] = severity;
        });
        return (severities, problem);
    }

    /// <summary>The remediations of type "Vendor Fix", in order; the others are skipped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static List<VendorFix> ReadVendorFixes(XmlReader r, Names n)
    {
        var fixes = new List<VendorFix>();
        Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () =>
        {
            if (!n.Is(r, n.Remediation, n.Vuln) || r.GetAttribute("Type", "") != "Vendor Fix") { r.Skip(); return; }
            string? description = null, url = null, restart = null, subType = null, fixedBuild = null;
            var supercedence = new List<string>();
            var productIds = new List<string>();
            Children(r, [MethodImpl(MethodImplOptions.AggressiveOptimization)] () =>
            {
                if (!ReferenceEquals(r.NamespaceURI, n.Vuln)) r.Skip();
                else if (ReferenceEquals(r.LocalName, n.ProductId)) { var id = Text(r).Trim(); if (id.Length > 0) productIds.Add(id); }
                else if (ReferenceEquals(r.LocalName, n.Supercedence)) supercedence.Add(Text(r));
                else if (ReferenceEquals(r.LocalName, n.Description) && description is null) description = Text(r);
                else if (ReferenceEquals(r.LocalName, n.Url) && url is null) url = Text(r);
                else if (ReferenceEquals(r.LocalName, n.RestartRequired) && restart is null) restart = Text(r);
                else if (ReferenceEquals(r.LocalName, n.SubType) && subType is null) subType = Text(r);
                else if (ReferenceEquals(r.LocalName, n.FixedBuild) && fixedBuild is null) fixedBuild = Text(r);
                else r.Skip();
            });
            var trimmed = description?.Trim() ?? "";
            var kb = KbNumber().Match(trimmed) is { Success: true } match ? "KB" + match.Groups[1].Value : null;
            var supersededText = new List<string>();
            foreach (var text in supercedence)
                foreach (var t in SupersededText(text)) if (!supersededText.Contains(t)) supersededText.Add(t);
            fixes.Add(new VendorFix(trimmed, kb, url?.Trim(), Restart(restart), subType?.Trim(), Build(fixedBuild),
                [.. supercedence.SelectMany(SupersededKbs)], supersededText, productIds, FixProblem(trimmed, kb, url, restart, fixedBuild)));
        });
        return fixes;
    }

    /// <summary>
    /// Visits each child element of the element the reader is on; <paramref name="child"/> must consume the element it
    /// is called on (read it, or skip it). Leaves the reader after the element's end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Children(XmlReader r, Action child)
    {
        if (r.IsEmptyElement) { r.Read(); return; }
        var depth = r.Depth;
        r.Read();
        while (!(r.NodeType == XmlNodeType.EndElement && r.Depth == depth))
        {
            if (r.NodeType == XmlNodeType.Element) child();
            else r.Read();
        }
        r.Read();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Located Locate(XmlReader r)
    {
        var place = SafeXml.Place(r);
        return new Located(Text(r), place);
    }

    /// <summary>All the text inside the element the reader is on (its descendants' too), as a tree's element value; leaves the reader after it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static string Text(XmlReader r)
    {
        if (r.IsEmptyElement) { r.Read(); return ""; }
        var depth = r.Depth;
        r.Read();
        string? first = null;
        StringBuilder? more = null;
        while (!(r.NodeType == XmlNodeType.EndElement && r.Depth == depth))
        {
            if (r.NodeType is XmlNodeType.Text or XmlNodeType.CDATA or XmlNodeType.Whitespace or XmlNodeType.SignificantWhitespace)
            {
                if (first is null) first = r.Value;
                else (more ??= new StringBuilder(first)).Append(r.Value);
            }
            r.Read();
        }
        r.Read();
        return more?.ToString() ?? first ?? "";
    }
}
