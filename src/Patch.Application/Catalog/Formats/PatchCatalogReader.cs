using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Patch.Domain.Catalog;
using Patch.Domain.Rules;
using Patch.Domain.Settings;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// Reads Patch's own versioned JSON catalog (docs/catalog-formats.md, docs/schemas/patch-catalog-1.0.schema.json; 1.1 adds an
/// update's ordered <c>files</c> with SHA-256 or SHA-1 digests).
/// Every error names its JSON path.
/// </summary>
public static partial class PatchCatalogReader
{
    public static readonly string[] SupportedSchemaVersions = ["1.0", "1.1"];

    public static CatalogDocument Read(Stream stream)
    {
        var json = CatalogJson.Parse(stream, maxDepth: 64);

        using (json)
        {
            try
            {
                return Read(json.RootElement);
            }
            catch (FormatException e)
            {
                var (place, detail) = Split(e.Message);
                throw new CatalogFormatException("Invalid Patch catalog", detail, place);
            }
        }
    }

    private static (string Place, string Detail) Split(string message)
    {
        var i = message.IndexOf(": ", StringComparison.Ordinal);
        return i < 0 ? ("$", message) : (message[..i], message[(i + 2)..]);
    }

    private static CatalogDocument Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("$: the catalog must be a JSON object");
        var version = Str(root, "schemaVersion", "$", required: true)!;
        if (!SupportedSchemaVersions.Contains(version))
            throw new FormatException($"$.schemaVersion: unknown schema version '{version}' (supported: {string.Join(", ", SupportedSchemaVersions)})");
        // A later version's properties are named as such above, not as misspellings.
        Only(root, "$", "$schema", "schemaVersion", "catalogId", "vendors", "products", "bulletins");
        var catalogId = Str(root, "catalogId", "$", required: true)!;

        var vendors = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        ForEach(root, "vendors", "$", (v, path) =>
        {
            Only(v, path, "id", "name");
            var id = Str(v, "id", path, required: true)!;
            if (!vendors.TryAdd(id, Str(v, "name", path, required: true)!)) throw new FormatException($"{path}.id: duplicate vendor id '{id}'");
        });

        var products = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        ForEach(root, "products", "$", (p, path) =>
        {
            Only(p, path, "id", "name", "vendor");
            var id = Str(p, "id", path, required: true)!;
            var vendor = Str(p, "vendor", path, required: true)!;
            if (!vendors.ContainsKey(vendor)) throw new FormatException($"{path}.vendor: unknown vendor '{vendor}'");
            if (!products.TryAdd(id, Str(p, "name", path, required: true)!)) throw new FormatException($"{path}.id: duplicate product id '{id}'");
        });

