namespace Patch.Domain.Applicability;

/// <summary>
/// What the rule engine evaluates on: the same on the server (from reported inventory) and on the agent (from the
/// live system). <see cref="OsVersion"/> is the full version when known (10.0.19045.3930, with the update build
/// revision), else major.minor.build.
/// </summary>
public sealed record ComputerFacts(
    string OsVersion,
    string Architecture,
    IReadOnlyList<string> Cultures,
    IReadOnlyCollection<string> SoftwareReleases,
    IReadOnlyCollection<string> InstalledKbs)
{
    public Version Version => Version.TryParse(OsVersion, out var v) ? v : new Version(0, 0);

    /// <summary>Whether the version carries the update build revision, so "at or past a fixed build" can be decided.</summary>
    public bool KnowsRevision => Version.Revision >= 0;

    public bool HasKb(string kb) => InstalledKbs.Contains(kb.ToUpperInvariant());
}
