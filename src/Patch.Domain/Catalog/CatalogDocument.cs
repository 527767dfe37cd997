namespace Patch.Domain.Catalog;

/// <summary>One bulletin as an importer read it from a vendor file, with its updates.</summary>
public sealed record ImportedBulletin(BulletinFacts Facts, IReadOnlyList<UpdateFacts> Updates)
{
    public string StreamId => StreamIds.Bulletin(Facts.Vendor, Facts.Number);
}

/// <summary>Something in a vendor file that was deliberately not imported, and why.</summary>
public sealed record SkippedEntry(string Reason, string Item, int Count);

/// <summary>
/// A parsed vendor catalog: every bulletin in it, what was skipped, and the vulnerabilities of products fixed without a
/// KB (recorded as facts, never as bulletins).
/// </summary>
public sealed record CatalogDocument(string Format, string? DocumentId, IReadOnlyList<ImportedBulletin> Bulletins, IReadOnlyList<SkippedEntry> Skipped,
    IReadOnlyList<Vulnerabilities.ProductVulnerabilityFacts>? ProductVulnerabilities = null);
