using System.Reflection;
using System.Runtime.Versioning;
using Microsoft.Win32;
using Patch.Domain.Agents;
using Patch.Domain.Inventory;
using Patch.Domain.Inventory.Products;

namespace Patch.Agent.Inventory;

/// <summary>Where the agent's inventory comes from: the live Windows system, or files (systeminfo / wmic qfe captures).</summary>
public interface IInventorySource
{
    AgentInventory Read();
}

public static class AgentVersion
{
    public static string Current => typeof(AgentVersion).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}

/// <summary>
/// Inventory from a systeminfo capture (any language), with the KBs of an optional wmic qfe capture added, and the
/// products and installed updates of optional registry exports (<c>reg export</c> of <see cref="RegistryProducts.Roots"/>).
/// Without registry exports, the products that ship with the OS are inferred from its build.
/// </summary>
public sealed class FileInventorySource(string systeminfoPath, string? qfePath = null, IReadOnlyList<string>? softwareReleases = null,
    IReadOnlyList<string>? registryPaths = null, string? vswherePath = null) : IInventorySource
{
    public AgentInventory Read()
    {
        // A folder where a capture was meant reads as "access denied" on Linux: named for what it is.
        foreach (var path in new[] { systeminfoPath, qfePath, vswherePath }.Concat(registryPaths ?? []))
            if (path is not null && Directory.Exists(path)) throw new FormatException($"'{path}' is a folder, not a capture file");
        var os = SystemInfoParser.Parse(File.ReadAllBytes(systeminfoPath));
        var registry = registryPaths is { Count: > 0 } paths
            ? RegistryProducts.Read(paths.Select(p => RegistryExport.Parse(File.ReadAllBytes(p), p)).Aggregate((a, b) => a.Merge(b)), os.Architecture)
            : null;
        if (vswherePath is not null)
            registry = RegistryProducts.WithVisualStudio(registry ?? new RegistryProducts.Result([], []), VisualStudioInstances.Parse(File.ReadAllText(vswherePath), vswherePath));
        return From(os, qfePath is null ? [] : QfeParser.Parse(File.ReadAllBytes(qfePath)), softwareReleases ?? [], registry);
    }

    public static AgentInventory From(OsInventory os, IReadOnlyList<string> qfe, IReadOnlyList<string> softwareReleases, RegistryProducts.Result? registry = null) =>
        new AgentInventory(os.Caption ?? "Windows", os.Version, os.Architecture, os.ServicePack, os.IsServer,
            os.SystemLocale is null ? [] : [os.SystemLocale], softwareReleases, os.InstalledKbs.Concat(qfe).Concat(registry?.InstalledKbs ?? []).Distinct().ToList(),
            AgentVersion.Current, Products: registry?.Products).Normalized();
}

/// <summary>
/// The live system on Windows: Win32_OperatingSystem, the update build revision, Win32_QuickFixEngineering, the
/// Uninstall entries' names, and the Microsoft products and servicing packages of <see cref="RegistryProducts.Roots"/>,
/// exported with <c>reg export</c> and read by the same code the tests run on authored exports.
/// </summary>
[SupportedOSPlatform("windows")]
public sealed class WindowsInventorySource : IInventorySource
{
    public AgentInventory Read()
    {
        using var osSearcher = new System.Management.ManagementObjectSearcher("SELECT Caption, Version, ServicePackMajorVersion, ProductType, OSArchitecture FROM Win32_OperatingSystem");
        var os = osSearcher.Get().Cast<System.Management.ManagementObject>().First();
        var version = (string)os["Version"];
        using var current = Registry.LocalMachine.OpenSubKey(@"SOFTWARE\Microsoft\Windows NT\CurrentVersion");
        if (current?.GetValue("UBR") is int ubr) version = $"{version}.{ubr}";
        var arch = ((string?)os["OSArchitecture"] ?? "").Contains("ARM", StringComparison.OrdinalIgnoreCase) ? "arm64"
            : ((string?)os["OSArchitecture"] ?? "").Contains("64", StringComparison.Ordinal) ? "x64" : "x86";

        using var qfeSearcher = new System.Management.ManagementObjectSearcher("SELECT HotFixID FROM Win32_QuickFixEngineering");
        var kbs = qfeSearcher.Get().Cast<System.Management.ManagementObject>().Select(q => SystemInfoParser.Normalize((string?)q["HotFixID"] ?? ""))
            .OfType<string>().Where(id => id.StartsWith("KB", StringComparison.Ordinal)).ToList();

        var products = new List<string>();
        foreach (var view in new[] { RegistryView.Registry64, RegistryView.Registry32 })
        {
            using var root = RegistryKey.OpenBaseKey(RegistryHive.LocalMachine, view);
            using var uninstall = root.OpenSubKey(@"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall");
            foreach (var name in uninstall?.GetSubKeyNames() ?? [])
            {
                using var key = uninstall!.OpenSubKey(name);
                if (key?.GetValue("DisplayName") is string display && key.GetValue("SystemComponent") is not 1) products.Add(display);
            }
        }

        var registry = RegistryProducts.WithVisualStudio(RegistryProducts.Read(Export(), arch), VisualStudio());
        // A server by its installation type (Windows 10/11 Enterprise multi-session has a server's product type, and is a client).
        var installation = current?.GetValue("InstallationType") as string;
        var isServer = installation is not null ? !installation.Equals("Client", StringComparison.OrdinalIgnoreCase) : Convert.ToInt32(os["ProductType"]) != 1;
        return new AgentInventory((string)os["Caption"], version, arch, Convert.ToInt32(os["ServicePackMajorVersion"]), isServer,
            [System.Globalization.CultureInfo.InstalledUICulture.Name], products, kbs.Concat(registry.InstalledKbs).ToList(), AgentVersion.Current,
            current?.GetValue("InstallationType") as string, registry.Products).Normalized();
    }

