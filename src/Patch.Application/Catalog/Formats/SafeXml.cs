using System.Xml;
using System.Xml.Linq;

namespace Patch.Application.Catalog.Formats;

/// <summary>Loads vendor XML with DTDs prohibited and no resolver: no external entities, no entity expansion bombs.</summary>
public static class SafeXml
{
    /// <summary>
    /// .NET knows only the Unicode encodings and Latin-1 until its code-page encodings are registered: a file written on
    /// Windows that declares windows-1252 (or another of its code pages) is read in it, not refused as unsupported.
    /// </summary>
    static SafeXml() => System.Text.Encoding.RegisterProvider(System.Text.CodePagesEncodingProvider.Instance);

    /// <summary>Elements nest at most this deep (CVRF and mssecure nest about ten levels).</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Without line info the tree is built a quarter faster; readers load that way and, when a document is refused,
    /// load it again with line info so the refusal names the place (<see cref="WithPlaces{T}"/>).
    /// </summary>
    public static XDocument Load(Stream stream, bool lineInfo = false) =>
        Stream(stream, reader => XDocument.Load(reader, lineInfo ? LoadOptions.SetLineInfo : LoadOptions.None));

    /// <summary>The settings of every catalog reader: no DTD, no resolver; comments, processing instructions and indentation passed over.</summary>
    internal static XmlReaderSettings Settings() => new()
    {
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        IgnoreComments = true,
        IgnoreProcessingInstructions = true,
        // Indentation between elements is no fact: fewer nodes to build (text inside an element is kept whole).
        IgnoreWhitespace = true,
        CloseInput = false,
    };

    /// <summary>
    /// Reads the document with <paramref name="read"/> from a reader that refuses DTDs, external entities and nesting
    /// deeper than <see cref="MaxDepth"/>; malformed XML is refused naming its line and column.
    /// </summary>
    public static T Stream<T>(Stream stream, Func<XmlReader, T> read)
    {
        var settings = Settings();
        XmlReader? reader = null;
        try
        {
            // Creating the reader already reads the encoding declaration: a wrong or unknown encoding is refused there.
            reader = new DepthLimitedXmlReader(XmlReader.Create(stream, settings), MaxDepth);
            return read(reader);
        }
        catch (XmlException e) when (reader is null)
        {
            throw new CatalogFormatException("Malformed XML", e.Message, e.LineNumber > 0 ? $"line {e.LineNumber}, column {e.LinePosition}" : "line 1, column 1");
        }
        catch (XmlException e)
        {
            // Some XmlExceptions (a prohibited DTD) carry no position: the reader still knows where it stopped.
            var info = (IXmlLineInfo)reader!;
            // A declared encoding the bytes do not match (UTF-16 over UTF-8 bytes) is found before the first line is counted.
            var place = e.LineNumber > 0 ? $"line {e.LineNumber}, column {e.LinePosition}"
                : info.LineNumber > 0 ? $"line {info.LineNumber}, column {info.LinePosition}" : "line 1, column 1";
            if (e.Message.Contains("DTD", StringComparison.OrdinalIgnoreCase))
                throw new CatalogFormatException("XML with a DTD is refused",
                    "The file declares a DTD (<!DOCTYPE>); DTDs and entities are never processed (XXE, entity expansion).", DoctypePlace(stream) ?? place);
            throw new CatalogFormatException("Malformed XML", e.Message, place);
        }
        finally
        {
            reader?.Dispose();
        }
    }

    /// <summary>Where the reader is (an element: where its start tag's name begins).</summary>
    public static string Place(XmlReader reader) =>
        reader is IXmlLineInfo info && info.HasLineInfo() ? $"line {info.LineNumber}, column {info.LinePosition}" : "unknown position";

    /// <summary>Where "&lt;!DOCTYPE" starts, for the error message (the reader refuses it before it counts lines).</summary>
    private static string? DoctypePlace(Stream stream)
    {
        if (!stream.CanSeek) return null;
        stream.Position = 0;
        using var text = new StreamReader(stream, leaveOpen: true);
        var line = 1;
        for (var l = text.ReadLine(); l is not null; l = text.ReadLine(), line++)
        {
            var column = l.IndexOf("<!DOCTYPE", StringComparison.OrdinalIgnoreCase);
            if (column >= 0) return $"line {line}, column {column + 1}";
        }
        return null;
    }

    /// <summary>Reads the document without line info; if it is refused and can be read again, reads it with line info so the refusal says where.</summary>
    public static T WithPlaces<T>(Stream stream, Func<XDocument, T> read)
    {
        var start = stream.CanSeek ? stream.Position : -1;
        try
        {
            return read(Load(stream));
        }
        catch (CatalogFormatException) when (start >= 0)
        {
            stream.Position = start;
            return read(Load(stream, lineInfo: true));
        }
    }

    public static string Place(XObject node) =>
        node is IXmlLineInfo info && info.HasLineInfo() ? $"line {info.LineNumber}, column {info.LinePosition}" : "unknown position";

    public static void ExpectRoot(XDocument doc, XName expected, string formatName)
    {
        var root = doc.Root ?? throw new CatalogFormatException("Empty XML", "The document has no root element.");
        if (root.Name != expected)
            throw WrongRoot(root.Name.LocalName, root.Name.NamespaceName, expected.LocalName, expected.NamespaceName, formatName, Place(root));
    }

    public static CatalogFormatException WrongRoot(string local, string ns, string expectedLocal, string expectedNs, string formatName, string place) =>
        new($"Not a {formatName} document",
            $"The root element is '{local}' in namespace '{ns}', expected '{expectedLocal}' in namespace '{expectedNs}'.", place);
}
