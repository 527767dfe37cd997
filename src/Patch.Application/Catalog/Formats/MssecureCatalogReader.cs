using System.Globalization;
using System.Xml.Linq;
using Patch.Domain.Catalog;
using Patch.Domain.Settings;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// Reads the legacy MBSA/HFNetChk "mssecure.xml" bulletin datastore: one bulletin per Bulletin element, one
/// software update per (patch, affected product), NoReboot honoured, supersedence from SupercededBys; from the files of
/// 2003 on, Microsoft's rating (a patch's MSSeverityID in MSSeverities) and the CVEs a patch fixes (CVEID).
/// </summary>
public static partial class MssecureCatalogReader
{
    public const string Vendor = "Microsoft";

    public static CatalogDocument Read(Stream stream) => SafeXml.WithPlaces(stream, Read);

    private static CatalogDocument Read(XDocument doc)
    {
        SafeXml.ExpectRoot(doc, "BulletinDatastore", "mssecure.xml");
        var root = doc.Root!;
        var products = Lookup(root, "Products", "Product", "ProductID", "Name");
        var locations = Lookup(root, "Locations", "Location", "LocationID", "Path");
        var servicePacks = Lookup(root, "ServicePacks", "ServicePack", "ServicePackID", "Name");
        var ratings = Ratings(root);

        // SBID → the bulletins (and their patches) that supersede a patch naming that SBID.
        var supersededBy = new Dictionary<string, List<(string Bulletin, HashSet<string> Patches)>>(StringComparer.Ordinal);
        foreach (var sb in root.Element("SupercededBys")?.Elements("SupercededBy") ?? [])
        {
            var sbid = Attr(sb, "SBID");
            if (sbid is null) continue;
            supersededBy[sbid] = sb.Element("SupercededBulletins")?.Elements("SupercededBulletin")
                .Select(b => (Attr(b, "BulletinID") ?? "", b.Descendants("SupercededPatch").Select(p => Attr(p, "PatchName") ?? "").ToHashSet(StringComparer.OrdinalIgnoreCase)))
                .Where(b => b.Item1.Length > 0).ToList() ?? [];
        }

        var bulletinElements = root.Element("Bulletins")?.Elements("Bulletin").ToList()
            ?? throw new CatalogFormatException("Missing field", "BulletinDatastore/Bulletins is required.", SafeXml.Place(root));
        if (bulletinElements.Count == 0)
            throw new CatalogFormatException("No bulletins", "BulletinDatastore/Bulletins holds no bulletin: a cut or empty download, not Microsoft's datastore.", SafeXml.Place(root));
        var ids = new Dictionary<string, XElement>(StringComparer.OrdinalIgnoreCase);
        foreach (var b in bulletinElements)
        {
            var id = Attr(b, "BulletinID") ?? throw new CatalogFormatException("Missing field", "Bulletin has no BulletinID.", SafeXml.Place(b));
            if (CatalogNames.IdProblem(id) is { } badId) throw new CatalogFormatException("Invalid value", $"BulletinID: {badId}.", SafeXml.Place(b));
            if (!ids.TryAdd(id, b))
                throw new CatalogFormatException("Duplicate id", $"Bulletin '{id}' appears twice (first at {SafeXml.Place(ids[id])}).", SafeXml.Place(b));
        }

        // Who supersedes whom: bulletin B supersedes bulletin A when one of A's patches names an SBID that lists B.
        var supersedes = new Dictionary<string, SortedSet<string>>(StringComparer.OrdinalIgnoreCase);
        var updateSupersedes = new Dictionary<(string Bulletin, string Patch), SortedSet<string>>();
        var skipped = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (aId, a) in ids)
        {
            foreach (var patch in a.Element("Patches")?.Elements("Patch") ?? [])
            {
                var sbid = Attr(patch, "SBID");
                if (sbid is null or "0" || !supersededBy.TryGetValue(sbid, out var superseding)) continue;
                foreach (var (bId, patches) in superseding)
                {
                    if (string.Equals(bId, aId, StringComparison.OrdinalIgnoreCase)) continue;
                    if (!ids.ContainsKey(bId))
                    {
                        var key = $"superseding bulletin {bId} is not in the file";
                        skipped[key] = skipped.GetValueOrDefault(key) + 1;
                        continue;
                    }
                    Add(supersedes, bId, aId);
                    foreach (var p in patches) Add(updateSupersedes, (bId.ToUpperInvariant(), p.ToUpperInvariant()), aId);
                }
            }
        }

