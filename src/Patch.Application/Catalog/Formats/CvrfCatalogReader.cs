using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Patch.Domain.Catalog;
using Patch.Domain.Inventory.Products;
using Patch.Domain.Settings;
using Patch.Domain.Vulnerabilities;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// Reads a Microsoft Security Update Guide CVRF 1.1 document: one bulletin per KB article named by a
/// "Vendor Fix" remediation, one software update per (KB, product). A vendor fix without a KB ("Click to Run", "Release
/// Notes") of a product Patch can inventory becomes a product vulnerability fact (CVE, product, fixed build), never a
/// bulletin; one of a product no Windows inventory has (Linux packages…) is counted as skipped. See docs/catalog-formats.md.
/// </summary>
public static partial class CvrfCatalogReader
{
    public const string Vendor = "Microsoft";

    /// <summary>
    /// One streaming pass (<see cref="Parse"/>) keeps only what the mapping reads — the notes, CVSS score sets and
    /// acknowledgements that make most of a document's bytes are checked for well-formedness and skipped, never built.
    /// </summary>
    public static CatalogDocument Read(Stream stream) => Map(SafeXml.Stream(stream, Parse));

    /// <summary>
    /// On a machine of several cores, a document of <see cref="MinPieceBytes"/> twice or more is read in pieces, two per
    /// core up to <see cref="MaxPieces"/> (<see cref="XmlPieces"/>, ADR 0047), split before vulnerabilities; when it cannot
    /// be, or a piece fails, it is read whole — so a refusal is always the whole document's. A document in JSON (the MSRC
    /// API's default form) is read by <see cref="ReadJson"/>.
    /// </summary>
    public static CatalogDocument Read(byte[] bytes) =>
        IsJson(bytes) ? ReadJson(CatalogJson.Utf8(bytes, "a CVRF document in JSON", "(as the MSRC API serves it)"))
        : (Environment.ProcessorCount > 1 ? ReadInPieces(bytes, Math.Min(2 * Environment.ProcessorCount, MaxPieces), MinPieceBytes) : null)
        ?? Read(new MemoryStream(bytes, writable: false));

    /// <summary>
    /// The document read in at most <paramref name="pieces"/> pieces of at least <paramref name="minPieceBytes"/>, or null
    /// when it cannot be split or a piece fails (malformed, or a split point that is no vulnerability of the document).
    /// </summary>
    public static CatalogDocument? ReadInPieces(byte[] bytes, int pieces, int minPieceBytes) =>
        XmlPieces.Split(bytes, VulnNamespace, "Vulnerability", pieces, minPieceBytes) is { } plan && XmlPieces.TryRead(bytes, plan, Parse) is { } read
            ? Map(Parsed.Merge(read))
            : null;

    public const int MaxPieces = 8;

    /// <summary>The least a piece holds: below it, a thread's start and a reader's costs outweigh what it saves.</summary>
    public const int MinPieceBytes = 256 * 1024;

    /// <summary>
    /// A fixed build as written, without the invisible format characters some real documents carry (2024-Oct's
    /// "10.0.19041.5000" ends in seven zero-width spaces): otherwise it is no version, and the update never counts as
    /// reached by a computer's build.
    /// </summary>
    private static string? Build(string? text) => text is null ? null
        : new string(text.Where(c => CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.Format).ToArray()).Trim();

    /// <summary>The mapping of what the streaming pass kept (<see cref="Parse"/>) into bulletins, updates and facts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static CatalogDocument Map(Parsed doc)
    {
        // Refusals in the order a reader of the whole tree would meet them: the document's identity, then each vulnerability.
        if (doc.Tracking is not { } tracking)
            throw new CatalogFormatException("Missing field", doc.Words.NoTracking, doc.RootPlace);
        var documentId = tracking.Id?.Trim();
        if (string.IsNullOrEmpty(documentId))
            throw new CatalogFormatException("Missing field", doc.Words.NoId, tracking.Place);
        var released = Date(tracking.Released);
        var revised = Date(tracking.Revised);
        CheckTracking(tracking, documentId, released, revised);
        var title = doc.Title?.Trim() ?? documentId;
        var products = doc.Products ?? new(StringComparer.Ordinal);

        var kbs = new SortedDictionary<string, KbAccumulator>(StringComparer.Ordinal);
        var skipped = new Dictionary<string, int>(StringComparer.Ordinal);
        var facts = new SortedDictionary<(string Cve, string Product), ProductVulnerabilityFacts>();
        foreach (var v in doc.Vulnerabilities)
        {
            // One CVE however it is written: the streams and the known-exploited list key it in upper case.
            var cve = v.Cve?.Trim().ToUpperInvariant();
            if (string.IsNullOrEmpty(cve))
                throw new CatalogFormatException("Missing field", doc.Words.NoCve, v.Place);
            CheckVulnerability(v, cve, products);
            var cveTitle = v.Title?.Trim();
            foreach (var r in v.VendorFixes)
            {
                if (r.Kb is not { } kb)
                {
                    if (!AddFacts(facts, cve, cveTitle, v.Severities, r, products, released, revised))
                    {
                        var key = r.Description.Length == 0 ? "(empty description)" : r.Description;
                        skipped[key] = skipped.GetValueOrDefault(key) + 1;
                    }
                    continue;
                }

                if (!kbs.TryGetValue(kb, out var acc)) kbs[kb] = acc = new KbAccumulator(kb);
                acc.Add(cve, cveTitle, v.Severities, r);
            }
        }

        var bulletins = kbs.Values.Select(a => a.ToBulletin(documentId, title, released, revised, products)).ToList();
        var skippedEntries = skipped.OrderBy(s => s.Key, StringComparer.Ordinal)
            .Select(s => new SkippedEntry("vendor fix is not a KB article", s.Key, s.Value)).ToList();
        return new CatalogDocument("cvrf", documentId, bulletins, skippedEntries, facts.Values.ToList());
    }

