using System.Text.Json;
using Patch.Domain.Catalog;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// The same CVRF 1.1 document as the MSRC API serves it unless asked for XML (<c>Accept: application/json</c>, its
/// default): the elements as properties (<c>DocumentTracking</c>, <c>ProductTree</c>, <c>Vulnerability</c>…), a text
/// element as <c>{"Value": …}</c>, the types as Microsoft's enumeration numbers — a threat of type 3 is a severity, a
/// remediation of type 2 a vendor fix — or as the XML's names. Read to what the XML pass keeps and mapped by the same
/// <see cref="Map"/>, so both forms of one month are one catalog; refusals name a JSON path. See docs/catalog-formats.md
/// for what this shape was learnt from.
/// </summary>
public static partial class CvrfCatalogReader
{
    /// <summary>Deeper than any real document (its product tree's branches nest a few levels): past it, refused.</summary>
    public const int MaxJsonDepth = 64;

    private const int ThreatSeverity = 3, RemediationVendorFix = 2;

    /// <summary>A document's UTF-8 JSON text (checked by <see cref="CatalogJson.Utf8(ReadOnlyMemory{byte}, string, string)"/>), read.</summary>
    public static CatalogDocument ReadJson(ReadOnlyMemory<byte> utf8)
    {
        using var json = CatalogJson.Parse(utf8, MaxJsonDepth);
        return Map(ParseJson(json.RootElement));
    }

    /// <summary>True when the content's first character (past a byte order mark and blanks) opens JSON rather than XML.</summary>
    public static bool IsJson(ReadOnlySpan<byte> content)
    {
        if (content.StartsWith(System.Text.Encoding.UTF8.Preamble)) content = content[3..];
        // UTF-16 with its byte order mark (PowerShell 5's Out-File): JSON all the same, refused as not UTF-8 by name.
        else if (content.Length >= 2 && (content[0], content[1]) is (0xFF, 0xFE) or (0xFE, 0xFF))
        {
            var text = (content[0] == 0xFF ? System.Text.Encoding.Unicode : System.Text.Encoding.BigEndianUnicode).GetString(content[2..Math.Min(content.Length, 258)]);
            return text.TrimStart(' ', '\t', '\r', '\n') is ['{' or '[', ..];
        }
        var at = content.IndexOfAnyExcept(" \t\r\n"u8);
        return at >= 0 && content[at] is (byte)'{' or (byte)'[';
    }

