using System.Text.Json;

namespace Patch.Domain.Inventory.Products;

/// <summary>
/// Visual Studio 2017 and later as <c>vswhere -all -format json</c> lists them (Microsoft's documented locator,
/// installed with Visual Studio at %ProgramFiles(x86)%\Microsoft Visual Studio\Installer\vswhere.exe): each
/// instance's <c>catalog.productDisplayVersion</c> ("17.10.4") is the patch level the catalogs' fixed builds name,
/// which the Uninstall entry (a build number) does not give.
/// </summary>
public static class VisualStudioInstances
{
    public static IReadOnlyList<InstalledProduct> Parse(string json, string sourceName = "vswhere")
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"{sourceName}: not the JSON vswhere -format json writes ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new FormatException($"{sourceName}: an array of instances was expected");
            var products = new List<InstalledProduct>();
            foreach (var instance in doc.RootElement.EnumerateArray())
            {
                var display = instance.TryGetProperty("catalog", out var catalog) && catalog.TryGetProperty("productDisplayVersion", out var v) ? v.GetString() : null;
                if (InstalledProduct.ParseVersion(display) is not { } version || version.Major < 15) continue;
                var name = instance.TryGetProperty("displayName", out var n) ? n.GetString() : null;
                var path = instance.TryGetProperty("installationPath", out var p) ? p.GetString() : null;
                products.Add(new InstalledProduct(ProductFamilies.VisualStudio.Id, VisualStudioProducts.NameOf(version), display!.Trim(),
                    $"vswhere catalog.productDisplayVersion{(path is null ? "" : $" ({path})")}", Detail: name));
            }
            return products;
        }
    }
}
