using Patch.Domain.Agents;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// Products that ship with the operating system, inferred from its build when the inventory did not read them (a
/// systeminfo capture has no registry): the .NET Framework the release ships turned on
/// (<see cref="NetFrameworkProducts.BuiltInVersion"/>), the legacy Edge of Windows 10 up to 20H2 and Server 2016/2019,
/// and Office 2013 RT on Windows RT 8.1. Each is marked
/// <see cref="InstalledProduct.Inferred"/> and names the build it was inferred from.
/// </summary>
public static class InferredProducts
{
    private static readonly string[] OfficeRtApps = ["Office", "Word", "Excel", "PowerPoint", "OneNote", "Outlook"];

    public static IReadOnlyList<InstalledProduct> For(AgentInventory inventory)
    {
        if (!Version.TryParse(inventory.OsVersion, out var v)) return [];
        var build = Math.Max(v.Build, 0);
        var source = $"inferred from Windows {v.Major}.{v.Minor}.{build}";
        var inferred = new List<InstalledProduct>();
        var read = inventory.Products ?? [];
        if (!read.Any(p => p.Family == ProductFamilies.NetFramework.Id && !p.Inferred)
            && NetFrameworkProducts.BuiltInVersion($"{v.Major}.{v.Minor}", build, inventory.IsServer) is { } netfx)
            inferred.Add(new InstalledProduct(ProductFamilies.NetFramework.Id, $"Microsoft .NET Framework {netfx}", netfx, source, Inferred: true, Architecture: inventory.Architecture));
        // Windows 10 up to 20H2 and Server 2016/2019 ship the legacy (EdgeHTML) Edge, patched by the OS's own updates.
        if (v.Major == 10 && (inventory.IsServer ? build is 14393 or 17763 : build is >= 10240 and <= 19042))
            inferred.Add(new InstalledProduct(ProductFamilies.Edge.Id, "Microsoft Edge (EdgeHTML-based)", null, source, Inferred: true));
        if (inventory.Architecture == "arm64" && !inventory.IsServer && v.Major == 6 && v.Minor == 3 && !read.Any(p => p.Family == ProductFamilies.Office.Id))
            inferred.AddRange(OfficeRtApps.Select(app => new InstalledProduct(ProductFamilies.Office.Id,
                app == "Office" ? "Microsoft Office 2013 RT Service Pack 1" : $"Microsoft {app} 2013 RT Service Pack 1", null, source, Inferred: true)));
        return inferred;
    }
}
