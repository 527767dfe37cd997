using Patch.Application.Catalog.Formats;
using Patch.Application.Common;
using Patch.Domain.Catalog;

namespace Patch.Application.Catalog;

/// <summary>Reading an import's document: its format, its size, its text.</summary>
public sealed partial class CatalogImporter
{
    /// <summary>The document read now: its content — or its refusal, thrown again — when asked.</summary>
    private Func<Content> ReadNow(string format, ImportCatalog command)
    {
        try
        {
            var content = Read(format, command);
            return () => content;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var refusal = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            return () => { refusal.Throw(); throw e; };
        }
    }

    /// <summary>The document read and checked: a vendor catalog or a KEV list.</summary>
    private sealed record Content(CatalogDocument? Catalog, KevDocument? Kev);

    private Content Read(string format, ImportCatalog command)
    {
        try
        {
            return ReadChecked(format, command);
        }
        catch (InvalidOperationException) when (CvrfCatalogReader.IsJson(command.Content))
        {
            // A JSON string a reader could not make text of: a \u escape of half a character (an unpaired surrogate), named by its place.
            JsonControlEscapes.Refuse(command.Content);
            throw new CatalogFormatException("Invalid text", "A \\u escape in a string is not a character (an unpaired surrogate).", "body");
        }
    }

    private Content ReadChecked(string format, ImportCatalog command)
    {
        // Its own span inside the import's: a recognised re-import has none (the document is not read).
        using var activity = PatchTelemetry.Source.StartActivity("catalog.read");
        activity?.SetTag("patch.catalog.format", format);
        activity?.SetTag("patch.catalog.bytes", command.Content.Length);
        if (!CatalogFormats.All.Contains(format))
            throw new CatalogFormatException("Unknown format", $"Format '{command.Format}' is not one of {string.Join(", ", CatalogFormats.All)}.", "format");
        if (command.Content.Length == 0) throw new CatalogFormatException("Empty file", "The catalog file is empty.", "body");
        if (command.Content.Length > options.MaxBytes)
            throw new CatalogFormatException("Catalog file too large",
                $"The file has {command.Content.Length} bytes; the limit (Patch:Import:MaxBytes) is {options.MaxBytes}.", "body");
        var bytes = CatalogContainer.Open(command.Content, options.MaxBytes);
        CatalogContainer.ExpectSyntax(bytes, format);

        if (format == "cvrf")
        {
            var cvrf = CvrfCatalogReader.Read(bytes);
            // The Security Update Guide's feed asked for one document: another (a proxy's cache, a redirect to a neighbour)
            // would be recorded as the one asked for, and the one asked for never imported.
            if (command.Source?.GetValueOrDefault("msrcId") is { } asked && !string.Equals(cvrf.DocumentId, asked, StringComparison.OrdinalIgnoreCase))
                throw CvrfDocumentId.Mismatch(cvrf.DocumentId, asked);
            CheckText(cvrf, bytes);
            CatalogDates.Check(cvrf, time.GetUtcNow());
            return new Content(cvrf, null);
        }
        // The buffer visible, so the JSON readers check and parse the bytes where they lie rather than a copy.
        using var stream = new MemoryStream(bytes, 0, bytes.Length, writable: false, publiclyVisible: true);
        if (format == "kev")
        {
            var kev = KevCatalogReader.Read(stream);
            CheckText(kev, bytes);
            CatalogDates.Check(kev, time.GetUtcNow());
            return new Content(null, kev);
        }
        var document = format switch
        {
            "mssecure" => MssecureCatalogReader.Read(stream),
            _ => PatchCatalogReader.Read(stream),
        };
        CheckText(document, bytes);
        CatalogDates.Check(document, time.GetUtcNow());
        return new Content(document, null);
    }

    /// <summary>
    /// No control character in the text read (named by its place in the catalog), nor — a JSON document — in a text it
    /// holds that Patch does not read (named by its JSON path). XML allows none, and the KEV CSV reader checks every cell.
    /// </summary>
    private static void CheckText(object read, byte[] bytes)
    {
        // A CVRF document in JSON is named by its own path ($.Vulnerability[0].CVE): its mapping folds texts into others (a
        // CVE into the bulletin's description). Patch's and KEV's JSON map field to field, and name the bulletin and update.
        var json = CvrfCatalogReader.IsJson(bytes);
        if (json && read is CatalogDocument { Format: "cvrf" }) JsonControlEscapes.Refuse(bytes);
        CatalogText.Check(read);
        if (json) JsonControlEscapes.Refuse(bytes);
    }
}
