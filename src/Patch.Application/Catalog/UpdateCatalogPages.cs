using System.Net;
using System.Text.RegularExpressions;
using Patch.Domain.Catalog;

namespace Patch.Application.Catalog;

/// <summary>One row of the Microsoft Update Catalog's search results.</summary>
public sealed record CatalogSearchRow(string UpdateId, string Title, string Products, string Classification, long? Size);

/// <summary>
/// Reads the Microsoft Update Catalog's pages (docs/update-catalog.md says what is relied on and where it was learned):
/// the search page's result rows and the download dialog's file list. A page that has none of the expected marks is a
/// changed shape — never a guess.
/// </summary>
public static partial class UpdateCatalogPages
{
    /// <summary>The result rows; an empty list when the page says it found nothing.</summary>
    public static IReadOnlyList<CatalogSearchRow> ParseSearch(string html)
    {
        var rows = new List<CatalogSearchRow>();
        foreach (Match row in Row().Matches(html))
        {
            var id = row.Groups["id"].Value;
            var cells = Cell().Matches(row.Groups["html"].Value).Where(c => c.Groups["id"].Value.Equals(id, StringComparison.OrdinalIgnoreCase))
                .Select(c => (Ok: int.TryParse(c.Groups["col"].Value, System.Globalization.CultureInfo.InvariantCulture, out var col), Col: col, Html: c.Groups["html"].Value))
                .Where(c => c.Ok).GroupBy(c => c.Col).ToDictionary(g => g.Key, g => Text(g.First().Html));
            if (!cells.TryGetValue(1, out var title) || title.Length == 0) throw new FormatException($"the search page's row {id} has no title cell ({id}_C1_R…): its shape changed");
            var size = OriginalSize().Match(row.Groups["html"].Value) is { Success: true } s && long.TryParse(s.Groups["size"].Value, out var n) ? n : (long?)null;
            rows.Add(new CatalogSearchRow(id.ToLowerInvariant(), title, cells.GetValueOrDefault(2, ""), cells.GetValueOrDefault(3, ""), size));
        }
        if (rows.Count > 0) return rows;
        if (html.Contains("ctl00_catalogBody_noResultText", StringComparison.Ordinal)) return [];
        throw new FormatException("the search page has neither result rows (<tr id=\"{guid}_R{n}\">) nor the no-results text (ctl00_catalogBody_noResultText): its shape changed");
    }

