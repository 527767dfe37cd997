using System.Text.Json;
using System.Xml;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// A CVRF document's own id (DocumentTracking/Identification/ID), read from its head without reading the rest: what the
/// Security Update Guide's feed checks against the id it asked for, before an import could recognise the bytes as a
/// document imported before under another id.
/// </summary>
public static class CvrfDocumentId
{
    /// <summary>The id, or null when the head does not give one (not CVRF, compressed, malformed: the import says what is wrong).</summary>
    public static string? Peek(byte[] content)
    {
        try
        {
            return CvrfCatalogReader.IsJson(content) ? FromJson(content) : FromXml(content);
        }
        catch (Exception e) when (e is XmlException or JsonException or InvalidOperationException or CatalogFormatException)
        {
            return null;
        }
    }

    /// <summary>The refusal of a document that is not the one asked for.</summary>
    public static CatalogFormatException Mismatch(string? found, string asked) =>
        new("Not the document asked for",
            $"The MSRC API answered document '{Domain.Users.UserDecisions.Printable(found ?? "")}' for '{Domain.Users.UserDecisions.Printable(asked)}'.",
            "DocumentTracking/Identification/ID");

    private static string? FromXml(byte[] content)
    {
        using var reader = XmlReader.Create(new MemoryStream(content, writable: false), SafeXml.Settings());
        var inIdentification = false;
        while (reader.Read())
        {
            if (reader.NodeType == XmlNodeType.EndElement && reader.LocalName == "Identification") return null;
            if (reader.NodeType != XmlNodeType.Element) continue;
            if (reader.LocalName == "Vulnerability" || reader.LocalName == "ProductTree") return null;
            if (reader.LocalName == "Identification") inIdentification = true;
            else if (inIdentification && reader.LocalName == "ID") return reader.ReadElementContentAsString().Trim();
        }
        return null;
    }

    private static string? FromJson(byte[] content)
    {
        using var json = JsonDocument.Parse(content, new JsonDocumentOptions { MaxDepth = 64 });
        return json.RootElement.ValueKind == JsonValueKind.Object
            && json.RootElement.TryGetProperty("DocumentTracking", out var tracking) && tracking.ValueKind == JsonValueKind.Object
            && tracking.TryGetProperty("Identification", out var identification) && identification.ValueKind == JsonValueKind.Object
            && identification.TryGetProperty("ID", out var id)
            ? id.ValueKind switch
            {
                JsonValueKind.String => id.GetString(),
                JsonValueKind.Object when id.TryGetProperty("Value", out var value) && value.ValueKind == JsonValueKind.String => value.GetString(),
                _ => null,
            }
            : null;
    }
}
