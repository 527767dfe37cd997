using System.Text.Json;
using Patch.Application.Catalog.Formats;
using Patch.Domain.Inventory;
using Patch.Domain.Inventory.Products;
using Patch.Domain.Rules;

namespace Patch.Api.Tests.Fuzzing;

/// <summary>
/// Every parser of outside input, fed mutations of real documents: each case is either read or refused with the parser's
/// own refusal that names the problem; any other exception is a defect (the server would answer 500 or the agent would stop).
/// </summary>
public class when_parsers_read_mutated_real_documents
{
    private static string Describe((int Seed, Mutation[] Changes) c) => $"seed document {c.Seed}, mutations {string.Join(", ", c.Changes.Select(m => m.ToString()))}";

    private static Task Catalog(string target, Lazy<byte[][]> seeds, Shape shape, Func<Stream, object> read) =>
        Fuzz.Run(target, Mutations.Of(seeds.Value.Length), c =>
        {
            var bytes = Mutations.Apply(seeds.Value[c.Seed], c.Changes, shape);
            try
            {
                // What the importer does before it writes anything: read, then refuse control characters in any text.
                CatalogText.Check(read(new MemoryStream(bytes)));
                return "accepted";
            }
            catch (CatalogFormatException e)
            {
                Fuzz.Names(e.Title, target);
                Fuzz.Names(e.Detail, target);
                return "refused: " + e.Title;
            }
        }, Describe);

    [Fact] public Task cvrf() => Catalog("cvrf reader", FuzzSeeds.Cvrf, Shape.Xml, CvrfCatalogReader.Read);

    /// <summary>The MSRC API's JSON form, read by what the importer calls (the form told apart by the first character).</summary>
    [Fact]
    public Task cvrf_json() => Catalog("cvrf json reader", FuzzSeeds.CvrfJson, Shape.Json, s =>
    {
        using var bytes = new MemoryStream();
        s.CopyTo(bytes);
        return CvrfCatalogReader.Read(bytes.ToArray());
    });

    /// <summary>The compressed bytes mutated: opened (or refused as gzip) before the CVRF reader sees them.</summary>
    [Fact]
    public Task cvrf_gzip() => Catalog("cvrf gzip", FuzzSeeds.CvrfGzip, Shape.Text, s =>
    {
        using var bytes = new MemoryStream();
        s.CopyTo(bytes);
        return CvrfCatalogReader.Read(CatalogContainer.Open(bytes.ToArray(), 64L << 20));
    });

    /// <summary>
    /// The CVRF reader in pieces (ADR 0047) against the single pass, on mutations of a modern document split in four: the
    /// same document, or the same refusal with the same place — a mutation that moves, breaks or fakes a split point
    /// included.
    /// </summary>
    [Fact]
    public async Task cvrf_in_pieces_reads_what_the_whole_reads()
    {
        var tally = await Fuzz.Run("cvrf reader in pieces", Mutations.Of(FuzzSeeds.CvrfModern.Value.Length), c =>
        {
            var bytes = Mutations.Apply(FuzzSeeds.CvrfModern.Value[c.Seed], c.Changes, Shape.Xml);
            var inPieces = false;
            var whole = Outcome(() => CvrfCatalogReader.Read(new MemoryStream(bytes)));
            var pieces = Outcome(() =>
            {
                var read = CvrfCatalogReader.ReadInPieces(bytes, 4, 64 * 1024);
                inPieces = read is not null;
                return read ?? CvrfCatalogReader.Read(new MemoryStream(bytes));
            });
            if (whole != pieces) throw new Xunit.Sdk.XunitException($"in pieces: {pieces[..Math.Min(300, pieces.Length)]}\nwhole: {whole[..Math.Min(300, whole.Length)]}");
            var label = whole.StartsWith("accepted", StringComparison.Ordinal) ? "accepted" : whole[..whole.IndexOf(" | ", StringComparison.Ordinal)];
            return inPieces ? label : label + " (read whole)";
        }, Describe);
        // Most mutations break the XML (the pieces fail, the document is read whole and refused); one case in ten or so
        // stays well-formed and is read in pieces — those must have been read, not only the fallback.
        Assert.True(tally.Outcomes.Where(o => !o.Key.EndsWith("(read whole)", StringComparison.Ordinal)).Sum(o => o.Value) >= tally.Total / 20,
            string.Join(", ", tally.Outcomes.Select(o => $"{o.Key}: {o.Value}")));
    }

