using System.Text.Json;
using Patch.Domain.Rules;
using Patch.Domain.Vulnerabilities;

namespace Patch.Domain.Tests;

public class when_checking_rules
{
    private static string Canonical(string json) => RuleSyntax.Canonical(JsonDocument.Parse(json).RootElement, "$.rule");

    [Fact]
    public void a_valid_rule_is_stored_compactly() =>
        Assert.Equal("""{"all":[{"product":"Windows 11"},{"not":{"kbInstalled":"KB1"}},{"osBuildAtLeast":"10.0.22631"}]}""",
            Canonical("""{ "all": [ { "product": "Windows 11" }, { "not": { "kbInstalled": "KB1" } }, { "osBuildAtLeast": "10.0.22631" } ] }"""));

    [Theory]
    [InlineData("[]", "$.rule: a rule must be an object")]
    [InlineData("{}", "$.rule: a rule must have exactly one key, found 0")]
    [InlineData("""{"any":[]}""", "$.rule.any: must be a non-empty array of rules")]
    [InlineData("""{"all":[{"product":""}]}""", "$.rule.all[0].product: must be a non-empty string")]
    [InlineData("""{"osBuildBelow":"x"}""", "$.rule.osBuildBelow: 'x' is not a build number like 10.0.19045.3803")]
    [InlineData("""{"wmi":"select"}""", "$.rule.wmi: unknown rule 'wmi'")]
    public void an_invalid_rule_names_its_path(string json, string message) =>
        Assert.StartsWith(message, Assert.Throws<FormatException>(() => Canonical(json)).Message);
}

public class when_cisa_lists_a_known_exploited_vulnerability
{
    private static readonly KnownExploitedFacts Alpc = new("CVE-2023-21674", "Microsoft", "Windows", "ALPC", new DateOnly(2023, 1, 10), new DateOnly(2023, 1, 31), "Apply updates", "Unknown", null);

    [Fact]
    public void the_first_listing_starts_the_stream_and_a_repeat_appends_nothing()
    {
        var listed = Assert.IsType<KnownExploitedVulnerabilityListed>(Assert.Single(KnownExploitedVulnerability.Decide(null, Alpc, "2025.08.25")));
        var state = KnownExploitedVulnerability.Create(listed);
        Assert.Equal("cve:CVE-2023-21674", state.Id);
        Assert.Empty(KnownExploitedVulnerability.Decide(state, Alpc, "2025.09.01"));
    }

    [Fact]
    public void a_changed_ransomware_flag_is_a_revision()
    {
        var state = KnownExploitedVulnerability.Create(new KnownExploitedVulnerabilityListed(Alpc.Cve, Alpc, "1"));
        var revised = Assert.IsType<KnownExploitedVulnerabilityRevised>(Assert.Single(KnownExploitedVulnerability.Decide(state, Alpc with { RansomwareUse = "Known" }, "2")));
        Assert.Equal("ransomwareUse", Assert.Single(revised.Changes).Field);
    }

    /// <summary>Yesterday's catalog imported after today's rolls nothing back (KEV versions are dates).</summary>
    [Fact]
    public void an_older_catalog_rolls_nothing_back()
    {
        var state = KnownExploitedVulnerability.Create(new KnownExploitedVulnerabilityListed(Alpc.Cve, Alpc with { RansomwareUse = "Known" }, "2025.09.02"));
        Assert.Empty(KnownExploitedVulnerability.Decide(state, Alpc with { RansomwareUse = "Unknown" }, "2025.09.01"));
        Assert.Single(KnownExploitedVulnerability.Decide(state, Alpc with { RansomwareUse = "Unknown" }, "2025.09.03"));
    }
}
