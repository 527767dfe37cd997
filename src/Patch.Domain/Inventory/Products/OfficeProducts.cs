using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// Office and Microsoft 365 Apps: the catalog names an install answers to. Click-to-Run installs are read from the
/// product release ids of <c>HKLM\SOFTWARE\Microsoft\Office\ClickToRun\Configuration</c>; MSI installs from their
/// Uninstall entry's display name (a suite answers for itself and each application it contains). The names follow
/// the catalogs: "Microsoft Excel 2016 (64-bit edition)", "Microsoft Word 2013 Service Pack 1 (32-bit editions)",
/// "Microsoft Office LTSC 2021 for 64-bit editions", "Microsoft 365 Apps for Enterprise for 64-bit Systems".
/// </summary>
public static partial class OfficeProducts
{
    /// <summary>The applications of each MSI suite edition (the edition comparison pages of each Office release).</summary>
    private static readonly Dictionary<string, string[]> Suites = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Professional Plus"] = ["Word", "Excel", "PowerPoint", "Outlook", "OneNote", "Access", "Publisher"],
        ["Professional"] = ["Word", "Excel", "PowerPoint", "Outlook", "OneNote", "Access", "Publisher"],
        ["Enterprise"] = ["Word", "Excel", "PowerPoint", "Outlook", "OneNote", "Access", "Publisher"],
        ["Ultimate"] = ["Word", "Excel", "PowerPoint", "Outlook", "OneNote", "Access", "Publisher"],
        ["Standard"] = ["Word", "Excel", "PowerPoint", "Outlook", "OneNote", "Publisher"],
        ["Small Business"] = ["Word", "Excel", "PowerPoint", "Outlook", "Publisher"],
        ["Home and Business"] = ["Word", "Excel", "PowerPoint", "Outlook", "OneNote"],
        ["Home and Student"] = ["Word", "Excel", "PowerPoint", "OneNote"],
    };

    public static readonly IReadOnlyList<string> Applications = ["Word", "Excel", "PowerPoint", "Outlook", "OneNote", "Access", "Publisher", "Project", "Visio"];

    private static readonly Dictionary<string, string> MsiYears = new() { ["2016"] = "", ["2013"] = " Service Pack 1", ["2010"] = " Service Pack 2", ["2007"] = " Service Pack 3" };

    /// <summary>The catalog name of one MSI application ("Office" for the suite) of a release and architecture.</summary>
    public static IReadOnlyList<string> MsiNames(string app, string year, string arch)
    {
        var bits = arch == "x64" ? "64" : "32";
        return year switch
        {
            "2016" => [$"Microsoft {app} 2016 ({bits}-bit edition)"],
            // The 2013 catalogs name Word and Outlook both with and without the service pack.
            "2013" => [$"Microsoft {app} 2013 Service Pack 1 ({bits}-bit editions)", $"Microsoft {app} 2013 ({bits}-bit editions)"],
            "2010" => [$"Microsoft {app} 2010 Service Pack 2 ({bits}-bit editions)"],
            "2007" => [$"Microsoft {app} 2007 Service Pack 3"],
            _ => [],
        };
    }

    /// <summary>
    /// The products of an MSI Uninstall entry: "Microsoft Office Professional Plus 2016" (a suite: the suite and its
    /// applications), "Microsoft Visio Professional 2016", "Microsoft Project Standard 2013" (one application), the viewers
    /// and the Compatibility Pack. Null when the display name is not an Office product.
    /// </summary>
    public static IReadOnlyList<string>? FromUninstallName(string displayName, string arch)
    {
        var n = ProductKeys.Normalize(displayName);
        var suite = Suite().Match(n);
        if (suite.Success && MsiYears.ContainsKey(suite.Groups["year"].Value))
        {
            var edition = Suites.Keys.FirstOrDefault(k => ProductKeys.Normalize(k) == suite.Groups["edition"].Value);
            if (edition is not null) return new[] { "Office" }.Concat(Suites[edition]).SelectMany(app => MsiNames(app, suite.Groups["year"].Value, arch)).ToList();
        }
        var single = SingleApp().Match(n);
        if (single.Success && MsiYears.ContainsKey(single.Groups["year"].Value))
        {
            var app = Applications.First(a => a.Equals(single.Groups["app"].Value, StringComparison.OrdinalIgnoreCase));
            return MsiNames(app, single.Groups["year"].Value, arch);
        }
        return Viewer(n, arch);
    }

    private static IReadOnlyList<string>? Viewer(string n, string arch) => n switch
    {
        _ when n.StartsWith("microsoft office excel viewer", StringComparison.Ordinal) || n == "microsoft excel viewer" => ["Microsoft Excel Viewer", "Microsoft Excel Viewer 2007 Service Pack 3"],
        _ when n.StartsWith("microsoft office powerpoint viewer 2007", StringComparison.Ordinal) => ["Microsoft PowerPoint Viewer 2007"],
        _ when n.StartsWith("microsoft powerpoint viewer", StringComparison.Ordinal) => ["Microsoft PowerPoint Viewer", "PowerPoint Viewer 2010 32-bit edition"],
        _ when n.StartsWith("microsoft office word viewer", StringComparison.Ordinal) => ["Microsoft Office Word Viewer"],
        _ when n.StartsWith("microsoft visio viewer 2010", StringComparison.Ordinal) || n.StartsWith("microsoft visio 2010 viewer", StringComparison.Ordinal) =>
            [$"Microsoft Visio Viewer 2010 ({(arch == "x64" ? "64" : "32")}-bit Edition)"],
        _ when n.StartsWith("microsoft visio viewer", StringComparison.Ordinal) || n.StartsWith("microsoft office visio viewer", StringComparison.Ordinal) =>
            ["Microsoft Visio Viewer 2007 Service Pack 3"],
        _ when n.StartsWith("compatibility pack for the 2007 office system", StringComparison.Ordinal) || n.StartsWith("microsoft office compatibility pack", StringComparison.Ordinal) =>
            ["Microsoft Office Compatibility Pack Service Pack 3", "Microsoft Office Compatibility Pack Service Pack 2"],
        _ => null,
    };

    /// <summary>
    /// The products of a Click-to-Run product release id (Microsoft Learn, "Product IDs that are supported by the Office
    /// Deployment Tool for Click-to-Run"): O365ProPlusRetail is Microsoft 365 Apps, ProPlus2021Volume Office LTSC 2021,
    /// ProPlus2019Retail Office 2019, ProPlusRetail Office 2016 Click-to-Run. <paramref name="officeMajor"/> is 15 or 14
    /// for the older Click-to-Run of Office 2013 and 2010 (their own registry keys).
    /// </summary>
    public static IReadOnlyList<string> FromClickToRun(string productReleaseId, string arch, int officeMajor = 16)
    {
        var bits = arch == "x64" ? "64" : "32";
        var id = productReleaseId.Trim();
        if (officeMajor is 15 or 14) return [$"Microsoft Office {(officeMajor == 15 ? "2013" : "2010")} Click-to-Run (C2R) for {bits}-bit editions"];
        if (id.StartsWith("O365", StringComparison.OrdinalIgnoreCase) || id.StartsWith("Microsoft365", StringComparison.OrdinalIgnoreCase))
            return [$"Microsoft 365 Apps for Enterprise for {bits}-bit Systems", $"Office 365 ProPlus for {bits}-bit Systems", "Microsoft Office 365"];
        var year = Year().Match(id);
        if (year.Success)
            return year.Value switch
            {
                "2019" => [$"Microsoft Office 2019 for {bits}-bit editions"],
                "2021" or "2024" => [$"Microsoft Office LTSC {year.Value} for {bits}-bit editions"],
                _ => [],
            };
        // Office 2016 Click-to-Run: the suite, and the applications the catalogs name for it.
        if (Suites.TryGetValue(SpacedEdition(id), out var apps))
            return new[] { "Office" }.Concat(apps.Where(a => a is "Excel" or "Outlook")).Select(app => $"Microsoft {app} 2016 Click-to-Run (C2R) for {bits}-bit editions").ToList();
        return Applications.FirstOrDefault(a => id.StartsWith(a, StringComparison.OrdinalIgnoreCase)) is { } single
            ? [$"Microsoft {single} 2016 Click-to-Run (C2R) for {bits}-bit editions"]
            : [];
    }

    /// <summary>
    /// The update channel a Click-to-Run install follows, from the GUID at the end of its UpdateChannel / CDNBaseUrl
    /// (Microsoft Learn, "Change the Microsoft 365 Apps update channel"); an unknown GUID is shown as the URL.
    /// </summary>
    public static string? Channel(string? url)
    {
        if (string.IsNullOrWhiteSpace(url)) return null;
        var guid = url.TrimEnd('/').Split('/').Last().ToLowerInvariant();
        return guid switch
        {
            "492350f6-3a01-4f97-b9c0-c7c6ddf67d60" => "Current Channel",
            "64256afe-f5d9-4f86-8936-8840a6a4f5be" => "Current Channel (Preview)",
            "55336b82-a18d-4dd6-b5f6-9e5095c314a6" => "Monthly Enterprise Channel",
            "7ffbc6bf-bc32-4f92-8982-f9dd17fd3114" => "Semi-Annual Enterprise Channel",
            "b8f9b850-328d-4355-9145-c59439a0c4cf" => "Semi-Annual Enterprise Channel (Preview)",
            "5440fd1f-7ecb-4221-8110-145efaa6372f" => "Beta Channel",
            _ => url.Trim(),
        };
    }

    private static string SpacedEdition(string id)
    {
        var edition = Regex.Replace(id, "(Retail|Volume)$", "");
        return edition switch { "ProPlus" => "Professional Plus", "HomeBusiness" => "Home and Business", "HomeStudent" => "Home and Student", _ => edition };
    }

    [GeneratedRegex(@"^microsoft office (?<edition>[a-z ]+?) (?<year>20\d\d)\b")]
    private static partial Regex Suite();

    [GeneratedRegex(@"^microsoft (office )?(?<app>word|excel|powerpoint|outlook|onenote|access|publisher|project|visio)( (standard|professional|premium|pro))? (?<year>20\d\d)\b")]
    private static partial Regex SingleApp();

    [GeneratedRegex(@"20(19|21|24)")]
    private static partial Regex Year();
}