        var bulletins = ids.Values.Select(b => ToBulletin(b, products, locations, servicePacks, ratings, supersedes, updateSupersedes, skipped)).ToList();
        var skippedEntries = skipped.Select(s => new SkippedEntry("not imported", s.Key, s.Value)).ToList();
        var version = Attr(root, "DataVersion");
        return new CatalogDocument("mssecure", version is null ? null : $"mssecure-{version}", bulletins, skippedEntries);
    }

    private static ImportedBulletin ToBulletin(XElement b, Dictionary<string, string> products, Dictionary<string, string> locations, Dictionary<string, string> servicePacks,
        Dictionary<string, Severity> ratings, Dictionary<string, SortedSet<string>> supersedes, Dictionary<(string, string), SortedSet<string>> updateSupersedes,
        Dictionary<string, int> skipped)
    {
        var id = Attr(b, "BulletinID")!.ToUpperInvariant();
        var summary = Attr(b, "Summary");
        var issue = Attr(b, "Issue");
        // The bulletin's rating is the highest of its patches' (and its own, where a file gives one); its CVEs, theirs.
        var patches = b.Element("Patches")?.Elements("Patch").ToList() ?? [];
        var rated = patches.Prepend(b).Select(e => Attr(e, "MSSeverityID") is { } r ? ratings.GetValueOrDefault(r) : Severity.None);
        var cves = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var e in patches.Prepend(b))
            if (Attr(e, "CVEID") is { } text) Cves(text, id, cves, skipped);
        var facts = new BulletinFacts(Vendor, id, Attr(b, "Title") ?? id, rated.Max(), Date(b, "DatePosted"), Date(b, "DateRevised"),
            string.IsNullOrEmpty(summary) ? issue : summary, BulletinUrl(id),
            [.. cves], supersedes.TryGetValue(id, out var s) ? s.ToList() : [], []);

        var updates = new List<UpdateFacts>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var patch in patches)
        {
            var name = Attr(patch, "PatchName") ?? throw new CatalogFormatException("Missing field", "Patch has no PatchName.", SafeXml.Place(patch));
            if (CatalogNames.FileNameProblem(name) is { } badName) throw new CatalogFormatException("Invalid value", $"PatchName: {badName}.", SafeXml.Place(patch));
            if (Attr(patch, "SBID") is { } sbid && !sbid.All(char.IsAsciiDigit))
                throw new CatalogFormatException("Invalid value", $"SBID='{Domain.Users.UserDecisions.Printable(sbid)}' is not a number (the id of a SupercededBy).", SafeXml.Place(patch));
            var location = Attr(patch, "PatchLocationID") is { } loc ? locations.GetValueOrDefault(loc) : null;
            var url = FileUrl(location, name);
            var restart = Attr(patch, "NoReboot") switch
            {
                "1" => RestartBehavior.NotRequired,
                "0" or null => RestartBehavior.Required,
                var other => throw new CatalogFormatException("Invalid value", $"NoReboot='{Domain.Users.UserDecisions.Printable(other)}' is not 0 or 1.", SafeXml.Place(patch)),
            };
            var patchSupersedes = updateSupersedes.TryGetValue((id, name.ToUpperInvariant()), out var ps) ? ps.ToList() : [];
            foreach (var affected in patch.Elements("AffectedProduct"))
            {
                var productId = Attr(affected, "ProductID") ?? throw new CatalogFormatException("Missing field", "AffectedProduct has no ProductID.", SafeXml.Place(affected));
                if (!products.ContainsKey(productId))
                    throw new CatalogFormatException("Invalid value", $"ProductID='{Domain.Users.UserDecisions.Printable(productId)}' is not in the datastore's Products.", SafeXml.Place(affected));
                if (Attr(affected, "FixedInSP") is { } sp && sp != "0" && !servicePacks.ContainsKey(sp))
                    throw new CatalogFormatException("Invalid value", $"FixedInSP='{Domain.Users.UserDecisions.Printable(sp)}' is not in the datastore's ServicePacks (0: no service pack).", SafeXml.Place(affected));
                // A bulletin may list one file for one product twice, for different service packs: those are two updates.
                var updateId = $"{id}-{name}-{productId}";
                if (seen.Contains(updateId)) updateId += "-sp" + string.Join('.', affected.Elements("AffectedServicePack").Select(sp => Attr(sp, "ServicePackID")));
                if (!seen.Add(updateId))
                {
                    var key = $"patch {name} listed twice for product {productId} in {id}";
                    skipped[key] = skipped.GetValueOrDefault(key) + 1;
                    continue;
                }
                // The patch's Q number is what an installed copy shows (hotfix lists of that era); a service pack that
                // contains the fix is named in the sub type, never as a build.
                var fixedInSp = Attr(affected, "FixedInSP");
                var qNumber = Attr(patch, "SQNumber")?.ToUpperInvariant();
                updates.Add(new UpdateFacts(updateId, products.GetValueOrDefault(productId, $"Microsoft product {productId}"), productId,
                    CoreSettings.Neutral, name, url, null, null, restart, null,
                    fixedInSp is null or "0" ? "Security Update" : $"Security Update (fixed in {servicePacks.GetValueOrDefault(fixedInSp, $"service pack {fixedInSp}")})",
                    null, null, null, patchSupersedes, null, qNumber));
            }
        }
        return new ImportedBulletin(facts, updates);
    }

    /// <summary>Microsoft's page for an MSyy-nnn bulletin; other ids have none.</summary>
    private static string? BulletinUrl(string id) =>
        System.Text.RegularExpressions.Regex.IsMatch(id, @"^MS\d{2}-\d{3}$") ? $"https://learn.microsoft.com/security-updates/securitybulletins/{(int.Parse(id[2..4]) >= 90 ? "19" : "20")}{id[2..4]}/{id.ToLowerInvariant()}" : null;

    /// <summary>
    /// Microsoft's ratings by MSSeverityID: each row of MSSeverities whatever its element's name, its rating the attribute
    /// that holds a rating word (Critical, Important, Moderate, Low). A row without one rates nothing.
    /// </summary>
    private static Dictionary<string, Severity> Ratings(XElement root)
    {
        var map = new Dictionary<string, Severity>(StringComparer.Ordinal);
        foreach (var row in root.Element("MSSeverities")?.Elements() ?? [])
            if (Attr(row, "MSSeverityID") is { } key)
                map.TryAdd(key, row.Attributes().Where(a => a.Name.LocalName != "MSSeverityID").Select(a => SeverityNames.Parse(a.Value)).DefaultIfEmpty().Max());
        return map;
    }

    /// <summary>
    /// The CVE ids in a CVEID attribute (one or several, separated by commas, semicolons or spaces). A candidate id
    /// (CAN-2003-0352) is the CVE of the same number since 2005; anything else is counted as skipped, by bulletin.
    /// </summary>
    private static void Cves(string text, string bulletin, SortedSet<string> cves, Dictionary<string, int> skipped)
    {
        foreach (var token in text.Split([',', ';', ' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (CveOrCandidate().Match(token) is { Success: true } m) cves.Add($"CVE-{m.Groups[1].Value}-{m.Groups[2].Value}");
            else if (!token.Equals("NA", StringComparison.OrdinalIgnoreCase) && !token.Equals("N/A", StringComparison.OrdinalIgnoreCase))
            {
                var key = $"CVEID '{(token.Length > 40 ? token[..40] + "…" : token)}' of {bulletin} is not a CVE id";
                skipped[key] = skipped.GetValueOrDefault(key) + 1;
            }
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^(?:CVE|CAN)-([0-9]{4})-([0-9]{4,})$", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex CveOrCandidate();

    private static Dictionary<string, string> Lookup(XElement root, string table, string row, string key, string value)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in root.Element(table)?.Elements(row) ?? [])
            if (Attr(e, key) is { } k && Attr(e, value) is { } v) map.TryAdd(k, v);
        return map;
    }

    private static void Add<TKey>(Dictionary<TKey, SortedSet<string>> map, TKey key, string value) where TKey : notnull
    {
        if (!map.TryGetValue(key, out var set)) map[key] = set = new SortedSet<string>(StringComparer.Ordinal);
        set.Add(value.ToUpperInvariant());
    }

    private static string? Attr(XElement e, string name)
    {
        var value = ((string?)e.Attribute(name))?.Trim();
        return string.IsNullOrEmpty(value) ? null : value;
    }

    private static DateTimeOffset? Date(XElement e, string name)
    {
        if (e.Attribute(name) is { } given && string.IsNullOrWhiteSpace(given.Value))
            throw new CatalogFormatException("Invalid date", $"{name} is empty: leave the attribute out, or give a date (yyyy/MM/dd).", SafeXml.Place(e));
        var text = Attr(e, name);
        if (text is null) return null;
        if (DateTime.TryParseExact(text, ["yyyy/MM/dd", "yyyy/M/d", "M/d/yyyy"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d))
            return new DateTimeOffset(d, TimeSpan.Zero);
        throw new CatalogFormatException("Invalid date", $"{name}='{text}' is not a date (yyyy/MM/dd).", SafeXml.Place(e));
    }

    /// <summary>
    /// The patch file's URL: the location when it names the file itself, the location plus the file's name when it is a
    /// folder ("…/ssl-fix/"); else none — most locations are a bulletin's page, a download page ("Release.asp?ReleaseID=…")
    /// or a placeholder ("http://urlplaceholder"), which staging would store as the package.
    /// </summary>
    internal static string? FileUrl(string? location, string patchName)
    {
        if (location is null || !Uri.TryCreate(location, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "ftp") || !string.IsNullOrEmpty(uri.Query))
            return null;
        var last = Uri.UnescapeDataString(uri.AbsolutePath.Split('/')[^1]);
        if (last.Length == 0) return uri.AbsolutePath.Length > 1 ? new Uri(uri, Uri.EscapeDataString(patchName)).AbsoluteUri : null;
        return string.Equals(last, patchName, StringComparison.OrdinalIgnoreCase) ? location : null;
    }
}
