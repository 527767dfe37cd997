using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Catalog;

namespace Patch.Api.Tests.Catalog;

/// <summary>A CVRF document read in pieces on several threads (ADR 0047) is the document read whole, refusals and their places included.</summary>
public class when_a_cvrf_document_is_read_in_pieces
{
    private const int SmallPieces = 16 * 1024;

    private static string Whole(byte[] bytes) => Json(CvrfCatalogReader.Read(new MemoryStream(bytes)));

    private static string Json(CatalogDocument document) => JsonSerializer.Serialize(document);

    private static byte[] Bytes(string file)
    {
        using var stream = SharedData.OpenCvrf(file);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    [Fact]
    public void every_real_document_reads_the_same_in_two_three_and_five_pieces()
    {
        var split = 0;
        foreach (var file in SharedData.CvrfFiles())
        {
            var bytes = Bytes(file);
            var whole = Whole(bytes);
            foreach (var pieces in new[] { 2, 3, 5 })
            {
                var plan = XmlPieces.Split(bytes, "http://www.icasi.org/CVRF/schema/vuln/1.1", "Vulnerability", pieces, SmallPieces);
                if (plan is null) continue;
                split++;
                var read = CvrfCatalogReader.ReadInPieces(bytes, pieces, SmallPieces);
                Assert.True(read is not null, $"{file} in {pieces} pieces fell back to a whole read");
                Assert.True(whole == Json(read!), $"{file} in {pieces} pieces differs from the whole read");
            }
        }
        // Every document of the last years is large enough to split (the oldest hold a handful of vulnerabilities).
        Assert.True(split > 300, $"only {split} splits");
    }

    [Fact]
    public void the_monthly_documents_are_split_where_asked_at_vulnerabilities()
    {
        var bytes = SharedData.Bytes(SharedData.Cvrf2024);
        var plan = XmlPieces.Split(bytes, "http://www.icasi.org/CVRF/schema/vuln/1.1", "Vulnerability", 4, CvrfCatalogReader.MinPieceBytes);

        Assert.NotNull(plan);
        Assert.Equal(4, plan!.Pieces.Count);
        Assert.Equal("cvrf:cvrfdoc", plan.RootName);
        Assert.Contains("xmlns:vuln=\"http://www.icasi.org/CVRF/schema/vuln/1.1\"", plan.RootStartTag);
        Assert.All(plan.Pieces.Skip(1), p => Assert.StartsWith("<vuln:Vulnerability", Encoding.UTF8.GetString(bytes, p.Start, 20)));
        Assert.Equal(bytes.Length, plan.Pieces[^1].End);
        // Lines as a reader counts them: the split vulnerability's line in the file.
        var lines = File.ReadAllLines(SharedData.PathOf(SharedData.Cvrf2024));
        Assert.All(plan.Pieces.Skip(1), p => Assert.StartsWith("<vuln:Vulnerability", lines[p.Line - 1][(p.Column - 1)..]));
    }

    /// <summary>The 2024-Jan document written with other line ends, on one line, with a byte order mark, with wide characters before a split.</summary>
    public static TheoryData<string> Shapes() => ["lf", "crlf", "cr", "one line", "bom", "wide characters"];

    private static byte[] Shaped(string shape)
    {
        var text = File.ReadAllText(SharedData.PathOf(SharedData.Cvrf2024));
        text = shape switch
        {
            "crlf" => text.Replace("\n", "\r\n"),
            "cr" => text.Replace("\n", "\r"),
            "one line" => text.Replace("\n", " "),
            "wide characters" => text.Replace("<vuln:Vulnerability", "<!-- ünïcödé 😀 --><vuln:Vulnerability").Replace("\n  <vuln:Vulnerability", " <vuln:Vulnerability"),
            _ => text,
        };
        var bytes = Encoding.UTF8.GetBytes(text);
        return shape == "bom" ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void a_refusal_in_a_later_piece_names_the_place_the_whole_read_names(string shape)
    {
        var bytes = Shaped(shape);
        // The vulnerability the third piece starts with has its CVE blanked (as many spaces: the pieces stay where they
        // were): the mapping refuses it, at its place — on the first line of its piece, after the copied start tag.
        var plan = XmlPieces.Split(bytes, "http://www.icasi.org/CVRF/schema/vuln/1.1", "Vulnerability", 5, SmallPieces)!;
        var cve = plan.Pieces[2].Start + bytes.AsSpan(plan.Pieces[2].Start).IndexOf("<vuln:CVE>"u8) + "<vuln:CVE>".Length;
        var noCve = bytes.ToArray();
        noCve.AsSpan(cve, noCve.AsSpan(cve).IndexOf((byte)'<')).Fill((byte)' ');
        Assert.Equal(plan, XmlPieces.Split(noCve, "http://www.icasi.org/CVRF/schema/vuln/1.1", "Vulnerability", 5, SmallPieces), new PlanComparer());
        Assert.Equal(Json(CvrfCatalogReader.Read(new MemoryStream(bytes))), Json(CvrfCatalogReader.ReadInPieces(bytes, 5, SmallPieces)!));

        var whole = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(new MemoryStream(noCve)));
        var pieces = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.ReadInPieces(noCve, 5, SmallPieces));
        Assert.Equal((whole.Title, whole.Detail, whole.Place), (pieces.Title, pieces.Detail, pieces.Place));
        Assert.Equal("vuln:Vulnerability has no vuln:CVE.", pieces.Detail);
        Assert.Equal($"line {plan.Pieces[2].Line}, column {plan.Pieces[2].Column + 1}", pieces.Place);
    }

