using Patch.Api.Tests.Infrastructure;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Applicability;
using Patch.Domain.Inventory;

namespace Patch.Api.Tests.Inventory;

/// <summary>The rule engine on real Microsoft catalogs and real Windows captures.</summary>
public class when_analysing_real_computers_against_real_catalogs
{
    private static readonly Lazy<IReadOnlyList<CatalogUpdate>> Catalog = new(() =>
        new[] { SharedData.Cvrf2023, SharedData.Cvrf2024 }.SelectMany(f =>
        {
            using var stream = SharedData.Open(f);
            return CvrfCatalogReader.Read(stream).Bulletins.SelectMany(b => b.Updates.Select(u => new CatalogUpdate(b.StreamId, b.Facts.Number, u)));
        }).ToList());

    private static ComputerFacts Facts(string capture)
    {
        var os = SystemInfoParser.Parse(SharedData.Bytes("windows-inventory/wesng-validation/" + capture));
        return new ComputerFacts(os.Version, os.Architecture, os.SystemLocale is null ? [] : [os.SystemLocale], ProductMap.SoftwareReleases(os), os.InstalledKbs.ToHashSet());
    }

    [Theory]
    [InlineData("srv_2019_rtm_datacenter_en-us_systeminfo.txt", "Windows Server 2019")]
    [InlineData("10_22H2_x64_enterprise_en-us_systeminfo.txt", "Windows 10 Version 22H2 for x64-based Systems")]
    [InlineData("11_23H2_x64_enterprise_systeminfo.txt", "Windows 11 Version 23H2 for x64-based Systems")]
    public void of_the_cumulative_updates_only_the_newest_is_missing_the_older_are_superseded(string capture, string release)
    {
        var states = UpdateStates.For(Catalog.Value, Facts(capture));

        var mine = states.Where(s => s.Key.Update.Product == release).ToList();
        Assert.NotEmpty(mine);
        Assert.All(states.Where(s => s.Key.Update.Product != release), s => Assert.Equal(UpdateState.NotApplicable, s.Value));
        var cumulative = mine.Where(s => Version.TryParse(s.Key.Update.FixedBuild, out var v) && v.Revision >= 0).ToList();
        var newest = cumulative.Max(s => Version.Parse(s.Key.Update.FixedBuild!));
        Assert.All(cumulative, s => Assert.Equal(Version.Parse(s.Key.Update.FixedBuild!) == newest ? UpdateState.Missing : UpdateState.Superseded, s.Value));
        Assert.Contains(mine, s => s.Value == UpdateState.Missing);
    }

    [Fact]
    public void a_2024_server_2019_cumulative_update_found_in_the_inventory_is_installed_and_its_predecessors_superseded()
    {
        var facts = Facts("srv_2019_rtm_datacenter_en-us_systeminfo.txt");
        var jan2024 = Catalog.Value.First(c => c.Update.Product == "Windows Server 2019" && c.BulletinNumber == "KB5034127");
        var states = UpdateStates.For(Catalog.Value, facts with { InstalledKbs = facts.InstalledKbs.Append("KB5034127").ToHashSet() });
        Assert.Equal(UpdateState.Installed, states[jan2024]);
        Assert.DoesNotContain(states, s => s.Key.Update.Product == "Windows Server 2019" && s.Key.Update.FixedBuild?.StartsWith("10.0.17763.") == true && s.Value == UpdateState.Missing);
    }
}
