namespace Patch.Domain.Agents;

/// <summary>What an agent reports about its computer.</summary>
public sealed record AgentInventory(
    string OsCaption,
    string OsVersion,
    string Architecture,
    int ServicePack,
    bool IsServer,
    IReadOnlyList<string> Cultures,
    IReadOnlyList<string> SoftwareReleases,
    IReadOnlyList<string> InstalledKbs,
    string AgentVersion,
    string? InstallationType = null,
    IReadOnlyList<Inventory.Products.InstalledProduct>? Products = null)
{
    /// <summary>Every problem with a reported inventory, as "field: problem".</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(OsCaption) || OsCaption.Length > 256 || OsCaption.Any(char.IsControl)) problems.Add("osCaption: 1 to 256 characters, no control characters");
        if (!Version.TryParse(OsVersion, out var v) || v.Build < 0) problems.Add($"osVersion: '{Users.UserDecisions.Printable(OsVersion)}' is not a version like 10.0.19045 or 10.0.19045.3930");
        if (Architecture is not ("x64" or "x86" or "arm64" or "ia64")) problems.Add($"architecture: '{Users.UserDecisions.Printable(Architecture)}' is not one of x64, x86, arm64, ia64");
        if (ServicePack is < 0 or > 9) problems.Add("servicePack: 0 to 9");
        if (Cultures is null || Cultures.Count > 50) problems.Add("cultures: up to 50 names like en-US");
        else if (Cultures.FirstOrDefault(c => !CultureNames.IsName(c)) is { } culture) problems.Add($"cultures: '{Users.UserDecisions.Printable(culture ?? "null")}' is not a culture name like en-US");
        if (SoftwareReleases is null || SoftwareReleases.Count > 5000 || SoftwareReleases.Any(r => string.IsNullOrWhiteSpace(r) || r.Length > 256 || r.Any(char.IsControl)))
            problems.Add("softwareReleases: up to 5000 names of at most 256 characters, no control characters");
        if (InstalledKbs is null) problems.Add("installedKbs: required (an empty list when none)");
        else if (InstalledKbs.Count > 20000) problems.Add($"installedKbs: {InstalledKbs.Count} ids, at most 20000");
        else if (FirstBadKb(InstalledKbs) is { } at)
            problems.Add($"installedKbs[{at}]: '{Users.UserDecisions.Printable(InstalledKbs[at] ?? "null")}' is not an id like KB5034441");
        if (!Version.TryParse(AgentVersion, out _)) problems.Add($"agentVersion: '{Users.UserDecisions.Printable(AgentVersion)}' is not a version");
        // An empty value is none (an empty registry value); a long one is no installation type.
        if (InstallationType is { } installation && (installation.Length > 64 || installation.Any(char.IsControl)))
            problems.Add("installationType: at most 64 characters (Client, Server, Server Core…), no control characters");
        if (Products is { Count: > Inventory.Products.InstalledProduct.MaxProducts }) problems.Add($"products: at most {Inventory.Products.InstalledProduct.MaxProducts}");
        else if (Products is not null)
            problems.AddRange(Products.SelectMany((p, i) => p is null ? [$"products[{i}]: null"] : p.Problems(i)).Take(20));
        return problems;
    }

    private static readonly System.Text.RegularExpressions.Regex KbId = new("^(KB|Q)[0-9]{4,8}$", System.Text.RegularExpressions.RegexOptions.IgnoreCase);

    private static int? FirstBadKb(IReadOnlyList<string> kbs)
    {
        for (var i = 0; i < kbs.Count; i++)
            if (kbs[i] is null || !KbId.IsMatch(kbs[i])) return i;
        return null;
    }

    /// <summary>The same inventory in a canonical order, so a resend compares equal.</summary>
    public AgentInventory Normalized() => this with
    {
        OsCaption = OsCaption.Trim(),
        InstallationType = string.IsNullOrWhiteSpace(InstallationType) ? null : InstallationType.Trim(),
        Cultures = Cultures.Select(c => c.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList(),
        SoftwareReleases = SoftwareReleases.Select(r => r.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList(),
        InstalledKbs = InstalledKbs.Select(k => k.Trim().ToUpperInvariant()).Distinct().Order(StringComparer.Ordinal).ToList(),
        Products = Products is null ? null
            : Products.Select(p => p with { Name = p.Name.Trim(), Version = p.Version?.Trim(), Source = p.Source.Trim() }).Distinct()
                .OrderBy(p => p.Family, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ThenBy(p => p.Version, StringComparer.Ordinal)
                .ThenBy(p => p.Source, StringComparer.Ordinal).ToList(),
    };
}

public static class InventoryFacts
{
    /// <summary>The software releases a computer has: those the agent reports plus its operating system's, mapped by <see cref="Inventory.ProductMap"/>.</summary>
    public static IReadOnlyList<string> SoftwareReleases(AgentInventory inventory) =>
        inventory.SoftwareReleases.Concat(OsReleases(inventory)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    /// <summary>The operating system's release names (the Server Core release on a Server Core installation).</summary>
    public static IReadOnlyList<string> OsReleases(AgentInventory inventory)
    {
        var version = Version.TryParse(inventory.OsVersion, out var v) ? v : new Version(0, 0, 0);
        var os = new Inventory.OsInventory(null, inventory.OsCaption, $"{version.Major}.{version.Minor}.{Math.Max(version.Build, 0)}", Math.Max(version.Build, 0),
            inventory.ServicePack, inventory.Architecture, inventory.IsServer, null, inventory.InstalledKbs, null);
        var mapped = Inventory.ProductMap.SoftwareReleases(os);
        // A Server Core installation is its own software release in Microsoft's catalogs.
        return inventory.IsServer && string.Equals(inventory.InstallationType, "Server Core", StringComparison.OrdinalIgnoreCase)
            ? mapped.Select(Inventory.ProductMap.ServerCore).ToList() : mapped;
    }

    /// <summary>The Microsoft products of the computer: those the agent read, plus those inferred from the OS build (<see cref="Inventory.Products.InferredProducts"/>).</summary>
    public static IReadOnlyList<Inventory.Products.InstalledProduct> Products(AgentInventory inventory) =>
        [.. inventory.Products ?? [], .. Inventory.Products.InferredProducts.For(inventory)];

    /// <summary>What lists and targets show as the computer's products: its releases and the names of its products.</summary>
    public static IReadOnlyList<string> ProductNames(AgentInventory inventory) =>
        SoftwareReleases(inventory).Concat(Products(inventory).Select(p => p.Name)).Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    public static Applicability.ComputerFacts Of(AgentInventory inventory) =>
        new(inventory.OsVersion, inventory.Architecture, inventory.Cultures, SoftwareReleases(inventory), inventory.InstalledKbs.ToHashSet(StringComparer.OrdinalIgnoreCase),
            Products(inventory));
}
