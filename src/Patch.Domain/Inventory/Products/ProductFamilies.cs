namespace Patch.Domain.Inventory.Products;

/// <summary>One family of Microsoft products, as reports group and filter them.</summary>
/// <param name="Id">The short id used in the API (<c>family=sqlserver</c>).</param>
/// <param name="DisplayName">The family as reports show it.</param>
/// <param name="VersionIsPatchLevel">Whether the version an inventory reads moves with every update, so a catalog's fixed build can be compared with it.</param>
public sealed record ProductFamily(string Id, string DisplayName, bool VersionIsPatchLevel);

/// <summary>
/// The product families Patch knows, and which family a catalog product name belongs to. A name of no family
/// (Azure services, Linux packages, Mac and mobile apps) is "other": no Windows inventory produces it.
/// </summary>
public static class ProductFamilies
{
    public static readonly ProductFamily Windows = new("windows", "Windows", false);
    public static readonly ProductFamily NetFramework = new("netfx", ".NET Framework", false);
    public static readonly ProductFamily Office = new("office", "Office and Microsoft 365 Apps", false);
    public static readonly ProductFamily SqlServer = new("sqlserver", "SQL Server", true);
    public static readonly ProductFamily Exchange = new("exchange", "Exchange Server", false);
    public static readonly ProductFamily SharePoint = new("sharepoint", "SharePoint Server", false);
    public static readonly ProductFamily VisualStudio = new("visualstudio", "Visual Studio", true);
    public static readonly ProductFamily Edge = new("edge", "Microsoft Edge", true);
    public static readonly ProductFamily DotNet = new("dotnet", ".NET and ASP.NET Core", true);
    public static readonly ProductFamily PowerShell = new("powershell", "PowerShell 7", true);
    public static readonly ProductFamily Defender = new("defender", "Microsoft Defender", true);
    public static readonly ProductFamily Other = new("other", "Other", false);

    public static readonly IReadOnlyList<ProductFamily> All = [Windows, NetFramework, Office, SqlServer, Exchange, SharePoint, VisualStudio, Edge, DotNet, PowerShell, Defender, Other];

    /// <summary>The families whose every catalog name an inventory must be able to produce (the coverage target).</summary>
    public static readonly IReadOnlyList<ProductFamily> Covered = [Windows, NetFramework, Office, SqlServer, Exchange, SharePoint, VisualStudio];

    public static bool IsKnown(string? id) => All.Any(f => f.Id == id);

    public static ProductFamily Get(string id) => All.FirstOrDefault(f => f.Id == id) ?? Other;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, ProductFamily> Known = new(StringComparer.Ordinal);

    /// <summary>The family of a catalog product name ("Microsoft SQL Server 2022 for x64-based Systems (CU 15)" → SQL Server), classified once per name.</summary>
    public static ProductFamily Of(string catalogName) => Known.Count < 100_000 ? Known.GetOrAdd(catalogName, Classify) : Classify(catalogName);

    private static ProductFamily Classify(string catalogName)
    {
        var n = ProductKeys.Normalize(catalogName);
        if (System.Text.RegularExpressions.Regex.IsMatch(n, @"\b(for mac|mac os|macos|for android|for ios|for iphone|universal|mobile|sharepoint online|for linux|on linux|hlk|hololens)\b")) return Other;
        if (n.StartsWith("windows ", StringComparison.Ordinal) && WindowsRelease.IsMatch(n)) return Windows;
        if (n.StartsWith("microsoft .net framework ", StringComparison.Ordinal)) return NetFramework;
        if (n.StartsWith("microsoft sql server 20", StringComparison.Ordinal)) return SqlServer;
        if (n.StartsWith("microsoft exchange server 20", StringComparison.Ordinal) || n.StartsWith("microsoft exchange server subscription", StringComparison.Ordinal)) return Exchange;
        if (n.StartsWith("microsoft sharepoint ", StringComparison.Ordinal) && !n.Contains("online", StringComparison.Ordinal)
            || n.StartsWith("microsoft office online server", StringComparison.Ordinal) || n.StartsWith("microsoft office web apps server", StringComparison.Ordinal)
            || n.StartsWith("microsoft project server", StringComparison.Ordinal) || n.StartsWith("microsoft office web apps", StringComparison.Ordinal)
            || System.Text.RegularExpressions.Regex.IsMatch(n, @"^microsoft (excel|word|powerpoint|onenote) web app")) return SharePoint;
        if (System.Text.RegularExpressions.Regex.IsMatch(n, @"^microsoft visual studio 20\d\d( |$)")) return VisualStudio;
        if (OfficeName.IsMatch(n)) return Office;
        if (n.StartsWith("microsoft edge (", StringComparison.Ordinal) && !n.EndsWith("updater", StringComparison.Ordinal)) return Edge;
        if (System.Text.RegularExpressions.Regex.IsMatch(n, @"^(\.net( core)? \d+\.\d+|asp\.net core \d+\.\d+)( installed on windows)?$")) return DotNet;
        if (System.Text.RegularExpressions.Regex.IsMatch(n, @"^powershell 7\.\d+$")) return PowerShell;
        if (n.StartsWith("microsoft defender antimalware platform", StringComparison.Ordinal) || n.StartsWith("microsoft malware protection engine", StringComparison.Ordinal)) return Defender;
        return Other;
    }

    private static readonly System.Text.RegularExpressions.Regex WindowsRelease = new(
        @"^windows (xp|vista|7|8|8\.1|rt|10|11|server)\b", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static readonly System.Text.RegularExpressions.Regex OfficeName = new(
        @"^(microsoft (office|excel|word|powerpoint|outlook|access|publisher|project|visio|onenote|365 apps|office word viewer)\b|office 365 proplus|powerpoint viewer)",
        System.Text.RegularExpressions.RegexOptions.CultureInvariant);
}
