using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// The Microsoft products and installed updates a registry export shows (the keys <see cref="Roots"/> lists, each
/// from Microsoft's documentation; docs/products.md cites them). Pure: the Windows agent exports these keys with
/// <c>reg export</c> and reads them here, and tests read authored exports of the same format.
/// </summary>
public static partial class RegistryProducts
{
    public const string Ndp = @"HKLM\SOFTWARE\Microsoft\NET Framework Setup\NDP";
    public const string ClickToRun = @"HKLM\SOFTWARE\Microsoft\Office\ClickToRun\Configuration";
    public const string Uninstall = @"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
    public const string Uninstall32 = @"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall";
    public const string SqlServer = @"HKLM\SOFTWARE\Microsoft\Microsoft SQL Server";
    /// <summary>32-bit SQL Server instances on a 64-bit Windows (Express x86 is common) register under the 32-bit view.</summary>
    public const string SqlServer32 = @"HKLM\SOFTWARE\WOW6432Node\Microsoft\Microsoft SQL Server";
    public const string DotNet = @"HKLM\SOFTWARE\dotnet\Setup\InstalledVersions";
    public const string PowerShell = @"HKLM\SOFTWARE\Microsoft\PowerShellCore\InstalledVersions";
    public const string Defender = @"HKLM\SOFTWARE\Microsoft\Windows Defender";
    public const string Servicing = @"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages";

    /// <summary>The keys the agent exports.</summary>
    public static readonly IReadOnlyList<string> Roots = [Ndp, ClickToRun, Uninstall, Uninstall32, SqlServer, SqlServer32, DotNet, PowerShell, Defender, Servicing];

    /// <summary>What an export shows: products, and KBs installed beyond Win32_QuickFixEngineering (servicing packages, MSI patches).</summary>
    public sealed record Result(IReadOnlyList<InstalledProduct> Products, IReadOnlyList<string> InstalledKbs);

    /// <summary>
    /// The result with the Visual Studio instances vswhere listed: they carry the patch level, so they replace the
    /// Uninstall entries' major.minor-only products of the same name.
    /// </summary>
    public static Result WithVisualStudio(Result result, IReadOnlyList<InstalledProduct> instances) => instances.Count == 0 ? result
        : result with { Products = [.. result.Products.Where(p => p.Family != ProductFamilies.VisualStudio.Id || !instances.Any(i => i.Name == p.Name)), .. instances] };

    public static Result Read(RegistryExport reg, string osArchitecture)
    {
        var products = new List<InstalledProduct>();
        NetFramework(reg, products, osArchitecture);
        Office(reg, products);
        Sql(reg, products, osArchitecture);
        UninstallEntries(reg, products, osArchitecture);
        Runtimes(reg, products);
        DefenderPlatform(reg, products);
        return new Result(products.Distinct().ToList(), Kbs(reg));
    }

    private static string Source(string key, string? value = null) => value is null ? $"registry {key}" : $"registry {key} ({value})";

    private static void NetFramework(RegistryExport reg, List<InstalledProduct> products, string arch)
    {
        var full = Ndp + @"\v4\Full";
        if (reg.Number(full, "Release") is { } release && NetFrameworkProducts.VersionOfRelease((int)release) is { } v4)
            products.Add(new InstalledProduct(ProductFamilies.NetFramework.Id, $"Microsoft .NET Framework {v4}", v4, Source(full, $"Release {release}"), Architecture: arch,
                Detail: reg.String(full, "Version")));
        foreach (var (key, version) in new[] { ("v3.5", "3.5"), ("v3.0", "3.0"), ("v2.0.50727", "2.0") })
        {
            var path = $@"{Ndp}\{key}";
            if (reg.Number(path, "Install") != 1) continue;
            var sp = reg.Number(path, "SP") ?? 0;
            // The catalogs name 3.5 plainly beside 4.x, and "3.5 Service Pack 1" on Vista and Server 2008; 2.0 and 3.0 by service pack.
            var named = version == "3.5" ? (sp > 0 ? new[] { "3.5", $"3.5 Service Pack {sp}" } : ["3.5"]) : [sp > 0 ? $"{version} Service Pack {sp}" : version];
            products.AddRange(named.Select(n => new InstalledProduct(ProductFamilies.NetFramework.Id, $"Microsoft .NET Framework {n}", n, Source(path, $"Install 1, SP {sp}"),
                Architecture: arch, Detail: reg.String(path, "Version"))));
            // Windows 7 and Server 2008 R2 name their 3.5 "3.5.1"; the catalogs name it so.
            if (version == "3.5" && reg.String(path, "Version")?.StartsWith("3.5.30729.5", StringComparison.Ordinal) == true)
                products.Add(new InstalledProduct(ProductFamilies.NetFramework.Id, "Microsoft .NET Framework 3.5.1", "3.5.1", Source(path, "Version 3.5.30729.5xxx"), Architecture: arch));
        }
    }