    /// <summary>Visual Studio 2017+ instances from vswhere (installed with Visual Studio), or none when it is absent.</summary>
    private static IReadOnlyList<InstalledProduct> VisualStudio()
    {
        var vswhere = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFilesX86), "Microsoft Visual Studio", "Installer", "vswhere.exe");
        if (!File.Exists(vswhere)) return [];
        var start = new System.Diagnostics.ProcessStartInfo(vswhere) { UseShellExecute = false, CreateNoWindow = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-all", "-products", "*", "-format", "json", "-utf8" }) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var json = process.StandardOutput.ReadToEnd();
        process.WaitForExit(60_000);
        return process.ExitCode == 0 ? VisualStudioInstances.Parse(json, "vswhere") : [];
    }

    /// <summary>Every root key exported with reg.exe (64-bit view) into one export; a key the computer lacks is skipped.</summary>
    private static RegistryExport Export()
    {
        var merged = new RegistryExport();
        var file = Path.Combine(Path.GetTempPath(), $"patch-agent-{Guid.NewGuid():N}.reg");
        try
        {
            foreach (var root in RegistryProducts.Roots)
            {
                var start = new System.Diagnostics.ProcessStartInfo("reg.exe") { UseShellExecute = false, CreateNoWindow = true, RedirectStandardError = true, RedirectStandardOutput = true };
                foreach (var a in new[] { "export", root, file, "/y", "/reg:64" }) start.ArgumentList.Add(a);
                using var process = System.Diagnostics.Process.Start(start)!;
                process.WaitForExit(60_000);
                if (!process.HasExited || process.ExitCode != 0 || !File.Exists(file)) continue;
                // One root this agent cannot read (an odd header) loses its products, not the inventory.
                try { merged.Merge(RegistryExport.Parse(File.ReadAllBytes(file), root, skipBadLines: true)); }
                catch (FormatException) { }
            }
        }
        finally
        {
            File.Delete(file);
        }
        return merged;
    }
}

/// <summary>An inventory written as JSON (the shape POST /agent/v1/inventory takes): simulated computers and tests.</summary>
public sealed class JsonInventorySource(string path) : IInventorySource
{
    private static readonly System.Text.Json.JsonSerializerOptions Json = new(System.Text.Json.JsonSerializerDefaults.Web);

    public AgentInventory Read()
    {
        AgentInventory? inventory;
        try
        {
            inventory = System.Text.Json.JsonSerializer.Deserialize<AgentInventory>(File.ReadAllText(path), Json);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new FormatException($"{path}: not an inventory in JSON ({e.Message})", e);
        }
        if (inventory is null) throw new FormatException($"{path}: not an inventory");
        var problems = inventory.Problems();
        return problems.Count == 0 ? inventory.Normalized() : throw new FormatException($"{path}: {string.Join("; ", problems)}");
    }
}

/// <summary>The simulated computer's inventory: the base one, plus the KBs the simulation installed, less those it removed.</summary>
public sealed class SimulatedInventorySource(IInventorySource baseSource, string stateDirectory) : IInventorySource
{
    public AgentInventory Read()
    {
        var inventory = baseSource.Read();
        var simulation = Cycle.SimulationState.Load(stateDirectory);
        var kbs = inventory.InstalledKbs.Concat(simulation.Installed).Except(simulation.Removed, StringComparer.OrdinalIgnoreCase).ToList();
        return (inventory with { InstalledKbs = kbs }).Normalized();
    }
}

/// <summary>For commands that need no inventory (defer): reading it is a mistake.</summary>
public sealed class NoInventorySource : IInventorySource
{
    public AgentInventory Read() => throw new InvalidOperationException("this command does not read the inventory");
}