    /// <summary>
    /// The facts of a vendor fix without a KB, one per product of a family Patch can inventory; false when none of its
    /// products is one (the fix is then skipped).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool AddFacts(SortedDictionary<(string, string), ProductVulnerabilityFacts> facts, string cve, string? cveTitle,
        Dictionary<string, Severity> severities, VendorFix remediation, Dictionary<string, string> products,
        DateTimeOffset? released, DateTimeOffset? revised)
    {
        var any = false;
        foreach (var pid in remediation.ProductIds)
        {
            if (!products.TryGetValue(pid, out var name) || ProductFamilies.Of(name) == ProductFamilies.Other) continue;
            any = true;
            var severity = severities.GetValueOrDefault(pid);
            var key = (cve, ProductKeys.Normalize(name));
            var fact = new ProductVulnerabilityFacts(Vendor, cve, string.IsNullOrEmpty(cveTitle) ? null : cveTitle, name, pid, severity,
                string.IsNullOrEmpty(remediation.FixedBuild) ? null : remediation.FixedBuild,
                remediation.Description.Length == 0 ? "Vendor Fix" : remediation.Description, string.IsNullOrEmpty(remediation.Url) ? null : remediation.Url, released, revised);
            facts[key] = facts.TryGetValue(key, out var known)
                ? known with { FixedBuild = known.FixedBuild ?? fact.FixedBuild, Url = known.Url ?? fact.Url, Severity = (Severity)Math.Max((int)known.Severity, (int)severity) }
                : fact;
        }
        return any;
    }

    private static DateTimeOffset? Date(Located? element)
    {
        var text = element?.Text.Trim();
        if (string.IsNullOrEmpty(text)) return null;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)) return value;
        throw new CatalogFormatException("Invalid date", $"'{text}' is not a date.", element!.Place);
    }

    internal static IEnumerable<string> SupersededKbs(string text) => SupersededNumber().Matches(text).Select(m => "KB" + m.Groups[1].Value);

    /// <summary>
    /// What a Supercedence names besides KB numbers (a bulletin, "MS16-001"), as text: split on commas, semicolons, spaces
    /// and HTML line breaks ("3118389&lt;br&gt;&lt;br&gt;4022173"), without KB numbers, "None"/"N/A", or bare digits too short to be one
    /// ("5013868, 50185").
    /// </summary>
    internal static IEnumerable<string> SupersededText(string text) =>
        LineBreak().Replace(text, " ").Split([',', ';', ' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(token => !KbNumber().IsMatch(token) && !token.All(char.IsAsciiDigit)
                            && !token.Equals("None", StringComparison.OrdinalIgnoreCase) && !token.Equals("N/A", StringComparison.OrdinalIgnoreCase));

    [GeneratedRegex(@"<\s*br\s*/?\s*>", RegexOptions.IgnoreCase)]
    private static partial Regex LineBreak();

    [GeneratedRegex(@"^(?:KB)?([0-9]{6,8})$", RegexOptions.IgnoreCase)]
    private static partial Regex KbNumber();

    [GeneratedRegex(@"(?<!\d)(\d{6,8})(?!\d)")]
    private static partial Regex SupersededNumber();

    private static RestartBehavior Restart(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "yes" => RestartBehavior.Required,
        "no" => RestartBehavior.NotRequired,
        "maybe" => RestartBehavior.Maybe,
        _ => RestartBehavior.Unknown,
    };

    /// <summary>Everything the document says about one KB, gathered over every CVE that names it.</summary>
    private sealed class KbAccumulator(string kb)
    {
        private readonly SortedSet<string> _cves = new(StringComparer.Ordinal);
        private readonly List<string> _cveTitles = [];
        private readonly List<Dictionary<string, Severity>> _severities = [];
        private readonly SortedDictionary<string, ProductFix> _products = new(StringComparer.Ordinal);
        private readonly SortedSet<string> _supersedes = new(StringComparer.Ordinal);
        private readonly List<string> _supersedesText = [];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Add(string cve, string? cveTitle, Dictionary<string, Severity> severities, VendorFix remediation)
        {
            // A CVE's severities once, however many of its remediations name this KB: only their maximum counts.
            if (_cves.Add(cve))
            {
                _cveTitles.Add(string.IsNullOrEmpty(cveTitle) ? cve : $"{cve} ({cveTitle})");
                _severities.Add(severities);
            }
            foreach (var t in remediation.SupersededText) if (!_supersedesText.Contains(t)) _supersedesText.Add(t);
            _supersedes.UnionWith(remediation.SupersededKbs);

            foreach (var pid in remediation.ProductIds)
            {
                if (!_products.TryGetValue(pid, out var fix)) _products[pid] = fix = new ProductFix();
                fix.Merge(remediation.Url, remediation.Restart, remediation.SubType, remediation.FixedBuild, remediation.SupersededKbs);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public ImportedBulletin ToBulletin(string documentId, string documentTitle, DateTimeOffset? released, DateTimeOffset? revised, Dictionary<string, string> names)
        {
            // The highest severity any of its CVEs has for one of its products.
            var severity = Severity.None;
            foreach (var byProduct in _severities)
                foreach (var product in _products.Keys)
                    if (byProduct.TryGetValue(product, out var s) && s > severity) severity = s;
            var subTypes = _products.Values.Select(p => p.SubType).Where(s => !string.IsNullOrEmpty(s)).Distinct().ToList();
            var title = $"{(subTypes.Count > 0 ? string.Join(" / ", subTypes) : "Update")} {kb} ({documentTitle})";
            var description = $"{documentTitle} ({documentId}): fixes {_cves.Count} vulnerabilit{(_cves.Count == 1 ? "y" : "ies")}: {string.Join("; ", _cveTitles)}";
            var facts = new BulletinFacts(Vendor, kb, title, severity, released, revised, description,
                $"https://support.microsoft.com/help/{kb[2..]}", _cves.ToList(), _supersedes.Where(s => s != kb).ToList(), _supersedesText);
            var updates = _products.Select(p => new UpdateFacts(
                $"{kb}-{p.Key}", names.GetValueOrDefault(p.Key, $"Microsoft product {p.Key}"), p.Key, CoreSettings.Neutral,
                null, p.Value.Url, null, null, p.Value.Restart, null, p.Value.SubType, p.Value.FixedBuild, null, null,
                p.Value.Supersedes.Where(s => s != kb).ToList(), null)).ToList();
            return new ImportedBulletin(facts, updates);
        }
    }

    private sealed class ProductFix
    {
        public string? Url { get; private set; }
        public RestartBehavior Restart { get; private set; }
        public string? SubType { get; private set; }
        public string? FixedBuild { get; private set; }
        public SortedSet<string> Supersedes { get; } = new(StringComparer.Ordinal);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Merge(string? url, RestartBehavior restart, string? subType, string? fixedBuild, IEnumerable<string> supersedes)
        {
            if (string.IsNullOrEmpty(Url) && !string.IsNullOrEmpty(url)) Url = url;
            if (string.IsNullOrEmpty(SubType) && !string.IsNullOrEmpty(subType)) SubType = subType;
            // Remediations that disagree (one naming several releases, 2004/20H2/21H1, gives the first one's build): the
            // highest, so the update is never taken as reached by a computer on an earlier build (an installed KB still is).
            if (!string.IsNullOrEmpty(fixedBuild) && (string.IsNullOrEmpty(FixedBuild) || Higher(fixedBuild, FixedBuild))) FixedBuild = fixedBuild;
            if (Rank(restart) > Rank(Restart)) Restart = restart;
            foreach (var s in supersedes) Supersedes.Add(s);
        }

        /// <summary>Whether build <paramref name="a"/> is a later version than <paramref name="b"/> (texts that are no version compare as equal).</summary>
        private static bool Higher(string a, string b) =>
            Version.TryParse(Digits(a), out var x) && Version.TryParse(Digits(b), out var y) && x > y;

        private static string Digits(string text) => new(text.Where(c => char.IsAsciiDigit(c) || c == '.').ToArray());

        // Required beats Maybe beats NotRequired beats Unknown: the most cautious statement wins.
        private static int Rank(RestartBehavior r) => r switch
        {
            RestartBehavior.Required => 3, RestartBehavior.Maybe => 2, RestartBehavior.NotRequired => 1, _ => 0,
        };
    }
}
