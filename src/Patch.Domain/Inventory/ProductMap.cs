namespace Patch.Domain.Inventory;

/// <summary>
/// Maps an operating system inventory (version, build, service pack, architecture, server or not) to the software
/// release names Microsoft's catalogs use, e.g. 10.0.19045 x64 → "Windows 10 Version 22H2 for x64-based Systems",
/// 10.0.17763 server → "Windows Server 2019". The table is maintained here; an unknown build maps to nothing.
/// </summary>
public static class ProductMap
{
    private static readonly Dictionary<int, string> Windows10 = new()
    {
        [10240] = "", [10586] = "1511", [14393] = "1607", [15063] = "1703", [16299] = "1709", [17134] = "1803", [17763] = "1809",
        [18362] = "1903", [18363] = "1909", [19041] = "2004", [19042] = "20H2", [19043] = "21H1", [19044] = "21H2", [19045] = "22H2",
    };

    private static readonly Dictionary<int, string> Windows11 = new() { [22000] = "21H2", [22621] = "22H2", [22631] = "23H2", [26100] = "24H2", [26200] = "25H2", [28000] = "26H1" };

    private static readonly Dictionary<int, string> Servers10 = new()
    {
        [14393] = "Windows Server 2016", [17763] = "Windows Server 2019", [20348] = "Windows Server 2022",
        // 23H2 exists only as Server Core.
        [25398] = "Windows Server 2022, 23H2 Edition (Server Core installation)", [26100] = "Windows Server 2025",
    };

    /// <summary>
    /// Semi-Annual Channel server releases: Server Core only, named by version. Build 17763 is Windows Server 2019 (the
    /// catalogs never name a "version 1809" server).
    /// </summary>
    private static readonly Dictionary<int, string> SemiAnnualServers = new()
    {
        [16299] = "1709", [17134] = "1803", [18362] = "1903", [18363] = "1909", [19041] = "2004", [19042] = "20H2",
    };

    /// <summary>Every Windows 10/11/Server build the table names (for the coverage report).</summary>
    public static IEnumerable<int> KnownBuilds => Windows10.Keys.Concat(Windows11.Keys).Concat(Servers10.Keys).Concat(SemiAnnualServers.Keys).Distinct().Order();

    public static IReadOnlyList<string> SoftwareReleases(OsInventory os)
    {
        var arch = os.Architecture switch { "x64" => "x64-based Systems", "x86" => "32-bit Systems", "arm64" => "ARM64-based Systems", _ => "Itanium-Based Systems" };
        var name = (os.Version[..os.Version.LastIndexOf('.')], os.IsServer) switch
        {
            ("10.0", false) when os.Build >= 22000 => Windows11.TryGetValue(os.Build, out var v11)
                ? $"Windows 11 {(os.Build == 22000 ? "version" : "Version")} {v11} for {arch}" : null,
            ("10.0", false) => Windows10.TryGetValue(os.Build, out var v10) ? (v10.Length == 0 ? $"Windows 10 for {arch}" : $"Windows 10 Version {v10} for {arch}") : null,
            ("10.0", true) when SemiAnnualServers.TryGetValue(os.Build, out var sac) => $"Windows Server, version {sac} (Server Core installation)",
            ("10.0", true) => Servers10.GetValueOrDefault(os.Build),
            ("6.3", false) when os.Architecture == "arm64" => "Windows RT 8.1",
            ("6.3", false) => $"Windows 8.1 for {arch.Replace("Systems", "systems")}",
            ("6.3", true) => "Windows Server 2012 R2",
            ("6.2", false) => $"Windows 8 for {arch}",
            ("6.2", true) => "Windows Server 2012",
            ("6.1", false) => $"Windows 7 for {arch}" + ServicePack(os.ServicePack),
            ("6.1", true) => $"Windows Server 2008 R2 for {arch}" + ServicePack(os.ServicePack),
            ("6.0", false) => (os.Architecture == "x64" ? "Windows Vista x64 Edition" : "Windows Vista") + ServicePack(os.Build - 6000),
            ("6.0", true) => $"Windows Server 2008 for {arch}" + ServicePack(os.Build >= 6002 ? 2 : 0),
            ("5.2", false) => "Windows XP Professional x64 Edition" + ServicePack(os.ServicePack),
            ("5.2", true) => (os.Architecture == "x64" ? "Windows Server 2003 x64 Edition" : "Windows Server 2003") + ServicePack(os.ServicePack),
            ("5.1", _) => "Windows XP" + ServicePack(os.ServicePack),
            _ => null,
        };
        // The first Windows 11 release was named without its version in the catalogs of late 2021.
        if (name is not null && os.Build == 22000 && !os.IsServer) return [name, $"Windows 11 for {arch}"];
        return name is null ? [] : [name];
    }

    private static string ServicePack(int sp) => sp > 0 ? $" Service Pack {sp}" : "";

    /// <summary>The Server Core release of a server release name ("Windows Server 2019 (Server Core installation)").</summary>
    public static string ServerCore(string release) =>
        release.StartsWith("Windows Server", StringComparison.Ordinal) && !release.EndsWith("(Server Core installation)", StringComparison.Ordinal)
            ? release + " (Server Core installation)" : release;
}
