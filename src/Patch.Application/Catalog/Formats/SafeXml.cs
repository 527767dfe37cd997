using System.Xml;
using System.Xml.Linq;

namespace Patch.Application.Catalog.Formats;

/// <summary>Loads vendor XML with DTDs prohibited and no resolver: no external entities, no entity expansion bombs.</summary>
public static class SafeXml
{
    public static XDocument Load(Stream stream)
    {
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
            CloseInput = false,
        };
        try
        {
            using var reader = XmlReader.Create(stream, settings);
            return XDocument.Load(reader, LoadOptions.SetLineInfo);
        }
        catch (XmlException e) when (e.Message.Contains("DTD", StringComparison.OrdinalIgnoreCase))
        {
            throw new CatalogFormatException("XML with a DTD is refused",
                "The file declares a DTD (<!DOCTYPE>); DTDs and entities are never processed (XXE, entity expansion).", $"line {e.LineNumber}, column {e.LinePosition}");
        }
        catch (XmlException e)
        {
            throw new CatalogFormatException("Malformed XML", e.Message, $"line {e.LineNumber}, column {e.LinePosition}");
        }
    }

    public static string Place(XObject node) =>
        node is IXmlLineInfo info && info.HasLineInfo() ? $"line {info.LineNumber}, column {info.LinePosition}" : "unknown position";

    public static void ExpectRoot(XDocument doc, XName expected, string formatName)
    {
        var root = doc.Root ?? throw new CatalogFormatException("Empty XML", "The document has no root element.");
        if (root.Name != expected)
            throw new CatalogFormatException($"Not a {formatName} document",
                $"The root element is '{root.Name.LocalName}' in namespace '{root.Name.NamespaceName}', expected '{expected.LocalName}' in namespace '{expected.NamespaceName}'.",
                Place(root));
    }
}