    private static string Outcome(Func<Patch.Domain.Catalog.CatalogDocument> read)
    {
        try
        {
            return "accepted " + JsonSerializer.Serialize(read());
        }
        catch (CatalogFormatException e)
        {
            return $"refused: {e.Title} | {e.Detail} | {e.Place}";
        }
    }

    [Fact] public Task mssecure() => Catalog("mssecure reader", FuzzSeeds.Mssecure, Shape.Xml, MssecureCatalogReader.Read);

    [Fact] public Task patch_json() => Catalog("patch catalog reader", FuzzSeeds.Patch, Shape.Json, PatchCatalogReader.Read);

    [Fact] public Task kev() => Catalog("kev reader", FuzzSeeds.Kev, Shape.Json, KevCatalogReader.Read);

    [Fact] public Task kev_csv() => Catalog("kev csv reader", FuzzSeeds.KevCsv, Shape.Text, KevCatalogReader.Read);

    private static Task Refusing<T>(string target, Lazy<byte[][]> seeds, Shape shape, Func<byte[], T> parse, Action<T>? check = null) =>
        Fuzz.Run(target, Mutations.Of(seeds.Value.Length), c =>
        {
            var bytes = Mutations.Apply(seeds.Value[c.Seed], c.Changes, shape);
            try
            {
                var parsed = parse(bytes);
                check?.Invoke(parsed);
                return "accepted";
            }
            catch (FormatException e)
            {
                Fuzz.Names(e.Message, target);
                return "refused";
            }
        }, Describe);

    [Fact]
    public Task systeminfo_in_any_language_and_encoding() => Refusing("systeminfo parser", FuzzSeeds.SystemInfo, Shape.Text, SystemInfoParser.Parse, os =>
    {
        // What the agent sends must be text the server can store.
        foreach (var text in new[] { os.Caption, os.Version, os.Architecture }.Concat(os.InstalledKbs))
            Assert.False(text is not null && text.Any(ch => ch < ' ' && ch is not ('\t' or '\n' or '\r')), $"a control character in a parsed value: {text}");
    });

    [Fact] public Task wmic_qfe() => Refusing("wmic qfe parser", FuzzSeeds.Qfe, Shape.Text, QfeParser.Parse);

    [Fact]
    public Task registry_exports() => Refusing("registry export parser", FuzzSeeds.Registry, Shape.Text, b => RegistryProducts.Read(RegistryExport.Parse(b, "fuzz.reg"), "x64"), found =>
    {
        // Products the agent reports must be text the server takes.
        foreach (var p in found.Products)
            foreach (var text in new[] { p.Name, p.Version, p.Family, p.Source, p.Architecture })
                Assert.False(text is not null && text.Any(ch => ch < ' '), $"a control character in a product's text: {text}");
    });

    [Fact]
    public Task vswhere_json() => Refusing("vswhere parser", FuzzSeeds.Vswhere, Shape.Json, b => VisualStudioInstances.Parse(System.Text.Encoding.UTF8.GetString(b), "vswhere.json"));

    [Fact]
    public Task the_rule_language() => Fuzz.Run("rule language", Mutations.Of(FuzzSeeds.Rules.Value.Length), c =>
    {
        var bytes = Mutations.Apply(FuzzSeeds.Rules.Value[c.Seed], c.Changes, Shape.Json);
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException) { return "not JSON"; }
        using (document)
        {
            try
            {
                var canonical = RuleSyntax.Canonical(document.RootElement, "$.rule");
                // A canonical rule reads back as itself.
                using var again = JsonDocument.Parse(canonical);
                Assert.Equal(canonical, RuleSyntax.Canonical(again.RootElement, "$.rule"));
                return "accepted";
            }
            catch (FormatException e)
            {
                Assert.StartsWith("$.rule", Fuzz.Names(e.Message, "rule language"));
                return "refused";
            }
        }
    }, Describe);

    [Fact]
    public Task the_computer_csv() => Fuzz.Run("computer csv", Mutations.Of(FuzzSeeds.ComputersCsv.Value.Length), c =>
    {
        var bytes = Mutations.Apply(FuzzSeeds.ComputersCsv.Value[c.Seed], c.Changes, Shape.Text);
        var (text, encoding) = Patch.Application.Computers.ComputerCsv.Decode(new MemoryStream(bytes));
        if (encoding is not null) { Fuzz.Names(encoding, "computer csv"); return "refused: not UTF-8"; }
        var csv = Patch.Application.Computers.ComputerCsv.Parse(text!);
        if (csv.Error is not null) { Fuzz.Names(csv.Error, "computer csv"); return "refused"; }
        Assert.NotNull(csv.Rows);
        return "accepted";
    }, Describe);
}
