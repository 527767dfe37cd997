using Patch.Agent.Inventory;
using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Agents;
using Patch.Domain.Applicability;
using Patch.Domain.Inventory;
using Patch.Domain.Inventory.Products;

namespace Patch.Api.Tests.Inventory;

/// <summary>
/// Registry exports authored in <c>reg export</c> format (UTF-16LE, tests/Patch.Api.Tests/Inventory/registry/), one per
/// product family, read beside a real Windows 11 23H2 systeminfo capture: the products, versions and sources they show,
/// and the real catalog names those products answer to.
/// </summary>
public class when_reading_products_from_registry_exports
{
    private const string Win11 = "11_23H2_x64_enterprise_systeminfo.txt";

    private static AgentInventory Read(params string[] exports) =>
        new FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/" + Win11), registryPaths:
            exports.Select(e => SharedData.RepoFile($"tests/Patch.Api.Tests/Inventory/registry/{e}")).ToList()).Read();

    private static InstalledProduct Product(AgentInventory inventory, string name) =>
        Assert.Single(inventory.Products!, p => p.Name == name);

    [Fact]
    public void dotnet_framework_comes_from_the_NDP_keys_and_replaces_the_inferred_version()
    {
        var inventory = Read("netfx.reg");
        var v4 = Product(inventory, "Microsoft .NET Framework 4.8.1");
        Assert.Equal("4.8.1", v4.Version);
        Assert.False(v4.Inferred);
        Assert.Equal(@"registry HKLM\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full (Release 533320)", v4.Source);
        Product(inventory, "Microsoft .NET Framework 3.5");
        Assert.DoesNotContain(InventoryFacts.Products(inventory), p => p.Inferred && p.Family == ProductFamilies.NetFramework.Id);
        var facts = InventoryFacts.Of(inventory);
        Assert.True(facts.HasProduct("Microsoft .NET Framework 3.5 AND 4.8.1 on Windows 11 Version 23H2 for x64-based Systems"));
        Assert.False(facts.HasProduct("Microsoft .NET Framework 3.5 AND 4.8.1 on Windows 11 Version 22H2 for x64-based Systems"));
    }

    [Fact]
    public void click_to_run_office_is_microsoft_365_apps_with_its_build_and_channel()
    {
        var inventory = Read("office-click-to-run.reg");
        var apps = Product(inventory, "Microsoft 365 Apps for Enterprise for 64-bit Systems");
        Assert.Equal("16.0.17928.20156", apps.Version);
        Assert.Contains("O365ProPlusRetail", apps.Detail, StringComparison.Ordinal);
        Assert.Contains("channel Current Channel", apps.Detail, StringComparison.Ordinal);
        Assert.True(InventoryFacts.Of(inventory).HasProduct("Office 365 ProPlus for 64-bit Systems"));
    }

    [Fact]
    public void an_msi_office_suite_answers_for_itself_and_each_application_and_its_patches_are_installed_kbs()
    {
        var inventory = Read("office-msi.reg");
        var facts = InventoryFacts.Of(inventory);
        foreach (var name in new[] { "Microsoft Office 2016 (32-bit edition)", "Microsoft Excel 2016 (32-bit edition)", "Microsoft Word 2016 (32-bit edition)",
                     "Microsoft Outlook 2016 (32-bit edition)", "Microsoft Access 2016 (32-bit edition)", "Microsoft Publisher 2016 (32-bit edition)" })
            Assert.True(facts.HasProduct(name), name);
        Assert.False(facts.HasProduct("Microsoft Excel 2016 (64-bit edition)"));
        Assert.Contains("KB5002700", inventory.InstalledKbs);
    }

    [Fact]
    public void each_sql_server_instance_is_keyed_by_release_and_branch_from_its_patch_level()
    {
        var inventory = Read("sqlserver.reg");
        var instance = Product(inventory, "Microsoft SQL Server 2022 (MSSQLSERVER)");
        Assert.Equal("16.0.4135.4", instance.Version);
        Assert.Equal("Developer Edition, SQL Server 2022 RTM, CU branch", instance.Detail);
        Assert.Equal("Standard Edition, SQL Server 2019 RTM, GDR branch", Product(inventory, "Microsoft SQL Server 2019 (LEGACY)").Detail);
        Assert.Equal("x64", instance.Architecture);
        // A 32-bit instance on a 64-bit Windows registers under the 32-bit view (WOW6432Node): read, as x86.
        var express = Product(inventory, "Microsoft SQL Server 2014 (SQLEXPRESS)");
        Assert.Equal(("x86", "12.0.6024.0"), (express.Architecture, express.Version));
        Assert.True(InventoryFacts.Of(inventory).HasProduct("Microsoft SQL Server 2014 Service Pack 3 for 32-bit Systems (GDR)"));
        var facts = InventoryFacts.Of(inventory);
        Assert.True(facts.HasProduct("Microsoft SQL Server 2022 for x64-based Systems (CU 15)"));
        Assert.False(facts.HasProduct("Microsoft SQL Server 2022 for x64-based Systems (GDR)"));
        Assert.True(facts.HasProduct("Microsoft SQL Server 2019 for x64-based Systems (GDR)"));
        Assert.False(facts.HasProduct("Microsoft SQL Server 2019 for x64-based Systems (CU 28)"));
    }

    [Fact]
    public void exchange_sharepoint_and_visual_studio_come_from_their_uninstall_entries()
    {
        var inventory = Read("exchange.reg", "sharepoint.reg", "visualstudio.reg");
        var facts = InventoryFacts.Of(inventory);
        Assert.True(facts.HasProduct("Microsoft Exchange Server 2019 Cumulative Update 14"));
        Assert.True(facts.HasProduct("Microsoft Exchange Server 2019"));
        Assert.False(facts.HasProduct("Microsoft Exchange Server 2019 Cumulative Update 15"));
        Assert.Contains("KB5049233", inventory.InstalledKbs);
        Assert.True(facts.HasProduct("Microsoft SharePoint Server 2019"));
        Assert.Equal("17.10", Product(inventory, "Microsoft Visual Studio 2022 version 17.10").Version);
        Assert.True(facts.HasProduct("Microsoft Visual Studio 2022 version 17.10"));
        Assert.False(facts.HasProduct("Microsoft Visual Studio 2022 version 17.12"));
        Assert.False(facts.HasProduct("Microsoft Visual Studio 2019 version 16.11 (includes 16.0 - 16.10)"));
        Assert.True(facts.HasProduct("Microsoft Visual Studio 2015 Update 3"));
    }

    [Fact]
    public void vswhere_gives_visual_studio_its_patch_level_so_a_fixed_build_can_be_decided()
    {
        var inventory = new FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/" + Win11),
            registryPaths: [SharedData.RepoFile("tests/Patch.Api.Tests/Inventory/registry/visualstudio.reg")],
            vswherePath: SharedData.RepoFile("tests/Patch.Api.Tests/Inventory/registry/vswhere.json")).Read();
        var vs2022 = Product(inventory, "Microsoft Visual Studio 2022 version 17.10");
        Assert.Equal("17.10.4", vs2022.Version);
        Assert.StartsWith("vswhere", vs2022.Source, StringComparison.Ordinal);
        Assert.Equal("16.11.39", Product(inventory, "Microsoft Visual Studio 2019 version 16.11").Version);
        var facts = InventoryFacts.Of(inventory);
        Assert.True(facts.HasProduct("Microsoft Visual Studio 2019 version 16.11 (includes 16.0 - 16.10)"));
        var fix = new Domain.Vulnerabilities.ProductVulnerabilityFacts("Microsoft", "CVE-2025-55240", null, "Microsoft Visual Studio 2022 version 17.10", "1", Domain.Catalog.Severity.Important,
            "17.10.20", "Release Notes", null, null, null);
        var finding = Assert.Single(new PreparedVulnerabilities([fix]).For(facts));
        Assert.Equal(FindingState.Vulnerable, finding.State);
        Assert.Equal("build 17.10.4 is below the fixed build 17.10.20 for CVE-2025-55240", finding.Reason);
        Assert.Throws<FormatException>(() => VisualStudioInstances.Parse("{\"not\": \"an array\"}"));
    }

    [Fact]
    public void edge_dotnet_runtimes_powershell_and_defender_carry_their_versions()
    {
        var inventory = Read("edge-runtimes-powershell-defender.reg");
        Assert.Equal("126.0.2592.56", Product(inventory, "Microsoft Edge (Chromium-based)").Version);
        Assert.Equal("8.0.6", Product(inventory, ".NET 8.0").Version);
        Assert.Equal("6.0.31", Product(inventory, ".NET 6.0").Version);
        Assert.Equal("8.0.6", Product(inventory, "ASP.NET Core 8.0").Version);
        Assert.Equal("7.4.2", Product(inventory, "PowerShell 7.4").Version);
        Assert.Equal("4.18.24090.11", Product(inventory, "Microsoft Defender Antimalware Platform").Version);
        Assert.Equal("1.1.24090.11", Product(inventory, "Microsoft Malware Protection Engine").Version);
        var facts = InventoryFacts.Of(inventory);
        Assert.True(facts.HasProduct(".NET 8.0 installed on Windows"));
        Assert.True(facts.HasProduct("Microsoft Edge (Chromium-based) in IE Mode on Windows 11 Version 23H2 for x64-based Systems"));
    }

    [Fact]
    public void installed_servicing_packages_are_installed_kbs_and_staged_ones_are_not()
    {
        var inventory = Read("servicing-packages.reg");
        Assert.Contains("KB5034441", inventory.InstalledKbs);
        Assert.Contains("KB5036892", inventory.InstalledKbs);
        // Permanent (0x80: a servicing stack update, or made permanent by DISM /ResetBase) is installed for good.
        Assert.Contains("KB5005112", inventory.InstalledKbs);
        Assert.DoesNotContain("KB5011048", inventory.InstalledKbs);
    }

    [Fact]
    public void every_family_of_the_inventory_is_covered_by_some_export() =>
        Assert.Equal(ProductFamilies.All.Where(f => f != ProductFamilies.Windows && f != ProductFamilies.Other).Select(f => f.Id).Order(),
            Read(Directory.GetFiles(SharedData.RepoFile("tests/Patch.Api.Tests/Inventory/registry"), "*.reg").Select(Path.GetFileName).OfType<string>().ToArray())
                .Products!.Select(p => p.Family).Distinct().Order());

    /// <summary>
    /// regedit's older REGEDIT4 export is ANSI, its expandable and multi-string values single-byte; Version 5.00 writes
    /// them in UTF-16. The same values, both ways.
    /// </summary>
    [Fact]
    public void a_regedit4_export_reads_its_expandable_and_multi_string_values_as_single_bytes()
    {
        const string Key = "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\X]";
        var ansi = RegistryExport.Parse(System.Text.Encoding.Latin1.GetBytes(
            "REGEDIT4\r\n\r\n" + Key + "\r\n\"DisplayName\"=\"X\"\r\n" +
            "\"InstallLocation\"=hex(2):25,50,72,6f,67,72,61,6d,46,69,6c,65,73,25,5c,58,00\r\n" +
            "\"Parts\"=hex(7):61,00,62,63,00,00\r\n"), "old.reg");
        var unicode = RegistryExport.Parse([.. System.Text.Encoding.Unicode.GetPreamble(), .. System.Text.Encoding.Unicode.GetBytes(
            "Windows Registry Editor Version 5.00\r\n\r\n" + Key + "\r\n\"DisplayName\"=\"X\"\r\n" +
            "\"InstallLocation\"=hex(2):25,00,50,00,72,00,6f,00,67,00,72,00,61,00,6d,00,46,00,69,00,6c,00,65,00,73,00,25,00,5c,00,58,00,00,00\r\n" +
            "\"Parts\"=hex(7):61,00,00,00,62,00,63,00,00,00,00,00\r\n")], "new.reg");
        foreach (var export in new[] { ansi, unicode })
        {
            var key = export.Key(@"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\X")!;
            Assert.Equal("%ProgramFiles%\\X", key["InstallLocation"]);
            Assert.Equal(["a", "bc"], (string[])key["Parts"]);
        }
    }

    /// <summary>
    /// A REGEDIT4 export is in Windows' ANSI code page (1252 in Western locales): its 0x80–0x9F bytes are "–", "™", "’" —
    /// read as Latin-1 they were control characters stored in a product's name.
    /// </summary>
    [Fact]
    public void a_regedit4_export_is_read_in_the_ansi_code_page()
    {
        const string Key = "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\X]";
        byte[] name = [.. "Outil "u8, 0x96, .. " Intel"u8, 0x99, .. " Fran"u8, 0xE7, .. "ais l"u8, 0x92, .. "a"u8];
        byte[] bytes = [.. System.Text.Encoding.ASCII.GetBytes("REGEDIT4\r\n\r\n" + Key + "\r\n\"DisplayName\"=\""), .. name, .. "\"\r\n\"Comments\"=hex(2):"u8,
            .. System.Text.Encoding.ASCII.GetBytes(string.Join(",", name.Select(b => b.ToString("x2")))), .. ",00\r\n"u8];
        var key = RegistryExport.Parse(bytes, "old.reg").Key(@"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\X")!;
        Assert.Equal("Outil – Intel™ Français l’a", key["DisplayName"]);
        Assert.Equal("Outil – Intel™ Français l’a", key["Comments"]);
    }

    [Theory]
    [InlineData("REGEDIT5\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE]\r\n", "line 1")]
    [InlineData("Windows Registry Editor Version 5.00\r\n\r\n\"Orphan\"=\"x\"\r\n", "line 3: a value outside any [key]")]
    [InlineData("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\X]\r\n\"Release\"=dword:zz\r\n", "line 4")]
    [InlineData("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\X]\r\n\"Name\"=\"unclosed\r\n", "not closed")]
    [InlineData("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\X]\r\n\"Name\"=\"a\0b\"\r\n", "NUL")]
    public void a_malformed_export_is_refused_naming_the_line(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => RegistryExport.Parse(System.Text.Encoding.Unicode.GetPreamble().Concat(System.Text.Encoding.Unicode.GetBytes(text)).ToArray(), "x.reg"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("x.reg", e.Message, StringComparison.Ordinal);
    }
}