        var bulletins = new List<ImportedBulletin>();
        var bulletinIds = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var updateIds = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        ForEach(root, "bulletins", "$", (b, path) =>
        {
            // A bulletin given twice is named as such, before its updates are found given twice too.
            var key = $"{Str(b, "vendor", path, required: true)}|{Str(b, "id", path, required: true)}";
            if (!bulletinIds.TryAdd(key, path))
                throw new FormatException($"{path}.id: duplicate bulletin '{Str(b, "id", path, true)!.ToUpperInvariant()}' (also at {bulletinIds[key]})");
            var bulletin = ReadBulletin(b, path, vendors, products, updateIds, version != "1.0");
            // Two vendor ids of one vendor name give one bulletin stream.
            if (!bulletinIds.TryAdd(bulletin.StreamId, path))
                throw new FormatException($"{path}.id: duplicate bulletin '{bulletin.Facts.Number}' (also at {bulletinIds[bulletin.StreamId]})");
            bulletins.Add(bulletin);
        }, required: true);
        return new CatalogDocument("patch", catalogId, bulletins, []);
    }

    private static ImportedBulletin ReadBulletin(JsonElement b, string path, Dictionary<string, string> vendors, Dictionary<string, string> products, Dictionary<string, string> updateIds,
        bool files)
    {
        // Bulletin numbers are upper case everywhere (stream ids, supersedence), whatever case a file uses.
        Only(b, path, "id", "vendor", "title", "severity", "released", "revised", "description", "url", "cves", "supersedes", "updates");
        var number = Str(b, "id", path, required: true)!.ToUpperInvariant();
        if (CatalogNames.IdProblem(number) is { } badId) throw new FormatException($"{path}.id: {badId}");
        var vendorId = Str(b, "vendor", path, required: true)!;
        if (!vendors.TryGetValue(vendorId, out var vendor)) throw new FormatException($"{path}.vendor: unknown vendor '{vendorId}'");
        var severityText = Str(b, "severity", path, required: false);
        var severity = Severity.None;
        if (severityText is not null && !SeverityNames.TryParseStrict(severityText, out severity))
            throw new FormatException($"{path}.severity: '{severityText}' is not one of Critical, Important, Moderate, Low, None");
        var cves = Strings(b, "cves", path);
        foreach (var (cve, i) in cves.Select((c, i) => (c, i)))
            if (!CveId().IsMatch(cve.ToUpperInvariant())) throw new FormatException($"{path}.cves[{i}]: '{cve}' is not a CVE id like CVE-2024-20666");
        var (released, revised) = (Date(b, "released", path), Date(b, "revised", path));
        if (released is { } from && revised is { } to && to < from)
            throw new FormatException($"{path}.revised: {to:yyyy-MM-dd HH:mm} is before released ({from:yyyy-MM-dd HH:mm}): a bulletin is revised after it is released");
        var facts = new BulletinFacts(vendor, number, Str(b, "title", path, required: true)!, severity,
            released, revised, Str(b, "description", path, false), Str(b, "url", path, false),
            cves.Select(c => c.ToUpperInvariant()).ToList(), Strings(b, "supersedes", path).Select(s => s.ToUpperInvariant()).Distinct().ToList(), []);

        var updates = new List<UpdateFacts>();
        ForEach(b, "updates", path, (u, upath) =>
        {
            var update = ReadUpdate(u, upath, products, files);
            if (!updateIds.TryAdd(update.UpdateId, upath))
                throw new FormatException($"{upath}.id: duplicate update '{update.UpdateId}' (also at {updateIds[update.UpdateId]})");
            updates.Add(update);
        });
        return new ImportedBulletin(facts, updates);
    }

    private static UpdateFacts ReadUpdate(JsonElement u, string path, Dictionary<string, string> products, bool filesAllowed)
    {
        var files = new List<UpdateFile>();
        Only(u, path, "id", "kb", "product", "culture", "fileName", "downloadUrl", "files", "size", "sha256", "restart", "commandLine", "subType", "fixedBuild",
            "applicability", "installed", "supersedes", "revision", "reinstallOnRevision");
        if (u.TryGetProperty("files", out _) && !filesAllowed) throw new FormatException($"{path}.files: only in schema version 1.1 (this catalog says 1.0)");
        ForEach(u, "files", path, (f, fpath) =>
        {
            var file = ReadFile(f, fpath);
            if (files.FindIndex(known => string.Equals(known.FileName, file.FileName, StringComparison.OrdinalIgnoreCase)) is var at and >= 0)
                throw new FormatException($"{fpath}.fileName: '{file.FileName}' is given twice (also at {path}.files[{at}]): an update's files are saved side by side");
            files.Add(file);
        });
        if (u.TryGetProperty("files", out var given) && given.ValueKind == JsonValueKind.Array && given.GetArrayLength() == 0)
            throw new FormatException($"{path}.files: empty — list the update's files, or leave files out");
        if (Str(u, "culture", path, false) is { } culture && !culture.Equals(CoreSettings.Neutral, StringComparison.OrdinalIgnoreCase) && !Domain.CultureNames.IsName(culture))
            throw new FormatException($"{path}.culture: '{culture}' is not a culture name like en-US (or neutral)");
        if (Str(u, "fileName", path, false) is { } fileName && CatalogNames.FileNameProblem(fileName) is { } badName)
            throw new FormatException($"{path}.fileName: {badName}");
        if (CatalogNames.IdProblem(Str(u, "id", path, true)!) is { } badId) throw new FormatException($"{path}.id: {badId}");
        var productId = Str(u, "product", path, required: true)!;
        if (!products.TryGetValue(productId, out var product)) throw new FormatException($"{path}.product: unknown product '{productId}'");
        var sha = Str(u, "sha256", path, false);
        if (sha is not null && !Sha256().IsMatch(sha)) throw new FormatException($"{path}.sha256: must be 64 hexadecimal characters");
        var size = Size(u, path);
        var url = Str(u, "downloadUrl", path, false);
        if (url is not null && !Domain.AbsoluteUrl.IsWebOrFile(url))
            throw new FormatException($"{path}.downloadUrl: '{url}' is not an absolute http, https or file URL");
        var restartText = Str(u, "restart", path, false) ?? "unknown";
        var restart = restartText.ToLowerInvariant() switch
        {
            "required" => RestartBehavior.Required, "notrequired" => RestartBehavior.NotRequired, "maybe" => RestartBehavior.Maybe, "unknown" => RestartBehavior.Unknown,
            _ => throw new FormatException($"{path}.restart: '{restartText}' is not one of required, notRequired, maybe, unknown"),
        };
        var revision = 1;
        if (u.TryGetProperty("revision", out var r) && r.ValueKind != JsonValueKind.Null)
        {
            if (r.ValueKind != JsonValueKind.Number || !r.TryGetInt32(out revision) || revision < 1) throw new FormatException($"{path}.revision: must be a positive integer");
        }
        var reinstall = false;
        if (u.TryGetProperty("reinstallOnRevision", out var ri) && ri.ValueKind != JsonValueKind.Null)
        {
            if (ri.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new FormatException($"{path}.reinstallOnRevision: must be true or false");
            reinstall = ri.GetBoolean();
        }
        return new UpdateFacts(Str(u, "id", path, true)!, product, productId, Str(u, "culture", path, false) ?? CoreSettings.Neutral,
            Str(u, "fileName", path, false), url, size, sha?.ToLowerInvariant(), restart, Str(u, "commandLine", path, false),
            Str(u, "subType", path, false), Str(u, "fixedBuild", path, false), Rule(u, "applicability", path), Rule(u, "installed", path),
            Strings(u, "supersedes", path).Select(s => s.ToUpperInvariant()).Distinct().ToList(), null, Str(u, "kb", path, false)?.ToUpperInvariant(), revision, reinstall,
            files.Count > 0 ? files : null);
    }

    /// <summary>One of an update's files (1.1): url and fileName required, a SHA-256 or a SHA-1 (hex), size optional.</summary>
    private static UpdateFile ReadFile(JsonElement f, string path)
    {
        Only(f, path, "url", "fileName", "size", "sha256", "sha1");
        var url = Str(f, "url", path, true)!;
        if (!Domain.AbsoluteUrl.IsWebOrFile(url))
            throw new FormatException($"{path}.url: '{url}' is not an absolute http, https or file URL");
        var name = Str(f, "fileName", path, true)!;
        if (CatalogNames.FileNameProblem(name) is { } badName) throw new FormatException($"{path}.fileName: {badName}");
        var sha = Str(f, "sha256", path, false);
        if (sha is not null && !Sha256().IsMatch(sha)) throw new FormatException($"{path}.sha256: must be 64 hexadecimal characters");
        var sha1 = Str(f, "sha1", path, false);
        if (sha1 is not null && !Sha1().IsMatch(sha1)) throw new FormatException($"{path}.sha1: must be 40 hexadecimal characters");
        return new UpdateFile(url, name, Size(f, path), sha?.ToLowerInvariant(), sha1?.ToLowerInvariant());
    }

    /// <summary>Patch's own format says every property it has (its schema too): a misspelt one ("sha265") is refused, never dropped.</summary>
    private static void Only(JsonElement e, string path, params string[] names)
    {
        foreach (var p in e.EnumerateObject())
            if (!names.Contains(p.Name, StringComparer.Ordinal))
                throw new FormatException($"{path}: '{Domain.Users.UserDecisions.Printable(p.Name)}' is not a property of this object (it takes {string.Join(", ", names)})");
    }

    private static long? Size(JsonElement e, string path)
    {
        if (!e.TryGetProperty("size", out var s) || s.ValueKind == JsonValueKind.Null) return null;
        if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out var n) || n < 0) throw new FormatException($"{path}.size: must be a non-negative integer (bytes)");
        return n;
    }

    private static string? Rule(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var r) && r.ValueKind != JsonValueKind.Null ? RuleSyntax.Canonical(r, $"{path}.{name}") : null;

    private static void ForEach(JsonElement e, string name, string path, Action<JsonElement, string> each, bool required = false)
    {
        if (!e.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null)
        {
            if (required) throw new FormatException($"{path}.{name}: required field is missing");
            return;
        }
        if (array.ValueKind != JsonValueKind.Array) throw new FormatException($"{path}.{name}: must be an array");
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var itemPath = $"{path}.{name}[{i++}]";
            if (item.ValueKind != JsonValueKind.Object) throw new FormatException($"{itemPath}: must be an object");
            each(item, itemPath);
        }
    }

    private static string? Str(JsonElement e, string name, string path, bool required)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw new FormatException($"{path}.{name}: required field is missing") : null;
        if (v.ValueKind != JsonValueKind.String) throw new FormatException($"{path}.{name}: must be a string");
        var s = v.GetString()!.Trim();
        if (s.Length == 0) return required ? throw new FormatException($"{path}.{name}: must not be empty") : null;
        return s;
    }

    private static IReadOnlyList<string> Strings(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind != JsonValueKind.Array) throw new FormatException($"{path}.{name}: must be an array of strings");
        var list = new List<string>();
        var i = 0;
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(item.GetString()))
                throw new FormatException($"{path}.{name}[{i}]: must be a non-empty string");
            list.Add(item.GetString()!.Trim());
            i++;
        }
        return list;
    }

    private static DateTimeOffset? Date(JsonElement e, string name, string path)
    {
        var text = Str(e, name, path, false);
        if (text is null) return null;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d)) return d;
        throw new FormatException($"{path}.{name}: '{text}' is not an ISO 8601 date");
    }

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256();

    [GeneratedRegex("^[0-9a-fA-F]{40}$")]
    private static partial Regex Sha1();

    [GeneratedRegex(@"^CVE-[0-9]{4}-[0-9]{4,}$")]
    private static partial Regex CveId();
}
