using System.Text.RegularExpressions;
using Patch.Domain.Catalog;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// What a CVRF document's values may be, checked against what Microsoft's documents hold from 1999 to 2025 (the
/// archive in ../shared/data, every month): a CVE or advisory id, a severity Microsoft names, a restart answer, a KB
/// number that is one, an address a browser or a download may follow, a product the document's tree defines, dates in
/// order. A value outside them is refused with the vulnerability it is in, never stored (a CVE, an update or a fact once
/// stored is never taken away by a later import).
/// </summary>
public static partial class CvrfCatalogReader
{
    /// <summary>The longest fixed build a document may give: Microsoft's longest is 50 characters ("Application Build 14.27.47563, Platform Build 14.0").</summary>
    public const int MaxFixedBuild = 256;

    /// <summary>The longest document id: Microsoft's are a month ("2024-Jan") or a few more characters.</summary>
    public const int MaxDocumentId = 64;

    /// <summary>
    /// A CVE id, or a security advisory's ("ADV240001"), at the start of the text: Microsoft's documents also write
    /// "CVE-2023-1234-M" and "CVE-2022-1234 mariner - do not use this one", kept as written.
    /// </summary>
    [GeneratedRegex("^(?:CVE-[0-9]{4}-[0-9]{4,}|ADV[0-9]{6})(?![0-9A-Z])")]
    private static partial Regex CveId();

    /// <summary>The severity a Severity threat names: Critical, Important, Moderate, Low or None (empty is None); anything else is recorded as the problem.</summary>
    private static Severity SeverityOfThreat(string? text, ref string? problem)
    {
        if (string.IsNullOrWhiteSpace(text)) return Severity.None;
        if (SeverityNames.TryParseStrict(text, out var severity)) return severity;
        problem ??= $"the severity '{Shown(text)}' is none of Critical, Important, Moderate, Low, None";
        return Severity.None;
    }

    /// <summary>What is wrong with a vendor fix's values, null when nothing.</summary>
    private static string? FixProblem(string description, string? kb, string? url, string? restart, string? fixedBuild)
    {
        // "KB5034763" and "5034763" are KB numbers, "KB Article" and "kernel" are not; "KB50X5123" or "５０３４７６３" are typing errors.
        if (kb is null && (description is [var first, ..] && char.IsDigit(first)
                           || description.Length > 2 && description.StartsWith("KB", StringComparison.OrdinalIgnoreCase) && char.IsDigit(description[2])))
            return $"the description '{Shown(description)}' begins as a KB number but is none (KB and 6 to 8 digits 0–9)";
        if (url?.Trim() is { Length: > 0 } address && !IsFixAddress(address))
            return $"the URL '{Shown(address)}' is no http, https, file or ms-windows-store address";
        if (restart?.Trim() is { Length: > 0 } answer && Restart(answer) == RestartBehavior.Unknown)
            return $"RestartRequired '{Shown(answer)}' is none of Yes, No, Maybe";
        if (fixedBuild is { Length: > MaxFixedBuild })
            return $"the FixedBuild holds {fixedBuild.Length} characters; a build is at most {MaxFixedBuild}";
        return null;
    }

    /// <summary>The schemes Microsoft's vendor fixes use: a download or a page (https, http), a share (file), the Store (ms-windows-store).</summary>
    private static bool IsFixAddress(string url)
    {
        var colon = url.IndexOf(':');
        if (colon <= 0) return false;
        var scheme = url.AsSpan(0, colon);
        return scheme.Equals("https", StringComparison.OrdinalIgnoreCase) || scheme.Equals("http", StringComparison.OrdinalIgnoreCase)
            || scheme.Equals("file", StringComparison.OrdinalIgnoreCase) || scheme.Equals("ms-windows-store", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Refuses a wrong value of the document's tracking.</summary>
    private static void CheckTracking(Tracking tracking, string documentId, DateTimeOffset? released, DateTimeOffset? revised)
    {
        if (documentId.Length > MaxDocumentId)
            throw new CatalogFormatException("Invalid document id", $"the document id holds {documentId.Length} characters; Microsoft's are a month (2024-Jan), at most {MaxDocumentId}.", tracking.Place);
        foreach (var date in new[] { tracking.Released, tracking.Revised })
            if (date is not null && string.IsNullOrWhiteSpace(date.Text))
                throw new CatalogFormatException("Invalid date", "the date is empty: a release date is required where the element is given.", date.Place);
        if (released is { } from && revised is { } to && to < from)
            throw new CatalogFormatException("Invalid date", $"the document was revised ({to:yyyy-MM-dd HH:mm}) before it was released ({from:yyyy-MM-dd HH:mm}).", tracking.Revised!.Place);
    }

    /// <summary>Refuses a vulnerability's first wrong value: its CVE id, a severity, then each vendor fix's values and products.</summary>
    private static void CheckVulnerability(Vulnerability v, string cve, Dictionary<string, string> products)
    {
        string? problem = CveId().IsMatch(cve) ? null : $"'{Shown(v.Cve!.Trim())}' is no CVE id (CVE-2024-21412) or advisory id (ADV240001)";
        problem ??= v.SeverityProblem is { } severity ? $"{cve}: {severity}" : null;
        foreach (var fix in v.VendorFixes)
        {
            if (problem is not null) break;
            problem = fix.Problem is { } p ? $"{cve}, vendor fix '{Shown(fix.Description)}': {p}"
                : fix.ProductIds.FirstOrDefault(id => !products.ContainsKey(id)) is { } unknown
                    ? $"{cve}, vendor fix '{Shown(fix.Description)}': ProductID '{Shown(unknown)}' is not in the document's product tree"
                    : null;
        }
        if (problem is not null) throw new CatalogFormatException("Invalid vulnerability", problem + ".", v.Place);
    }

    /// <summary>A value as a message shows it: as every refusal prints what it was given (at most 80 characters, control characters escaped).</summary>
    private static string Shown(string text) => Domain.Users.UserDecisions.Printable(text);
}