    private sealed class PlanComparer : IEqualityComparer<XmlPieces.Plan?>
    {
        public bool Equals(XmlPieces.Plan? x, XmlPieces.Plan? y) => x is not null && y is not null && x.Pieces.SequenceEqual(y.Pieces);
        public int GetHashCode(XmlPieces.Plan? obj) => 0;
    }

    [Fact]
    public void a_split_point_inside_a_comment_a_cdata_section_or_a_deeper_element_has_the_document_read_whole()
    {
        var text = File.ReadAllText(SharedData.PathOf(SharedData.Cvrf2024));
        var shapes = new[]
        {
            // Before every vulnerability a comment naming one: every split point found is inside a comment.
            text.Replace("<vuln:Vulnerability\n", "<!-- <vuln:Vulnerability\n -->\n<vuln:Vulnerability\n"),
            text.Replace("<vuln:Vulnerability\n", "<cvrf:DocumentNotes><cvrf:Note><![CDATA[ <vuln:Vulnerability\n ]]></cvrf:Note></cvrf:DocumentNotes><vuln:Vulnerability\n"),
            // Every vulnerability inside an element the reader does not know: none is the document's.
            Regex.Replace(text, "(<vuln:Vulnerability\n.*</vuln:Vulnerability>)", "<cvrf:Elsewhere>$1</cvrf:Elsewhere>", RegexOptions.Singleline),
        };
        foreach (var shape in shapes)
        {
            var bytes = Encoding.UTF8.GetBytes(shape);
            Assert.NotNull(XmlPieces.Split(bytes, "http://www.icasi.org/CVRF/schema/vuln/1.1", "Vulnerability", 4, SmallPieces));
            Assert.Null(CvrfCatalogReader.ReadInPieces(bytes, 4, SmallPieces));
            Assert.Equal(Whole(bytes), Json(CvrfCatalogReader.Read(bytes)));
        }
        Assert.Empty(CvrfCatalogReader.Read(Encoding.UTF8.GetBytes(shapes[2])).Bulletins);
    }

    [Fact]
    public void malformed_xml_in_a_later_piece_is_refused_as_the_whole_read_refuses_it()
    {
        var text = File.ReadAllText(SharedData.PathOf(SharedData.Cvrf2024));
        var last = text.LastIndexOf("</vuln:Title>", StringComparison.Ordinal);
        var bytes = Encoding.UTF8.GetBytes(text.Remove(last, "</vuln:Title>".Length).Insert(last, "</vuln:Titel>"));

        var whole = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(new MemoryStream(bytes)));
        var read = Assert.Throws<CatalogFormatException>(() => CvrfCatalogReader.Read(bytes));
        Assert.Equal("Malformed XML", read.Title);
        Assert.Equal((whole.Title, whole.Detail, whole.Place), (read.Title, read.Detail, read.Place));
        Assert.Null(CvrfCatalogReader.ReadInPieces(bytes, 4, SmallPieces));
    }

    [Fact]
    public void a_document_in_another_encoding_is_read_whole()
    {
        var text = File.ReadAllText(SharedData.PathOf(SharedData.Cvrf2024));
        var bytes = Encoding.Latin1.GetBytes("<?xml version='1.0' encoding='ISO-8859-1'?>\n" + text.Replace("Microsoft", "Micrösoft"));

        Assert.Null(XmlPieces.Split(bytes, "http://www.icasi.org/CVRF/schema/vuln/1.1", "Vulnerability", 4, SmallPieces));
        var read = CvrfCatalogReader.Read(bytes);
        Assert.Equal(Whole(bytes), Json(read));
        Assert.Contains(read.Bulletins.SelectMany(b => b.Updates), u => u.Product.Contains("Micrösoft", StringComparison.Ordinal));
        var utf16 = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes(text)).ToArray();
        Assert.Null(XmlPieces.Split(utf16, "http://www.icasi.org/CVRF/schema/vuln/1.1", "Vulnerability", 4, SmallPieces));
        Assert.Equal(Whole(utf16), Json(CvrfCatalogReader.Read(utf16)));
    }
}
