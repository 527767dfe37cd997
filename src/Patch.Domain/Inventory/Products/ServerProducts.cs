using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// Exchange Server, SharePoint Server and the Office servers, from their Uninstall entries' display names: the table
/// turns what Windows lists ("Microsoft Exchange Server 2019 Cumulative Update 14", "Microsoft SharePoint Server 2016")
/// into the names the catalogs patch ("Microsoft SharePoint Enterprise Server 2016" too).
/// </summary>
public static partial class ServerProducts
{
    /// <summary>Display name (normalized, exact or prefix) → catalog names, for SharePoint and the Office servers.</summary>
    private static readonly (string DisplayName, string[] Names)[] SharePoint =
    [
        ("microsoft sharepoint server subscription edition", ["Microsoft SharePoint Server Subscription Edition"]),
        ("microsoft sharepoint server 2019", ["Microsoft SharePoint Server 2019"]),
        ("microsoft sharepoint server 2016", ["Microsoft SharePoint Server 2016", "Microsoft SharePoint Enterprise Server 2016"]),
        ("microsoft sharepoint server 2013", ["Microsoft SharePoint Server 2013 Service Pack 1", "Microsoft SharePoint Enterprise Server 2013 Service Pack 1",
            "Microsoft SharePoint Enterprise Server 2013", "Microsoft SharePoint Server 2013 Service Pack 1 on Word Automation Services"]),
        ("microsoft sharepoint foundation 2013", ["Microsoft SharePoint Foundation 2013 Service Pack 1"]),
        ("microsoft sharepoint server 2010", ["Microsoft SharePoint Server 2010 Service Pack 2", "Microsoft SharePoint Server 2010 Service Pack 2 on Word Automation Services"]),
        ("microsoft sharepoint foundation 2010", ["Microsoft SharePoint Foundation 2010 Service Pack 2"]),
        ("microsoft office sharepoint server 2007", ["Microsoft SharePoint Server 2007 Service Pack 3 (32-bit editions)"]),
        ("microsoft office online server", ["Microsoft Office Online Server", "Microsoft Office Online Server 2016"]),
        ("microsoft office web apps server 2013", ["Microsoft Office Web Apps Server 2013 Service Pack 1", "Microsoft Office Web Apps 2013 Service Pack 1",
            "Microsoft Excel Web App 2013 Service Pack 1"]),
        ("microsoft office web apps 2010", ["Microsoft Office Web Apps 2010 Service Pack 2", "Microsoft Office Web Apps 2010", "Microsoft Office Web Apps Server 2010 Service Pack 2",
            "Microsoft Excel Web App 2010 Service Pack 2"]),
        ("microsoft project server 2013", ["Microsoft Project Server 2013 Service Pack 1 (64-bit edition)"]),
        ("microsoft project server 2010", ["Microsoft Project Server 2010 Service Pack 2"]),
    ];

    /// <summary>The SharePoint-family catalog names of an Uninstall display name, or null.</summary>
    public static IReadOnlyList<string>? SharePointNames(string displayName)
    {
        var n = ProductKeys.Normalize(displayName);
        return SharePoint.FirstOrDefault(s => n == s.DisplayName || n.StartsWith(s.DisplayName + " ", StringComparison.Ordinal)).Names;
    }

    /// <summary>Every SharePoint-family name the table can produce (for the coverage report).</summary>
    public static IEnumerable<string> AllSharePointNames => SharePoint.SelectMany(s => s.Names);

    /// <summary>
    /// The Exchange catalog name of an Uninstall display name ("Microsoft Exchange Server 2019 Cumulative Update 14",
    /// "Microsoft Exchange Server Subscription Edition RTM"); Exchange 2010 and 2007 are named by service pack from their
    /// version, with the highest update rollup found among the Uninstall entries.
    /// </summary>
    public static string? ExchangeName(string displayName, string? version, int? updateRollup)
    {
        var n = ProductKeys.Normalize(displayName);
        var cu = Exchange().Match(n);
        if (cu.Success) return $"Microsoft Exchange Server {cu.Groups["year"].Value} Cumulative Update {cu.Groups["cu"].Value}";
        if (n.StartsWith("microsoft exchange server subscription edition", StringComparison.Ordinal)) return "Microsoft Exchange Server Subscription Edition RTM";
        if (n.StartsWith("microsoft exchange server 2013 service pack 1", StringComparison.Ordinal)) return "Microsoft Exchange Server 2013 Service Pack 1";
        var v = InstalledProduct.ParseVersion(version);
        if (n == "microsoft exchange server 2010" && v is { Major: 14 })
            return v.Minor == 3 ? "Microsoft Exchange Server 2010 Service Pack 3" + (updateRollup is { } ur ? $" Update Rollup {ur}" : "") : "Microsoft Exchange Server 2010";
        if (n == "microsoft exchange server 2007" && v is { Major: 8, Minor: 3 }) return "Microsoft Exchange Server 2007 Service Pack 3";
        return n is "microsoft exchange server 2013" or "microsoft exchange server 2016" or "microsoft exchange server 2019" ? displayName.Trim() : null;
    }

    /// <summary>The update rollup number of an Exchange 2010 SP3 rollup's Uninstall entry, or null.</summary>
    public static int? Exchange2010Rollup(string displayName) =>
        Rollup().Match(ProductKeys.Normalize(displayName)) is { Success: true } m && int.TryParse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out var rollup) ? rollup : null;

    [GeneratedRegex(@"^microsoft exchange server (?<year>2013|2016|2019) cumulative update (?<cu>\d+)")]
    private static partial Regex Exchange();

    [GeneratedRegex(@"^update rollup (\d+) for exchange server 2010 service pack 3")]
    private static partial Regex Rollup();
}
