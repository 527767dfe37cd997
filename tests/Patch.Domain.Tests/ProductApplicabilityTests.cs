using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Inventory.Products;

namespace Patch.Domain.Tests;

/// <summary>Products beyond the OS in the engine: keys, fixed builds compared with the right version, and supersedence by release and by build.</summary>
public class when_analysing_products_beyond_the_os
{
    private const string Win11 = "Windows 11 Version 23H2 for x64-based Systems";
    private const string NetFx = "Microsoft .NET Framework 3.5 AND 4.8.1 on Windows 11 Version 23H2 for x64-based Systems";
    private const string Sql = "Microsoft SQL Server 2022 for x64-based Systems (CU 15)";

    private static CatalogUpdate U(string kb, string product, string? subType, string? fixedBuild, DateTimeOffset released) =>
        new($"microsoft:{kb}", kb, new UpdateFacts($"{kb}-x", product, null, "neutral", null, null, null, null, RestartBehavior.Required, null, subType, fixedBuild, null, null, [], null),
            released);

    private static ComputerFacts Pc(params InstalledProduct[] products) =>
        new("10.0.22631.3007", "x64", ["en-US"], [Win11], new HashSet<string>(), products);

    private static readonly InstalledProduct NetFx481 = new(ProductFamilies.NetFramework.Id, "Microsoft .NET Framework 4.8.1", "4.8.1", "test");

    private static Dictionary<string, UpdateState> States(ComputerFacts pc, params CatalogUpdate[] catalog) =>
        UpdateStates.For(catalog, pc).ToDictionary(p => p.Key.BulletinNumber, p => p.Value);

    private static DateTimeOffset Month(int m) => new(2025, m, 14, 17, 0, 0, TimeSpan.Zero);

    [Fact]
    public void later_dotnet_cumulative_updates_supersede_earlier_ones_by_release_and_security_only_never_does()
    {
        var states = States(Pc(NetFx481),
            U("KB1", NetFx, "Security Update", "4.8.1.09200.01", Month(1)),
            U("KB2", NetFx.Replace("  ", " "), "Monthly Rollup", null, Month(3)),
            U("KB3", NetFx, "Security Only", null, Month(4)),
            U("KB4", NetFx, "Security Update", "4.8.1.09321.01", Month(6)),
            U("KB5", NetFx, "Security Only", null, Month(2)));
        Assert.Equal(UpdateState.Superseded, states["KB1"]);
        Assert.Equal(UpdateState.Superseded, states["KB2"]);
        Assert.Equal(UpdateState.Missing, states["KB4"]);
        // Security Only updates are not cumulative: they never supersede and are never contained.
        Assert.Equal(UpdateState.Missing, states["KB3"]);
        Assert.Equal(UpdateState.Missing, states["KB5"]);
    }

    [Fact]
    public void a_dotnet_fixed_build_is_never_compared_with_the_os_version()
    {
        // 4.8.04798.02 parses as a version below 10.0: compared with the OS it would read "installed".
        var states = States(Pc(NetFx481), U("KB1", NetFx, "Security Update", "4.8.04798.02", Month(1)));
        Assert.Equal(UpdateState.Missing, states["KB1"]);
    }

    [Fact]
    public void a_dotnet_fixed_build_naming_the_os_build_is_compared_with_the_os()
    {
        var pc = new ComputerFacts("10.0.14393.8519", "x64", [], ["Windows Server 2016"], new HashSet<string>(),
            [new InstalledProduct(ProductFamilies.NetFramework.Id, "Microsoft .NET Framework 4.8", "4.8", "test")]);
        var states = States(pc, U("KB1", "Microsoft .NET Framework 4.8 on Windows Server 2016", "Security Update", "10.0.14393.8519", Month(1)));
        Assert.Equal(UpdateState.Installed, states["KB1"]);
    }

    [Theory]
    [InlineData("16.0.4135.4", "Missing")]
    [InlineData("16.0.4150.1", "Installed")]
    [InlineData("16.0.4175.1", "Installed")]
    public void a_sql_server_fixed_build_is_compared_with_the_instance_patch_level(string patchLevel, string expected)
    {
        var pc = Pc(new InstalledProduct(ProductFamilies.SqlServer.Id, "Microsoft SQL Server 2022 (MSSQLSERVER)", patchLevel, "test", Architecture: "x64"));
        Assert.Equal(Enum.Parse<UpdateState>(expected), States(pc, U("KB1", Sql, "Security Update", "16.0.4150.1", Month(1)))["KB1"]);
    }