    private static void Office(RegistryExport reg, List<InstalledProduct> products)
    {
        if (reg.String(ClickToRun, "ProductReleaseIds") is not { } ids) return;
        var platform = reg.String(ClickToRun, "Platform") is "x64" ? "x64" : "x86";
        var version = VersionOf(reg.String(ClickToRun, "VersionToReport"));
        var channel = OfficeProducts.Channel(reg.String(ClickToRun, "UpdateChannel") ?? reg.String(ClickToRun, "CDNBaseUrl"));
        foreach (var id in ids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            foreach (var name in OfficeProducts.FromClickToRun(id, platform))
                products.Add(new InstalledProduct(ProductFamilies.Office.Id, name, version, Source(ClickToRun, $"ProductReleaseIds {id}"), Architecture: platform,
                    Detail: channel is null ? $"Click-to-Run {id}" : $"Click-to-Run {id}, channel {channel}"));
    }

    private static void Sql(RegistryExport reg, List<InstalledProduct> products, string osArch)
    {
        foreach (var (root, wow) in new[] { (SqlServer, false), (SqlServer32, true) })
            foreach (var (instance, id) in reg.Key(root + @"\Instance Names\SQL") ?? new Dictionary<string, object>())
                if (id is string instanceId) SqlInstance(reg, products, root, instance, instanceId, osArch == "x86" || wow ? "x86" : "x64");
    }

    /// <summary>One instance, <paramref name="arch"/> its view's: a 32-bit Windows runs 32-bit SQL Server only, and a 64-bit one its 32-bit instances under WOW64.</summary>
    private static void SqlInstance(RegistryExport reg, List<InstalledProduct> products, string root, string instance, string instanceId, string arch)
    {
        var setup = $@"{root}\{instanceId}\Setup";
        var patchLevel = reg.String(setup, "PatchLevel") ?? reg.String(setup, "Version");
        if (InstalledProduct.ParseVersion(patchLevel) is not { } v || SqlServerProducts.Release(v) is not { } year) return;
        var edition = reg.String(setup, "Edition");
        products.Add(new InstalledProduct(ProductFamilies.SqlServer.Id, $"Microsoft SQL Server {year.ToUpperInvariant()} ({instance})", patchLevel,
            Source(setup, $"PatchLevel {patchLevel}"), Architecture: arch, Detail: string.Join(", ", new[] { edition, SqlServerProducts.Describe(v) }.OfType<string>())));
    }

    /// <summary>A version as a product states it, or none: an empty one, or one longer than any version (64), is no version (a product's inventory was refused for it).</summary>
    private static string? VersionOf(string? value) => value?.Trim() is { Length: > 0 and <= 64 } version ? version : null;

    private static IEnumerable<(string Key, string Name, string? Version, bool Wow)> Entries(RegistryExport reg) =>
        new[] { (Uninstall, false), (Uninstall32, true) }.SelectMany(root => reg.SubKeys(root.Item1)
            .Select(k => (Key: k, Name: reg.String(k, "DisplayName"), Version: VersionOf(reg.String(k, "DisplayVersion")), Wow: root.Item2))
            .Where(e => !string.IsNullOrWhiteSpace(e.Name))
            .Select(e => (e.Key, e.Name!, e.Version, e.Wow)));

    private static void UninstallEntries(RegistryExport reg, List<InstalledProduct> products, string osArch)
    {
        var entries = Entries(reg).ToList();
        var rollup = entries.Select(e => ServerProducts.Exchange2010Rollup(e.Name)).Max();
        foreach (var (key, name, version, wow) in entries)
        {
            var arch = wow || osArch == "x86" ? "x86" : Bitness().IsMatch(name) ? "x86" : osArch;
            var source = Source(key, "DisplayName");
            if (OfficeProducts.FromUninstallName(name, arch) is { } office)
                products.AddRange(office.Select(n => new InstalledProduct(ProductFamilies.Office.Id, n, version, source, Architecture: arch, Detail: name)));
            else if (ServerProducts.SharePointNames(name) is { } sharePoint)
                products.AddRange(sharePoint.Select(n => new InstalledProduct(ProductFamilies.SharePoint.Id, n, version, source, Detail: name)));
            else if (ServerProducts.ExchangeName(name, version, rollup) is { } exchange)
                products.Add(new InstalledProduct(ProductFamilies.Exchange.Id, exchange, version, source, Detail: name));
            else if (VisualStudio().Match(name) is { Success: true } && InstalledProduct.ParseVersion(version) is { } vs)
                // The Uninstall entry's version is the build (17.10.35013.160): it names the install, not its patch level.
                products.Add(new InstalledProduct(ProductFamilies.VisualStudio.Id, VisualStudioProducts.NameOf(vs), $"{vs.Major}.{vs.Minor}", source, Detail: $"{name} {version}"));
            else if (LegacyVisualStudio().IsMatch(name) && InstalledProduct.ParseVersion(version) is { } old && VisualStudioProducts.LegacyName(old) is { } legacy)
                products.Add(new InstalledProduct(ProductFamilies.VisualStudio.Id, legacy, version, source, Detail: name));
            else if (ProductKeys.Normalize(name) == "microsoft edge")
                products.Add(new InstalledProduct(ProductFamilies.Edge.Id, "Microsoft Edge (Chromium-based)", version, source, Architecture: arch));
        }
    }

    private static void Runtimes(RegistryExport reg, List<InstalledProduct> products)
    {
        foreach (var arch in new[] { "x64", "x86", "arm64" })
            foreach (var (framework, label) in new[] { ("Microsoft.NETCore.App", ".NET"), ("Microsoft.AspNetCore.App", "ASP.NET Core") })
            {
                var key = $@"{DotNet}\{arch}\sharedfx\{framework}";
                foreach (var version in reg.Key(key)?.Keys ?? [])
                    if (InstalledProduct.ParseVersion(version) is { } v)
                        products.Add(new InstalledProduct(ProductFamilies.DotNet.Id, $"{(label == ".NET" && v.Major < 5 ? ".NET Core" : label)} {v.Major}.{v.Minor}", version,
                            Source(key, version), Architecture: arch));
            }
        foreach (var key in reg.SubKeys(PowerShell))
            if (InstalledProduct.ParseVersion(reg.String(key, "SemanticVersion")) is { } v)
                products.Add(new InstalledProduct(ProductFamilies.PowerShell.Id, $"PowerShell {v.Major}.{v.Minor}", reg.String(key, "SemanticVersion"), Source(key, "SemanticVersion")));
    }

    private static void DefenderPlatform(RegistryExport reg, List<InstalledProduct> products)
    {
        // The platform's folder carries its version: …\Windows Defender\Platform\4.18.24090.11-0\
        if (reg.String(Defender, "InstallLocation") is { } location && DefenderVersion().Match(location) is { Success: true } m)
            products.Add(new InstalledProduct(ProductFamilies.Defender.Id, "Microsoft Defender Antimalware Platform", m.Groups[1].Value, Source(Defender, "InstallLocation")));
        if (reg.String(Defender + @"\Signature Updates", "EngineVersion") is { } engine)
            products.Add(new InstalledProduct(ProductFamilies.Defender.Id, "Microsoft Malware Protection Engine", engine, Source(Defender + @"\Signature Updates", "EngineVersion")));
    }

    /// <summary>
    /// KBs of installed servicing packages — CurrentState 0x70 "installed", or 0x80 "permanent": installed for good (servicing
    /// stack updates, packages DISM /ResetBase made permanent) — and of MSI patches listed as Uninstall entries ("… (KB5002xxx) …").
    /// </summary>
    private static IReadOnlyList<string> Kbs(RegistryExport reg)
    {
        var kbs = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var key in reg.SubKeys(Servicing))
            if (reg.Number(key, "CurrentState") is 0x70 or 0x80 && PackageKb().Match(key[(key.LastIndexOf('\\') + 1)..]) is { Success: true } m) kbs.Add("KB" + m.Groups[1].Value);
        foreach (var e in Entries(reg))
            if (NameKb().Match(e.Name) is { Success: true } m) kbs.Add("KB" + m.Groups[1].Value);
        return kbs.ToList();
    }

    [GeneratedRegex(@"^Package_(?:[0-9]+_)?for_KB([0-9]{6,8})~", RegexOptions.IgnoreCase)]
    private static partial Regex PackageKb();

    [GeneratedRegex(@"\(KB([0-9]{6,8})\)", RegexOptions.IgnoreCase)]
    private static partial Regex NameKb();

    [GeneratedRegex(@"^Visual Studio (Community|Professional|Enterprise|Build Tools) 20\d\d", RegexOptions.IgnoreCase)]
    private static partial Regex VisualStudio();

    [GeneratedRegex(@"^Microsoft Visual Studio (\w+ )?(2010|2012|2013|2015)\b", RegexOptions.IgnoreCase)]
    private static partial Regex LegacyVisualStudio();

    [GeneratedRegex(@"\(32-bit\)|32-bit edition", RegexOptions.IgnoreCase)]
    private static partial Regex Bitness();

    [GeneratedRegex(@"\\Platform\\(\d+\.\d+\.\d+\.\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex DefenderVersion();
}
