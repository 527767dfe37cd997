using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Patch.Domain.Vulnerabilities;

namespace Patch.Application.Catalog.Formats;

public sealed record KevDocument(string CatalogVersion, IReadOnlyList<KnownExploitedFacts> Vulnerabilities);

/// <summary>
/// Reads CISA's Known Exploited Vulnerabilities catalog: its JSON (known_exploited_vulnerabilities.json) or the CSV twin
/// CISA publishes beside it (<see cref="ReadCsv"/>), told apart by the first character. Every error names its place: a
/// JSON path, or a CSV row and column.
/// </summary>
public static partial class KevCatalogReader
{
    public static KevDocument Read(Stream stream)
    {
        var text = CatalogJson.Utf8(stream, "a KEV catalog (JSON or CSV)", "(as CISA publishes it)");
        var first = text.Span.IndexOfAnyExcept(" \t\r\n"u8);
        // A JSON document starts with '{' (or is malformed, and the JSON parser says where); the CSV with its header.
        if (first >= 0 && (char.IsAsciiLetter((char)text.Span[first]) || text.Span[first] == '"')) return ReadCsv(text);
        using var json = CatalogJson.Parse(text, maxDepth: 16);
        var root = json.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Invalid("$", "the KEV catalog must be a JSON object");
        var version = Str(root, "catalogVersion", "$") ?? throw Invalid("$.catalogVersion", "required field is missing");
        // Versions are compared to roll nothing back (an older catalog changes nothing): CISA's are dates, "2025.08.25" — any
        // other text would sort past every real one and freeze its entries.
        if (!DateOnly.TryParseExact(version, "yyyy.MM.dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out _))
            throw Invalid("$.catalogVersion", $"'{Domain.Users.UserDecisions.Printable(version)}' is not a catalog version as CISA gives it (a date, yyyy.MM.dd)");
        if (!root.TryGetProperty("vulnerabilities", out var list) || list.ValueKind != JsonValueKind.Array)
            throw Invalid("$.vulnerabilities", "required array is missing");
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var items = new List<KnownExploitedFacts>();
        var i = 0;
        foreach (var v in list.EnumerateArray())
        {
            var path = $"$.vulnerabilities[{i}]";
            if (v.ValueKind != JsonValueKind.Object) throw Invalid(path, "must be an object");
            var facts = Entry(name => Str(v, name, path), name => $"{path}.{name}");
            if (!seen.TryAdd(facts.Cve, i)) throw Invalid($"{path}.cveID", $"duplicate CVE '{facts.Cve}' (also at $.vulnerabilities[{seen[facts.Cve]}])");
            items.Add(facts);
            i++;
        }
        // CISA's catalog has held entries since its first day: an empty list is a broken download, not a catalog emptied.
        if (items.Count == 0) throw Invalid("$.vulnerabilities", "the catalog lists no entries");
        // CISA's count of its entries: another number is a list cut or edited since (the only sign of it in the file).
        if (root.TryGetProperty("count", out var count) && count.ValueKind != JsonValueKind.Null
            && (count.ValueKind != JsonValueKind.Number || !count.TryGetInt32(out var counted) || counted != items.Count))
            throw Invalid("$.count", $"the catalog says it holds {Domain.Users.UserDecisions.Printable(count.GetRawText())} entries, its list holds {items.Count}: a cut or edited file");
        return new KevDocument(version, items);
    }

    /// <summary>The fields KEV's JSON and CSV share, read and checked the same way.</summary>
    private static readonly string[] Required = ["cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded"];

    /// <summary>One entry, <paramref name="field"/> giving a field's trimmed text (null when missing or blank) and <paramref name="place"/> its place.</summary>
    private static KnownExploitedFacts Entry(Func<string, string?> field, Func<string, string> place)
    {
        string Text(string name) => field(name) ?? throw Invalid(place(name), "required field is missing");
        DateOnly? Date(string name)
        {
            var text = field(name);
            if (text is null) return null;
            return DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
                ? d : throw Invalid(place(name), $"'{text}' is not a date (yyyy-MM-dd)");
        }
        var cve = Text("cveID").ToUpperInvariant();
        if (!CveId().IsMatch(cve)) throw Invalid(place("cveID"), $"'{cve}' is not a CVE id");
        var added = Date("dateAdded") ?? throw Invalid(place("dateAdded"), "required field is missing");
        // "Known" or "Unknown", as CISA's schema says ("Unknown": CISA lacks confirmation); a due date may precede the
        // date added (the catalog's first entries, added 2021-11-03, carry their earlier directives' dates).
        if (field("knownRansomwareCampaignUse") is { } ransomware && ransomware is not ("Known" or "Unknown"))
            throw Invalid(place("knownRansomwareCampaignUse"), $"'{Domain.Users.UserDecisions.Printable(ransomware)}' is neither Known nor Unknown");
        return new KnownExploitedFacts(cve, Text("vendorProject"), Text("product"), Text("vulnerabilityName"), added, Date("dueDate"),
            field("requiredAction"), field("knownRansomwareCampaignUse"), field("shortDescription"));
    }

    private static CatalogFormatException Invalid(string place, string detail) => new("Invalid KEV catalog", detail, place);

    private static string? Str(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw Invalid($"{path}.{name}", "must be a string");
        var text = v.GetString()!.Trim();
        return text.Length == 0 ? null : text;
    }

    [GeneratedRegex(@"^CVE-[0-9]{4}-[0-9]{4,}$")]
    private static partial Regex CveId();
}