    [Fact]
    public void a_later_sql_server_package_of_the_same_branch_supersedes_the_earlier_one()
    {
        var pc = Pc(new InstalledProduct(ProductFamilies.SqlServer.Id, "Microsoft SQL Server 2022 (MSSQLSERVER)", "16.0.4135.4", "test", Architecture: "x64"));
        var states = States(pc,
            U("KB1", Sql, "Security Update", "16.0.4150.1", Month(1)),
            U("KB2", "Microsoft SQL Server 2022 for x64-based Systems (CU 20)", "Security Update", "16.0.4212.1", Month(9)),
            U("KB3", "Microsoft SQL Server 2022 for x64-based Systems (GDR)", "Security Update", "16.0.1150.1", Month(9)));
        Assert.Equal(UpdateState.Superseded, states["KB1"]);
        Assert.Equal(UpdateState.Missing, states["KB2"]);
        Assert.Equal(UpdateState.NotApplicable, states["KB3"]);
    }

    [Fact]
    public void a_version_less_precise_than_the_fixed_build_decides_nothing()
    {
        var pc = Pc(new InstalledProduct(ProductFamilies.VisualStudio.Id, "Microsoft Visual Studio 2022 version 17.10", "17.10", "test"));
        var states = States(pc, U("KB1", "Microsoft Visual Studio 2022 version 17.10", "Security Update", "17.10.12", Month(1)));
        Assert.Equal(UpdateState.Missing, states["KB1"]);
    }

    [Theory]
    [InlineData("Windows Server 2016  (Server Core installation)", "windows server 2016 (server core installation)")]
    [InlineData("Microsoft .NET Framework 4.6.2/4.7/4.7.1/4.7.2 on Windows Server 2016", "netfx|4.6.2|windows server 2016,netfx|4.7|windows server 2016,netfx|4.7.1|windows server 2016,netfx|4.7.2|windows server 2016")]
    [InlineData("Microsoft .NET Framework 3.5 AND 4.8 on Windows 10 Version 1809 for x64-based Systems", "netfx|4.8|windows 10 version 1809 for x64-based systems")]
    [InlineData("Microsoft .NET Framework 2.0 Service Pack 2 on Windows Vista Service Pack 2", "netfx|2.0 sp2|windows vista service pack 2")]
    [InlineData("Microsoft SQL Server 2014 Service Pack 3 for x64-based Systems (CU 4)", "sql|2014|sp3|x64|cu")]
    [InlineData("Microsoft SQL Server 2016 for x64-based Systems Service Pack 3 Azure Connect Feature Pack", "sql|2016|sp3|x64|acfp")]
    [InlineData("Microsoft Visual Studio 2019 version 16.11 (includes 16.0 - 16.10)", "vs|16.0,vs|16.1,vs|16.2,vs|16.3,vs|16.4,vs|16.5,vs|16.6,vs|16.7,vs|16.8,vs|16.9,vs|16.10,vs|16.11")]
    [InlineData("Microsoft Visual Studio 2017 version 15.7.5", "vs|15.7")]
    public void a_catalog_name_has_the_keys_of_what_it_patches(string name, string keys) =>
        Assert.Equal(keys.Split(','), ProductKeys.OfCatalogName(name));

    [Theory]
    [InlineData("Microsoft SQL Server 2022 for x64-based Systems (CU 15)", "sqlserver")]
    [InlineData("Microsoft Excel 2016 for Mac", "other")]
    [InlineData("Microsoft Office LTSC 2024 for 64-bit editions", "office")]
    [InlineData("Windows 10 HLK version 21H2", "other")]
    [InlineData("Windows Server, version 20H2 (Server Core Installation)", "windows")]
    [InlineData("Microsoft Exchange Server 2019 Cumulative Update 14", "exchange")]
    [InlineData("Microsoft SharePoint Enterprise Server 2016", "sharepoint")]
    [InlineData("cbl2 kernel 5.15.112.1-2 on CBL Mariner 2.0", "other")]
    public void a_catalog_name_belongs_to_its_family(string name, string family) => Assert.Equal(family, ProductFamilies.Of(name).Id);
}
