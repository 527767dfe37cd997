using Patch.Api.Tests.Infrastructure;
using Patch.Domain.Inventory;
using Patch.Domain.Inventory.Products;

namespace Patch.Api.Tests.Inventory;

/// <summary>The parsers and the product map on every real capture of ../shared/data/windows-inventory (wesng-validation).</summary>
public class when_reading_real_windows_inventory
{
    private const string Folder = "windows-inventory/wesng-validation/";

    [Theory]
    [InlineData("10_1803_x64_education_en-us_systeminfo.txt", "10.0.17134", "x64", false, 5, "Windows 10 Version 1803 for x64-based Systems")]
    [InlineData("10_1803_x64_enterprise_es-ar_20190307_systeminfo.txt", "10.0.17134", "x64", false, 6, "Windows 10 Version 1803 for x64-based Systems")]
    [InlineData("10_1803_x64_pro_it_systeminfo.txt", "10.0.17134", "x64", false, 10, "Windows 10 Version 1803 for x64-based Systems")]
    [InlineData("10_1803_x64_proforworkstations_en-us_A_20190305_systeminfo.txt", "10.0.17134", "x64", false, 4, "Windows 10 Version 1803 for x64-based Systems")]
    [InlineData("10_1803_x64_proforworkstations_en-us_B_20190306_systeminfo.txt", "10.0.17134", "x64", false, 0, "Windows 10 Version 1803 for x64-based Systems")]
    [InlineData("10_1803_x64_proforworkstations_en-us_systeminfo.txt", "10.0.17134", "x64", false, 0, "Windows 10 Version 1803 for x64-based Systems")]
    [InlineData("10_1803_x86_enterprise_nl_systeminfo.txt", "10.0.17134", "x86", false, 4, "Windows 10 Version 1803 for 32-bit Systems")]
    [InlineData("10_1809_x64_education_en-us_systeminfo.txt", "10.0.17763", "x64", false, 6, "Windows 10 Version 1809 for x64-based Systems")]
    [InlineData("10_1809_x64_education_es_systeminfo.txt", "10.0.17763", "x64", false, 9, "Windows 10 Version 1809 for x64-based Systems")]
    [InlineData("10_1809_x64_enterprise_zh-cn_systeminfo.txt", "10.0.17763", "x64", false, 1, "Windows 10 Version 1809 for x64-based Systems")]
    [InlineData("10_1809_x64_pro_en-us_20190307_systeminfo.txt", "10.0.17763", "x64", false, 5, "Windows 10 Version 1809 for x64-based Systems")]
    [InlineData("10_21H1_x64_enterprise_systeminfo.txt", "10.0.19043", "x64", false, 4, "Windows 10 Version 21H1 for x64-based Systems")]
    [InlineData("10_21H2_x64_pro_systeminfo.txt", "10.0.19044", "x64", false, 7, "Windows 10 Version 21H2 for x64-based Systems")]
    [InlineData("10_22H2_x64_enterprise_en-us_systeminfo.txt", "10.0.19045", "x64", false, 1, "Windows 10 Version 22H2 for x64-based Systems")]
    [InlineData("10_rtm_x64_pro_en-us_systeminfo.txt", "10.0.10240", "x64", false, 2, "Windows 10 for x64-based Systems")]
    [InlineData("11_21H2_x64_enterprise_systeminfo.txt", "10.0.22000", "x64", false, 4, "Windows 11 version 21H2 for x64-based Systems")]
    [InlineData("11_22H2_x64_home-single-language_systeminfo.txt", "10.0.22621", "x64", false, 1, "Windows 11 Version 22H2 for x64-based Systems")]
    [InlineData("11_23H2_x64_enterprise_systeminfo.txt", "10.0.22631", "x64", false, 4, "Windows 11 Version 23H2 for x64-based Systems")]
    [InlineData("7_sp1_x64_enterprise_en-us_20190305_systeminfo.txt", "6.1.7601", "x64", false, 245, "Windows 7 for x64-based Systems Service Pack 1")]
    [InlineData("7_sp1_x64_enterprise_en-us_A_systeminfo.txt", "6.1.7601", "x64", false, 219, "Windows 7 for x64-based Systems Service Pack 1")]
    [InlineData("7_sp1_x64_enterprise_en-us_B_systeminfo.txt", "6.1.7601", "x64", false, 245, "Windows 7 for x64-based Systems Service Pack 1")]
    [InlineData("7_sp1_x64_enterprise_fr_systeminfo_cmd.txt", "6.1.7601", "x64", false, 73, "Windows 7 for x64-based Systems Service Pack 1")]
    [InlineData("7_sp1_x64_ultimaten_de_systeminfo.txt", "6.1.7601", "x64", false, 242, "Windows 7 for x64-based Systems Service Pack 1")]
    [InlineData("7_sp1_x86_enterprise_en-us_systeminfo.txt", "6.1.7601", "x86", false, 2, "Windows 7 for 32-bit Systems Service Pack 1")]
    [InlineData("8.1_u1_x64_enterprise_en-us_systeminfo.txt", "6.3.9600", "x64", false, 6, "Windows 8.1 for x64-based systems")]
    [InlineData("srv_2003_rtm_x86_standard_en-us_systeminfo.txt", "5.2.3790", "x86", true, 2, "Windows Server 2003")]
    [InlineData("srv_2003_sp1_x64_standard_en-us_systeminfo.txt", "5.2.3790", "x64", true, 1, "Windows Server 2003 x64 Edition Service Pack 1")]
    [InlineData("srv_2003r2_sp2_rtm_x64_standard_en-us_systeminfo.txt", "5.2.3790", "x64", true, 1, "Windows Server 2003 x64 Edition Service Pack 2")]
    [InlineData("srv_2003r2_sp2_x86_standard_en-us_systeminfo.txt", "5.2.3790", "x86", true, 69, "Windows Server 2003 Service Pack 2")]
    [InlineData("srv_2008_rtm_x64_standard_en-us_systeminfo.txt", "6.0.6001", "x64", true, 1, "Windows Server 2008 for x64-based Systems")]
    [InlineData("srv_2008_rtm_x86_standard_en-us_systeminfo.txt", "6.0.6001", "x86", true, 1, "Windows Server 2008 for 32-bit Systems")]
    [InlineData("srv_2008r2_sp1_x64_standard_en-us_systeminfo.txt", "6.1.7601", "x64", true, 2, "Windows Server 2008 R2 for x64-based Systems Service Pack 1")]
    [InlineData("srv_2012r2_u1_systeminfo.txt", "6.3.9600", "x64", true, 154, "Windows Server 2012 R2")]
    [InlineData("srv_2012r2_x64_standard_ru_systeminfo.txt", "6.3.9600", "x64", true, 7, "Windows Server 2012 R2")]
    [InlineData("srv_2016_1607_datacenter_en-us_systeminfo.txt", "10.0.14393", "x64", true, 5, "Windows Server 2016")]
    [InlineData("srv_2019_rtm_datacenter_en-us_systeminfo.txt", "10.0.17763", "x64", true, 5, "Windows Server 2019")]
    [InlineData("vista_x64_sp0_systeminfo.txt", "6.0.6000", "x64", false, 104, "Windows Vista x64 Edition")]
    [InlineData("vista_x64_sp1_systeminfo.txt", "6.0.6001", "x64", false, 173, "Windows Vista x64 Edition Service Pack 1")]
    [InlineData("vista_x64_sp2_systeminfo.txt", "6.0.6002", "x64", false, 174, "Windows Vista x64 Edition Service Pack 2")]
    [InlineData("xp_rtm_x86_professional_en-us_systeminfo.txt", "5.1.2600", "x86", false, 2, "Windows XP")]
    [InlineData("xp_sp1_x86_systeminfo.txt", "5.1.2600", "x86", false, 2, "Windows XP Service Pack 1")]
    [InlineData("xp_sp2_x64_systeminfo.txt", "5.2.3790", "x64", false, 83, "Windows XP Professional x64 Edition Service Pack 2")]
    [InlineData("xp_sp2_x86_systeminfo.txt", "5.1.2600", "x86", false, 1, "Windows XP Service Pack 2")]
    [InlineData("xp_sp3_x86_professional_en-us_systeminfo.txt", "5.1.2600", "x86", false, 93, "Windows XP Service Pack 3")]
    public void systeminfo_in_any_language_gives_the_os_its_kbs_and_its_software_release(string file, string version, string arch, bool server, int kbs, string release)
    {
        var os = SystemInfoParser.Parse(SharedData.Bytes(Folder + file));

        Assert.Equal(version, os.Version);
        Assert.Equal(arch, os.Architecture);
        Assert.Equal(server, os.IsServer);
        Assert.Equal(kbs, os.InstalledKbs.Count);
        Assert.All(os.InstalledKbs, kb => Assert.Matches("^(KB|Q)[0-9]+$", kb));
        // The first Windows 11 release also goes by its version-less name of late 2021's catalogs.
        Assert.Equal(os.Build == 22000 ? [release, "Windows 11 for x64-based Systems"] : [release], ProductMap.SoftwareReleases(os));
    }