    private static Parsed ParseJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw JsonInvalid("$", "an MSRC CVRF document in JSON is an object: { \"DocumentTitle\": …, \"DocumentTracking\": …, \"Vulnerability\": [ … ] }.");
        NotAnotherDocument(root);
        Tracking? tracking = null;
        if (root.TryGetProperty("DocumentTracking", out var t) && t.ValueKind != JsonValueKind.Null)
        {
            Expect(t, JsonValueKind.Object, "$.DocumentTracking");
            var identification = t.TryGetProperty("Identification", out var i) && i.ValueKind != JsonValueKind.Null ? i : default;
            if (identification.ValueKind != JsonValueKind.Undefined) Expect(identification, JsonValueKind.Object, "$.DocumentTracking.Identification");
            tracking = new Tracking("$.DocumentTracking",
                identification.ValueKind == JsonValueKind.Object ? JsonText(identification, "ID", "$.DocumentTracking.Identification") : null,
                JsonLocated(t, "InitialReleaseDate", "$.DocumentTracking"), JsonLocated(t, "CurrentReleaseDate", "$.DocumentTracking"));
        }
        Dictionary<string, string>? products = null;
        if (root.TryGetProperty("ProductTree", out var tree) && tree.ValueKind != JsonValueKind.Null)
        {
            Expect(tree, JsonValueKind.Object, "$.ProductTree");
            products = new(StringComparer.Ordinal);
            JsonProducts(tree, "$.ProductTree", products);
        }
        var vulnerabilities = new List<Vulnerability>();
        foreach (var (v, path) in JsonArray(root, "Vulnerability", "$"))
        {
            Expect(v, JsonValueKind.Object, path);
            var (severities, severityProblem) = JsonSeverities(v, path);
            vulnerabilities.Add(new Vulnerability(path, JsonText(v, "CVE", path), JsonText(v, "Title", path), severities, JsonVendorFixes(v, path), severityProblem));
        }
        return new Parsed("$", tracking, JsonText(root, "DocumentTitle", "$"), products, vulnerabilities, JsonWords);
    }

    /// <summary>The refusals of <see cref="Map"/> in this form's names.</summary>
    private static readonly Words JsonWords = new("DocumentTracking is required.", "DocumentTracking.Identification.ID is required.", "The vulnerability has no CVE.");

    /// <summary>Other JSON an administrator may hold beside the CVRF documents, named rather than refused field by field.</summary>
    private static void NotAnotherDocument(JsonElement root)
    {
        if (root.TryGetProperty("document", out _) && root.TryGetProperty("vulnerabilities", out _))
            throw new CatalogFormatException("Not a CVRF document",
                "This is a CSAF advisory (MSRC publishes one per CVE at msrc.microsoft.com/csaf); format cvrf reads the Security Update Guide's monthly CVRF documents ({base}cvrf/{ID}, for example 2024-Jan).", "$.document");
        if (root.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.Array && !root.TryGetProperty("DocumentTracking", out _))
            throw new CatalogFormatException("Not a CVRF document",
                "This is the CVRF API's list of documents ({base}updates), not a document: import the documents it lists (their CvrfUrl), or let the microsoft-cvrf-import task do it.", "$.value");
        if (root.TryGetProperty("catalogVersion", out _) && root.TryGetProperty("vulnerabilities", out _))
            throw new CatalogFormatException("Not a CVRF document", "This is CISA's Known Exploited Vulnerabilities catalog: import it with format kev.", "$.catalogVersion");
    }

    /// <summary>Every object of the tree with a ProductID (branches' items, full product names, relationships): its id and name.</summary>
    private static void JsonProducts(JsonElement e, string path, Dictionary<string, string> products)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in e.EnumerateArray()) JsonProducts(item, $"{path}[{i++}]", products);
            return;
        }
        if (e.ValueKind != JsonValueKind.Object) return;
        if (e.TryGetProperty("ProductID", out var id) && id.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(id.GetString()))
            products.TryAdd(id.GetString()!.Trim(), (JsonText(e, "Value", path) ?? "").Trim());
        foreach (var property in e.EnumerateObject())
            if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array) JsonProducts(property.Value, $"{path}.{property.Name}", products);
    }

    /// <summary>The Severity threats (type 3): each of their products with the highest severity a threat gives it.</summary>
    private static (Dictionary<string, Severity>, string?) JsonSeverities(JsonElement v, string path)
    {
        var severities = new Dictionary<string, Severity>(StringComparer.Ordinal);
        string? problem = null;
        foreach (var (threat, at) in JsonArray(v, "Threats", path))
        {
            Expect(threat, JsonValueKind.Object, at);
            if (!IsType(threat, at, ThreatSeverity, "Severity")) continue;
            var severity = SeverityOfThreat(JsonText(threat, "Description", at), ref problem);
            foreach (var product in JsonIds(threat, at))
                if (!severities.TryGetValue(product, out var known) || severity > known) severities[product] = severity;
        }
        return (severities, problem);
    }

    /// <summary>The vendor fixes (type 2), in order; the release notes, known issues and other remediations are skipped.</summary>
    private static List<VendorFix> JsonVendorFixes(JsonElement v, string path)
    {
        var fixes = new List<VendorFix>();
        foreach (var (r, at) in JsonArray(v, "Remediations", path))
        {
            Expect(r, JsonValueKind.Object, at);
            if (!IsType(r, at, RemediationVendorFix, "Vendor Fix")) continue;
            var description = JsonText(r, "Description", at)?.Trim() ?? "";
            var kb = KbNumber().Match(description) is { Success: true } match ? "KB" + match.Groups[1].Value : null;
            // One text in the API's JSON; a list is read as the XML's repeated element would be.
            var supercedence = r.TryGetProperty("Supercedence", out var s) && s.ValueKind == JsonValueKind.Array
                ? JsonStrings(s, $"{at}.Supercedence")
                : JsonText(r, "Supercedence", at) is { } one ? [one] : [];
            var supersededText = new List<string>();
            foreach (var text in supercedence)
                foreach (var token in SupersededText(text)) if (!supersededText.Contains(token)) supersededText.Add(token);
            var (url, restart, fixedBuild) = (JsonText(r, "URL", at), JsonText(r, "RestartRequired", at), JsonText(r, "FixedBuild", at));
            fixes.Add(new VendorFix(description, kb, url?.Trim(), Restart(restart), JsonText(r, "SubType", at)?.Trim(), Build(fixedBuild),
                [.. supercedence.SelectMany(SupersededKbs)], supersededText, JsonIds(r, at), FixProblem(description, kb, url, restart, fixedBuild)));
        }
        return fixes;
    }

    /// <summary>Whether an element's Type is the one asked: Microsoft's number, or its name (as the XML writes it, or without spaces: "VendorFix").</summary>
    private static bool IsType(JsonElement e, string path, int number, string name)
    {
        if (!e.TryGetProperty("Type", out var type) || type.ValueKind == JsonValueKind.Null) return false;
        if (type.ValueKind == JsonValueKind.Number) return type.TryGetInt32(out var n) ? n == number : throw JsonInvalid($"{path}.Type", $"{type.GetRawText()} is not a type number.");
        if (type.ValueKind == JsonValueKind.String) return string.Equals(type.GetString()?.Replace(" ", ""), name.Replace(" ", ""), StringComparison.OrdinalIgnoreCase);
        throw JsonInvalid($"{path}.Type", "a type is a number (Microsoft's enumeration) or a name.");
    }

    /// <summary>A text element: a string, or an object whose Value is one (an empty object, as RestartRequired may be, is none).</summary>
    private static string? JsonText(JsonElement parent, string name, string path)
    {
        if (!parent.TryGetProperty(name, out var e)) return null;
        if (e.ValueKind == JsonValueKind.String) return e.GetString();
        if (e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind == JsonValueKind.Object)
        {
            if (!e.TryGetProperty("Value", out var value) || value.ValueKind == JsonValueKind.Null) return null;
            if (value.ValueKind == JsonValueKind.String) return value.GetString();
        }
        throw JsonInvalid($"{path}.{name}", "text is a string or an object whose Value is a string.");
    }

    private static Located? JsonLocated(JsonElement parent, string name, string path) =>
        JsonText(parent, name, path) is { } text ? new Located(text, $"{path}.{name}") : null;

    /// <summary>The ProductID of a threat or remediation: a list of ids, or one; blank ones left out.</summary>
    private static List<string> JsonIds(JsonElement parent, string path)
    {
        if (!parent.TryGetProperty("ProductID", out var ids) || ids.ValueKind == JsonValueKind.Null) return [];
        var at = $"{path}.ProductID";
        var list = ids.ValueKind == JsonValueKind.String ? [ids.GetString()!] : ids.ValueKind == JsonValueKind.Array ? JsonStrings(ids, at)
            : throw JsonInvalid(at, "product ids are a list of strings.");
        return [.. list.Select(id => id.Trim()).Where(id => id.Length > 0)];
    }

    private static List<string> JsonStrings(JsonElement array, string path)
    {
        var list = new List<string>();
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw JsonInvalid($"{path}[{i}]", "must be a string.");
            list.Add(item.GetString()!);
            i++;
        }
        return list;
    }

    /// <summary>The items of an array property with their paths; none when it is missing or null.</summary>
    private static IEnumerable<(JsonElement Item, string Path)> JsonArray(JsonElement parent, string name, string path)
    {
        if (!parent.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null) yield break;
        Expect(array, JsonValueKind.Array, $"{path}.{name}");
        var i = 0;
        foreach (var item in array.EnumerateArray()) yield return (item, $"{path}.{name}[{i++}]");
    }

    private static void Expect(JsonElement e, JsonValueKind kind, string path)
    {
        if (e.ValueKind != kind) throw JsonInvalid(path, $"must be {(kind == JsonValueKind.Array ? "an array" : "an object")}, not {e.ValueKind.ToString().ToLowerInvariant()}.");
    }

    private static CatalogFormatException JsonInvalid(string path, string detail) => new("Invalid CVRF document", detail, path);
}