    /// <summary>The files the download dialog lists for one update: URL, file name and the digests it states (SHA-1 as "digest", sometimes SHA-256), base64-decoded to hex.</summary>
    public static IReadOnlyList<UpdateFile> ParseDownloadDialog(string text)
    {
        var files = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (Match m in Assignment().Matches(text))
        {
            var key = $"{m.Groups["info"].Value}/{m.Groups["file"].Value}";
            if (!files.TryGetValue(key, out var fields)) files[key] = fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            fields[m.Groups["field"].Value] = WebUtility.HtmlDecode(ScriptString(m.Groups["value"].Value));
        }
        if (files.Count == 0) throw new FormatException("the download dialog has no downloadInformation[i].files[j].url assignments: its shape changed");
        var list = new List<UpdateFile>();
        foreach (var (key, fields) in files)
        {
            if (!fields.TryGetValue("url", out var url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new FormatException($"the download dialog's file {key} has no http(s) url: its shape changed");
            var name = fields.TryGetValue("fileName", out var n) && n.Length > 0 ? n : Uri.UnescapeDataString(Path.GetFileName(uri.AbsolutePath));
            // The name the package is saved and installed under (wusa.exe "name"): one Windows can save, never a path.
            if (Domain.Catalog.CatalogNames.FileNameProblem(name) is { } problem)
                throw new FormatException($"the download dialog's file {key}: {problem}: its shape changed");
            list.Add(new UpdateFile(url, name, null, Digest(fields.GetValueOrDefault("sha256"), 32, key), Digest(fields.GetValueOrDefault("digest"), 20, key)));
        }
        return list;
    }

    /// <summary>
    /// The one row for an update of this KB and product: its title names the KB, its architecture (when it names one)
    /// and every significant word of the product's name. Null with the reason when none or several match.
    /// </summary>
    public static (CatalogSearchRow? Row, string? Reason) Choose(IReadOnlyList<CatalogSearchRow> rows, string kb, string product)
    {
        var ofKb = rows.Where(r => r.Title.Contains(kb, StringComparison.OrdinalIgnoreCase) && !r.Title.Contains("Dynamic Update", StringComparison.OrdinalIgnoreCase)).ToList();
        if (ofKb.Count == 0) return (null, rows.Count == 0 ? $"the Update Catalog finds nothing for {kb}" : $"no row of the Update Catalog's search for {kb} names {kb} in its title");
        var words = Words(ProductCore(product));
        var matches = ofKb.Where(r => words.IsSubsetOf(Words(r.Title))).ToList();
        var arch = Staging.DownloadSources.Architecture(product);
        var ofArch = matches.Where(r => ArchitectureOf(r.Title) == arch).ToList();
        if (ofArch.Count > 0) matches = ofArch;
        else matches = matches.Where(r => ArchitectureOf(r.Title) is null).ToList();
        return matches.Count switch
        {
            1 => (matches[0], null),
            0 => (null, $"no row of the Update Catalog's search for {kb} matches {product} ({string.Join("; ", ofKb.Take(5).Select(r => r.Title))})"),
            _ => (null, $"several rows of the Update Catalog's search for {kb} match {product}: {string.Join("; ", matches.Take(5).Select(r => r.Title))}"),
        };
    }

    /// <summary>Install order: the files that are not the KB's own (a checkpoint's) first, as listed; the KB's own last.</summary>
    public static IReadOnlyList<UpdateFile> InstallOrder(IReadOnlyList<UpdateFile> files, string kb)
    {
        var own = kb.ToLowerInvariant();
        return files.Where(f => !f.FileName.Contains(own, StringComparison.OrdinalIgnoreCase)).Concat(files.Where(f => f.FileName.Contains(own, StringComparison.OrdinalIgnoreCase))).ToList();
    }

    private static readonly HashSet<string> Stop = ["for", "on", "based", "systems", "version", "and", "the", "microsoft", "edition", "installation", "core", "server core"];

    private static HashSet<string> Words(string text) =>
        NonWord().Split(text.ToLowerInvariant()).Where(w => w.Length > 0 && !Stop.Contains(w)).ToHashSet();

    private static string ProductCore(string product) => ArchitecturePhrase().Replace(product, " ").Replace("(Server Core installation)", " ", StringComparison.OrdinalIgnoreCase);

    private static string? ArchitectureOf(string title)
    {
        var t = title.ToLowerInvariant();
        if (t.Contains("arm64")) return "arm64";
        if (t.Contains("x64") || t.Contains("amd64")) return "x64";
        if (t.Contains("x86") || t.Contains("32-bit")) return "x86";
        return null;
    }

    /// <summary>A single-quoted JavaScript string's text: its escapes (\\, \', \xHH, \uHHHH, \n…) decoded as a browser would.</summary>
    private static string ScriptString(string quoted)
    {
        if (!quoted.Contains('\\')) return quoted;
        var text = new System.Text.StringBuilder(quoted.Length);
        for (var i = 0; i < quoted.Length; i++)
        {
            if (quoted[i] != '\\' || i + 1 == quoted.Length) { text.Append(quoted[i]); continue; }
            var c = quoted[++i];
            var hex = c == 'x' ? 2 : c == 'u' ? 4 : 0;
            if (hex > 0 && i + hex < quoted.Length && int.TryParse(quoted.AsSpan(i + 1, hex), System.Globalization.NumberStyles.HexNumber, null, out var code))
            {
                text.Append((char)code);
                i += hex;
                continue;
            }
            text.Append(c switch { 'n' => '\n', 'r' => '\r', 't' => '\t', 'b' => '\b', 'f' => '\f', 'v' => '\v', '0' => '\0', _ => c });
        }
        return text.ToString();
    }

    private static string? Digest(string? base64, int length, string key)
    {
        if (string.IsNullOrWhiteSpace(base64)) return null;
        try
        {
            var bytes = Convert.FromBase64String(base64);
            if (bytes.Length != length) throw new FormatException($"the download dialog's digest of {key} decodes to {bytes.Length} bytes, not {length}: its shape changed");
            return Convert.ToHexStringLower(bytes);
        }
        catch (FormatException e) when (!e.Message.StartsWith("the download dialog", StringComparison.Ordinal))
        {
            throw new FormatException($"the download dialog's digest of {key} is not base64: its shape changed", e);
        }
    }

    private static string Text(string html) => WhiteSpace().Replace(WebUtility.HtmlDecode(Tag().Replace(html, " ")), " ").Trim();

    [GeneratedRegex("""<tr\s[^>]*id="(?<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})_R\d+"[^>]*>(?<html>.*?)</tr>""", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex Row();

    [GeneratedRegex("""<td\s[^>]*id="(?<id>[0-9a-fA-F-]{36})_C(?<col>\d+)_R\d+"[^>]*>(?<html>.*?)</td>""", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex Cell();

    [GeneratedRegex("""_originalSize"[^>]*>\s*(?<size>\d+)\s*<""", RegexOptions.IgnoreCase)]
    private static partial Regex OriginalSize();

    [GeneratedRegex("""downloadInformation\[(?<info>\d+)\]\.files\[(?<file>\d+)\]\.(?<field>\w+)\s*=\s*'(?<value>(?:[^'\\]|\\.)*)'""")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"\bfor\s+(x64|x86|arm64|32-bit|64-bit)(-based)?\s+systems\b", RegexOptions.IgnoreCase)]
    private static partial Regex ArchitecturePhrase();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tag();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NonWord();
}