    /// <summary>
    /// The same computers as <c>systeminfo /fo csv</c> shows them — a header of labels, a row of values, each field's
    /// further lines joined to its cell by commas — read to the same inventory, with and without the header (/nh).
    /// The CSV is written from each real capture (<see cref="SystemInfoAsCsv"/>).
    /// </summary>
    [Fact]
    public void systeminfo_as_csv_reads_as_the_same_capture_as_a_list()
    {
        var files = Directory.GetFiles(Path.Combine(SharedData.Root, Folder), "*_systeminfo*.txt").Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 40, $"{files.Count} captures");
        var read = 0;
        foreach (var file in files)
        {
            var list = InventoryText.Decode(File.ReadAllBytes(file));
            if (SystemInfoAsCsv.Write(list) is not { } csv) continue;
            var expected = SystemInfoParser.Parse(list);
            foreach (var text in new[] { csv.Header + "\r\n" + csv.Values + "\r\n", csv.Values + "\r\n" })
            {
                var actual = SystemInfoParser.Parse(text);
                Assert.Equal((expected.HostName, expected.Caption, expected.Version, expected.Build, expected.ServicePack, expected.Architecture, expected.IsServer, expected.SystemLocale, expected.DeclaredHotfixCount),
                    (actual.HostName, actual.Caption, actual.Version, actual.Build, actual.ServicePack, actual.Architecture, actual.IsServer, actual.SystemLocale, actual.DeclaredHotfixCount));
                Assert.Equal(expected.InstalledKbs, actual.InstalledKbs);
            }
            read++;
        }
        Assert.True(read >= files.Count * 3 / 4, $"{read} of {files.Count} captures written as CSV");
        var two = Assert.Throws<FormatException>(() => SystemInfoParser.Parse("\"Host Name\",\"OS Version\"\n\"A\",\"10.0.19045 N/A Build 19045\"\n\"B\",\"10.0.19045 N/A Build 19045\"\n"));
        Assert.Contains("2 computers", two.Message);
    }

    [Fact]
    public void the_reference_capture_lists_5_kbs_on_build_17763()
    {
        var os = SystemInfoParser.Parse(SharedData.Bytes(Folder + "10_1809_x64_pro_en-us_20190307_systeminfo.txt"));
        Assert.Equal("DESKTOP-LOQ9L09", os.HostName);
        Assert.Equal("Microsoft Windows 10 Pro", os.Caption);
        Assert.Equal(17763, os.Build);
        Assert.Equal("en-us", os.SystemLocale);
        Assert.Equal(["KB4486553", "KB4470788", "KB4480056", "KB4487038", "KB4482887"], os.InstalledKbs);
        Assert.Equal(5, os.DeclaredHotfixCount);
    }

    /// <summary>
    /// The reference capture as an outside checker may change it: its list entries without their indentation or with a
    /// space before the colon, cut in the middle of a KB, from a multi-session Windows ("Member Server"), with a
    /// three-part locale, a C1 control character in its caption, or without its OS version line.
    /// </summary>
    [Fact]
    public void mutations_of_the_reference_capture_read_as_windows_means_them()
    {
        var text = System.Text.Encoding.UTF8.GetString(SharedData.Bytes(Folder + "10_1809_x64_pro_en-us_20190307_systeminfo.txt"));
        string[] kbs = ["KB4486553", "KB4470788", "KB4480056", "KB4487038", "KB4482887"];
        var flush = string.Join("\n", text.Split('\n').Select(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s+\[\d+\]:") ? l.TrimStart() : l));
        Assert.Equal(kbs, SystemInfoParser.Parse(flush).InstalledKbs);
        Assert.Equal(kbs, SystemInfoParser.Parse(System.Text.RegularExpressions.Regex.Replace(text, @"(\[\d+\]):", "$1 :")).InstalledKbs);
        var cut = text[..(text.IndexOf("KB4487038", StringComparison.Ordinal) + 5)];
        Assert.Equal(["KB4486553", "KB4470788", "KB4480056"], SystemInfoParser.Parse(cut).InstalledKbs);

        var multiSession = SystemInfoParser.Parse(text.Replace("Microsoft Windows 10 Pro", "Microsoft Windows 10 Enterprise multi-session")
            .Replace("Standalone Workstation", "Member Server"));
        Assert.False(multiSession.IsServer);
        Assert.True(SystemInfoParser.Parse(text.Replace("Microsoft Windows 10 Pro", "Microsoft Windows Server 2019 Standard").Replace("Standalone Workstation", "Member Server")).IsServer);

        var serbian = System.Text.RegularExpressions.Regex.Replace(text, @"System Locale:\s+\S+;", "System Locale:             sr-latn-rs;");
        Assert.Equal("sr-latn-rs", SystemInfoParser.Parse(serbian).SystemLocale);
        Assert.Equal("Microsoft Windows 10 Pro für Workstations", SystemInfoParser.Parse(text.Replace("Microsoft Windows 10 Pro", "Microsoft Windows 10 Pro f\u0081ür Workstations")).Caption);
        var noVersion = string.Join("\n", text.Split('\n').Where(l => !l.StartsWith("OS Version:", StringComparison.Ordinal)));
        Assert.Throws<FormatException>(() => SystemInfoParser.Parse(noVersion));
        // Cut before its Hotfix(s) list: not "no KB installed".
        Assert.Contains("cut short", Assert.Throws<FormatException>(() => SystemInfoParser.Parse(text[..text.IndexOf("Hotfix(s):", StringComparison.Ordinal)])).Message);
        // None installed, as systeminfo says so (its network cards still listed after it): read.
        var none = System.Text.RegularExpressions.Regex.Replace(text, @"Hotfix\(s\):.*?(?=Network Card)", "Hotfix(s):                 N/A\r\n", System.Text.RegularExpressions.RegexOptions.Singleline);
        Assert.Empty(SystemInfoParser.Parse(none).InstalledKbs);
    }

    /// <summary>
    /// A text value with a line break in it, as reg.exe exports it: a registry file given to Patch is refused naming the
    /// line; the agent's own export leaves that value out and keeps every product (it sent no inventory at all).
    /// </summary>
    [Fact]
    public void a_value_broken_over_lines_is_refused_in_a_file_and_left_out_of_the_agents_own_export()
    {
        var reg = string.Join("\r\n", "Windows Registry Editor Version 5.00", "",
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{Odd}]", "\"DisplayName\"=\"Odd tool\"", "\"Comments\"=\"first line", "[second line] of the comment\"", "",
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{Edge}]", "\"DisplayName\"=\"Microsoft Edge\"", "\"DisplayVersion\"=\"120.0.2210.91\"", "");
        var bytes = System.Text.Encoding.UTF8.GetBytes(reg);
        Assert.Contains("line 5", Assert.Throws<FormatException>(() => RegistryExport.Parse(bytes, "test.reg")).Message);
        var own = RegistryExport.Parse(bytes, "HKLM", skipBadLines: true);
        Assert.Equal(2, own.SkippedLines);
        Assert.Contains(RegistryProducts.Read(own, "x64").Products, p => p.Version == "120.0.2210.91");
    }

    /// <summary>SQL Server on a 32-bit Windows is 32-bit (its instance is not under WOW64 there: it was named x64).</summary>
    [Theory]
    [InlineData("x86", "x86")]
    [InlineData("x64", "x64")]
    public void a_sql_server_instance_has_the_architecture_its_windows_allows(string osArch, string expected)
    {
        var reg = string.Join("\r\n", "Windows Registry Editor Version 5.00", "",
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL]", "\"SQLEXPRESS\"=\"MSSQL12.SQLEXPRESS\"", "",
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Microsoft SQL Server\MSSQL12.SQLEXPRESS\Setup]", "\"Edition\"=\"Express Edition\"", "\"PatchLevel\"=\"12.0.6024.0\"", "");
        var sql = Assert.Single(RegistryProducts.Read(RegistryExport.Parse(System.Text.Encoding.UTF8.GetBytes(reg), "test.reg"), osArch).Products,
            p => p.Family == Patch.Domain.Inventory.Products.ProductFamilies.SqlServer.Id);
        Assert.Equal(expected, sql.Architecture);
    }

    [Fact]
    public void a_blank_or_overlong_product_version_is_no_version_and_the_product_stays()
    {
        var reg = string.Join("\r\n", "Windows Registry Editor Version 5.00", "",
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{Edge}]", "\"DisplayName\"=\"Microsoft Edge\"", "\"DisplayVersion\"=\"\"", "",
            @"[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{Long}]", "\"DisplayName\"=\"Microsoft Edge WebView2 Runtime\"", $"\"DisplayVersion\"=\"{new string('9', 80)}\"", "");
        var read = RegistryProducts.Read(RegistryExport.Parse(System.Text.Encoding.UTF8.GetBytes(reg), "test.reg"), "x64");
        Assert.NotEmpty(read.Products);
        Assert.All(read.Products, p => Assert.Null(p.Version));
    }

    /// <summary>
    /// What cmd.exe writes when systeminfo is redirected: the console's OEM code page, the system locale's — read in it,
    /// not as Latin-1 (which made the French caption "Microsoft Windowsÿ7 Entreprise N" and the Chinese one unreadable).
    /// </summary>
    [Theory]
    [InlineData("7_sp1_x64_enterprise_fr_systeminfo_cmd.txt", "fr", "Microsoft Windows\u00A07 Entreprise N")]
    [InlineData("10_1809_x64_enterprise_zh-cn_systeminfo.txt", "zh-cn", "Microsoft Windows 10 企业版 LTSC")]
    public void a_capture_in_the_consoles_code_page_is_read_in_it(string file, string locale, string caption)
    {
        var os = SystemInfoParser.Parse(SharedData.Bytes(Folder + file));

        Assert.Equal(locale, os.SystemLocale);
        Assert.Equal(caption, os.Caption);
        Assert.DoesNotContain(os.Caption!, c => c is >= '\u0080' and <= '\u009F' or 'ÿ' or '\uFFFD');
    }

    [Fact]
    public void every_systeminfo_capture_in_the_folder_is_covered_above()
    {
        var files = Directory.GetFiles(Path.Combine(SharedData.Root, Folder), "*systeminfo*.txt").Select(f => Path.GetFileName(f)).Order().ToList();
        var covered = typeof(when_reading_real_windows_inventory).GetMethod(nameof(systeminfo_in_any_language_gives_the_os_its_kbs_and_its_software_release))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>().Select(a => (string)a.Data[0]!).Order().ToList();
        Assert.Equal(files, covered);
    }

    [Theory]
    [InlineData("10_1803_x64_proforworkstations_en-us_A_20190305_qfe.txt", 4)]
    [InlineData("10_1803_x64_proforworkstations_en-us_B_20190306_qfe.txt", 0)]
    [InlineData("10_1809_x64_pro_en-us_20190307_qfe.txt", 5)]
    [InlineData("7_sp1_x64_enterprise_en-us_20190305_qfe.txt", 276)]
    [InlineData("7_sp1_x64_enterprise_en-us_B_qfe.txt", 271)]
    [InlineData("srv_2012r2_u1_qfe.txt", 154)]
    [InlineData("srv_2012r2_x64_standard_ru_qfe.txt", 7)]
    [InlineData("vista_x64_sp1_qfe.txt", 173)]
    [InlineData("vista_x64_sp2_qfe.txt", 174)]
    [InlineData("xp_rtm_x86_professional_en-us_qfe.txt", 2)]
    [InlineData("xp_sp1_x86_qfe.txt", 2)]
    [InlineData("xp_sp2_x64_qfe.txt", 150)]
    [InlineData("xp_sp2_x86_qfe.txt", 1)]
    [InlineData("xp_sp3_x86_professional_en-us_qfe.txt", 135)]
    public void wmic_qfe_output_in_utf16_with_and_without_bom_gives_its_hotfix_ids(string file, int count)
    {
        var ids = QfeParser.Parse(SharedData.Bytes(Folder + file));
        Assert.Equal(count, ids.Count);
        Assert.All(ids, id => Assert.Matches("^(KB|Q)[0-9]+$", id));
    }

    /// <summary>
    /// The same hotfixes as <c>wmic qfe list /format:csv</c> (a blank line, then Node and the columns) and PowerShell's
    /// <c>Get-HotFix | Export-Csv</c> (a #TYPE line, quoted cells, HotFixID among other columns) write them: each real
    /// capture's fixed-width table cut at its header's column starts and written as CSV.
    /// </summary>
    [Fact]
    public void the_csv_list_and_json_forms_of_wmic_qfe_and_get_hotfix_give_the_same_ids()
    {
        var files = Directory.GetFiles(Path.Combine(SharedData.Root, Folder), "*_qfe.txt").Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 10, $"{files.Count} captures");
        foreach (var file in files)
        {
            var table = InventoryText.Decode(File.ReadAllBytes(file));
            var expected = QfeParser.Parse(table);
            var lines = InventoryText.Lines(table.Replace("Please wait while WMIC is being installed.", "")).Where(l => l.Trim().Length > 0).ToList();
            var header = lines.FindIndex(l => l.Contains("HotFixID", StringComparison.Ordinal));
            // wmic prints nothing for a computer without hotfixes (one capture here).
            if (header < 0) { Assert.Empty(expected); continue; }
            var starts = System.Text.RegularExpressions.Regex.Matches(lines[header], @"\S+").Select(m => m.Index).ToList();
            string[] Cells(string line) => [.. starts.Select((s, i) => s >= line.Length ? "" : line[s..Math.Min(line.Length, i + 1 < starts.Count ? starts[i + 1] : line.Length)].Trim())];
            var rows = lines.Skip(header + 1).Select(Cells).ToList();
            var names = Cells(lines[header]);
            static string Quoted(string cell) => "\"" + cell.Replace("\"", "\"\"") + "\"";
            var wmicCsv = "\r\n" + string.Join("\r\n", new[] { "Node," + string.Join(',', names) }.Concat(rows.Select(r => "PC," + string.Join(',', r)))) + "\r\n";
            var exportCsv = "#TYPE Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_QuickFixEngineering\r\n" +
                string.Join("\r\n", new[] { string.Join(',', new[] { "PSComputerName" }.Concat(names).Select(Quoted)) }
                    .Concat(rows.Select(r => string.Join(',', new[] { "PC" }.Concat(r).Select(Quoted))))) + "\r\n";
            Assert.Equal(expected, QfeParser.Parse(wmicCsv));
            Assert.Equal(expected, QfeParser.Parse(exportCsv));
            // Export-Csv -UseCulture where the list separator is a semicolon (German, French…).
            Assert.Equal(expected, QfeParser.Parse(exportCsv.Replace("\",\"", "\";\"")));

            // The list forms (wmic qfe list /format:list, Get-HotFix | Format-List) and Get-HotFix | ConvertTo-Json: until
            // stop 46 a list's first HotFixID line was taken for a table's header and nothing was read, in silence.
            var wmicList = string.Concat(rows.Select(r => "\r\n\r\n" + string.Join("\r\n", names.Select((n, i) => $"{n}={r[i]}")))) + "\r\n\r\n\r\n";
            var width = names.Max(n => n.Length) + 1;
            var formatList = string.Concat(rows.Select(r => "\r\n" + string.Join("\r\n", names.Select((n, i) => $"{n.PadRight(width)}: {r[i]}")) + "\r\n"));
            var objects = rows.Select(r => new System.Text.Json.Nodes.JsonObject(names.Select((n, i) => KeyValuePair.Create(n, (System.Text.Json.Nodes.JsonNode?)r[i])))).ToList();
            var json = objects.Count == 1 ? objects[0].ToJsonString() : new System.Text.Json.Nodes.JsonArray([.. objects]).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
            Assert.Equal(expected, QfeParser.Parse(wmicList));
            Assert.Equal(expected, QfeParser.Parse(formatList));
            Assert.Equal(expected, QfeParser.Parse(json));
        }
        Assert.Throws<FormatException>(() => QfeParser.Parse("[{\"Source\": \"PC\"}]"));
        Assert.Throws<FormatException>(() => QfeParser.Parse("[{\"HotFixID\": 5034441}]"));
        Assert.Throws<FormatException>(() => QfeParser.Parse("[{\"HotFixID\": \"KB5034441\""));
        Assert.Equal(["KB5028853", "KB5011048"], QfeParser.Parse(
            "Source        Description      HotFixID      InstalledBy          InstalledOn\r\n" +
            "------        -----------      --------      -----------          -----------\r\n" +
            "DESKTOP-1     Update           KB5028853     NT AUTHORITY\\SYSTEM  8/9/2023 12:00:00 AM\r\n" +
            "DESKTOP-1     Update           KB5011048                          4/14/2022 12:00:00 AM\r\n"));
    }

    [Fact]
    public void the_7_sp1_qfe_capture_lists_276_distinct_kbs_and_agrees_with_its_systeminfo()
    {
        var qfe = QfeParser.Parse(SharedData.Bytes(Folder + "7_sp1_x64_enterprise_en-us_20190305_qfe.txt"));
        var systeminfo = SystemInfoParser.Parse(SharedData.Bytes(Folder + "7_sp1_x64_enterprise_en-us_20190305_systeminfo.txt"));
        Assert.Equal(276, qfe.Count(id => id.StartsWith("KB", StringComparison.Ordinal)));
        Assert.Empty(systeminfo.InstalledKbs.Except(qfe));
    }

    [Fact]
    public void text_that_is_not_systeminfo_or_qfe_is_refused()
    {
        Assert.Throws<FormatException>(() => SystemInfoParser.Parse("hello: world"));
        var table = Assert.Throws<FormatException>(() => SystemInfoParser.Parse(
            "\r\nHost Name        OS Name                    OS Version\r\n================ ========================== ===========================\r\n" +
            "DESKTOP-LOQ9L09  Microsoft Windows 10 Pro   10.0.17763 N/A Build 17763\r\n"));
        Assert.StartsWith("systeminfo /fo table is not read", table.Message);
        Assert.Throws<FormatException>(() => QfeParser.Parse("Caption  Description\nx  y"));
    }
}
