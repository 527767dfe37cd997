using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Patch.Domain.Vulnerabilities;

namespace Patch.Application.Catalog.Formats;

public sealed record KevDocument(string CatalogVersion, IReadOnlyList<KnownExploitedFacts> Vulnerabilities);

/// <summary>Reads CISA's Known Exploited Vulnerabilities catalog (JSON). Every error names its JSON path.</summary>
public static partial class KevCatalogReader
{
    public static KevDocument Read(Stream stream)
    {
        var json = CatalogJson.Parse(stream, maxDepth: 16);

        using (json)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Invalid("$", "the KEV catalog must be a JSON object");
            var version = Str(root, "catalogVersion", "$", true)!;
            if (!root.TryGetProperty("vulnerabilities", out var list) || list.ValueKind != JsonValueKind.Array)
                throw Invalid("$.vulnerabilities", "required array is missing");
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var items = new List<KnownExploitedFacts>();
            var i = 0;
            foreach (var v in list.EnumerateArray())
            {
                var path = $"$.vulnerabilities[{i}]";
                if (v.ValueKind != JsonValueKind.Object) throw Invalid(path, "must be an object");
                var cve = Str(v, "cveID", path, true)!.ToUpperInvariant();
                if (!CveId().IsMatch(cve)) throw Invalid($"{path}.cveID", $"'{cve}' is not a CVE id");
                if (!seen.TryAdd(cve, i)) throw Invalid($"{path}.cveID", $"duplicate CVE '{cve}' (also at $.vulnerabilities[{seen[cve]}])");
                items.Add(new KnownExploitedFacts(cve, Str(v, "vendorProject", path, true)!, Str(v, "product", path, true)!,
                    Str(v, "vulnerabilityName", path, true)!, Date(v, "dateAdded", path, true)!.Value, Date(v, "dueDate", path, false),
                    Str(v, "requiredAction", path, false), Str(v, "knownRansomwareCampaignUse", path, false), Str(v, "shortDescription", path, false)));
                i++;
            }
            return new KevDocument(version, items);
        }
    }

    private static CatalogFormatException Invalid(string place, string detail) => new("Invalid KEV catalog", detail, place);

    private static string? Str(JsonElement e, string name, string path, bool required)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null || (v.ValueKind == JsonValueKind.String && v.GetString()!.Trim().Length == 0))
            return required ? throw Invalid($"{path}.{name}", "required field is missing") : null;
        if (v.ValueKind != JsonValueKind.String) throw Invalid($"{path}.{name}", "must be a string");
        return v.GetString()!.Trim();
    }

    private static DateOnly? Date(JsonElement e, string name, string path, bool required)
    {
        var text = Str(e, name, path, required);
        if (text is null) return null;
        return DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
            ? d : throw Invalid($"{path}.{name}", $"'{text}' is not a date (yyyy-MM-dd)");
    }

    [GeneratedRegex(@"^CVE-\d{4}-\d{4,}$")]
    private static partial Regex CveId();
}
