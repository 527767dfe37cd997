using System.IO.Compression;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// What a catalog file comes in: as it is, or gzip-compressed (the MSRC archive's <c>2025-Jun.xml.gz</c>, a feed served
/// compressed), opened here before any format reads it. An archive of several files (a cabinet such as MBSA's
/// mssecure.cab, a ZIP) is refused naming what to extract: which file inside it is the catalog is the administrator's call.
/// </summary>
public static class CatalogContainer
{
    public static byte[] Open(byte[] content, long maxBytes)
    {
        if (content.AsSpan().StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
        {
            var opened = Gunzip(content, maxBytes);
            if (opened.AsSpan().StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
                throw new CatalogFormatException("Compressed twice", "The gzip-compressed file holds another gzip stream: decompress it once and import that file.", "byte 1");
            return opened;
        }
        if (content.AsSpan().StartsWith("MSCF"u8)) throw Cabinet(content);
        if (content.AsSpan().StartsWith("PK\u0003\u0004"u8))
            throw new CatalogFormatException("ZIP archive", $"This is a ZIP archive{Holding(ZipNames(content))}: extract the catalog file inside it and import that file.", "byte 1");
        return content;
    }

    /// <summary>
    /// A cabinet refused naming the files it holds (its CFFILE entries, read without decompressing anything) and how to
    /// extract the catalog among them; a cabinet with nothing Patch reads (no .xml, .json or .csv) is said to be so.
    /// </summary>
    private static CatalogFormatException Cabinet(byte[] content)
    {
        var names = CabinetNames(content);
        var catalog = names.FirstOrDefault(n => n.EndsWith(".xml", StringComparison.OrdinalIgnoreCase) || n.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            || n.EndsWith(".csv", StringComparison.OrdinalIgnoreCase));
        var holds = Holding(names);
        if (names.Count > 0 && catalog is null)
            return new CatalogFormatException("Cabinet file",
                $"This is a Microsoft cabinet (.cab){holds}: none of them is a catalog Patch reads (CVRF or mssecure XML, Patch or KEV JSON, KEV CSV).", "byte 1");
        var file = catalog ?? "mssecure.xml";
        return new CatalogFormatException("Cabinet file",
            $"This is a Microsoft cabinet (.cab){holds}, such as MBSA's mssecure.cab: import the catalog inside it. Extract it first " +
            $"(Windows: expand file.cab -F:{file} .; Debian: cabextract -F {file} file.cab) and import {file}.", "byte 1");
    }

    private static string Holding(List<string> names) =>
        names.Count == 0 ? "" : $" holding {string.Join(", ", names.Take(8))}{(names.Count > 8 ? $" and {names.Count - 8} more" : "")}";

    /// <summary>The names of a ZIP archive's files (its central directory); none when it cannot be read.</summary>
    private static List<string> ZipNames(byte[] zip)
    {
        try
        {
            using var archive = new ZipArchive(new MemoryStream(zip, writable: false), ZipArchiveMode.Read);
            return [.. archive.Entries.Where(e => !e.FullName.EndsWith('/')).Select(e => Shown(e.FullName))];
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            return [];
        }
    }

    /// <summary>The names of a cabinet's files, from its header's file table; none when the header is cut or inconsistent.</summary>
    private static List<string> CabinetNames(byte[] cab)
    {
        var names = new List<string>();
        var span = cab.AsSpan();
        if (span.Length < 36) return names;
        // Offsets as the header gives them (any 32-bit value): compared as long, never cut to an int that could wrap.
        long at = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(span[16..]);
        int count = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(span[28..]);
        for (var i = 0; i < count && at >= 36 && at + 16 < span.Length; i++)
        {
            var entry = (int)at;
            var end = span[(entry + 16)..].IndexOf((byte)0);
            if (end <= 0) break;
            // Names are ASCII, or UTF-8 when the entry's attribute says so (0x80).
            var utf8 = (System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(span[(entry + 14)..]) & 0x80) != 0;
            names.Add(Shown((utf8 ? System.Text.Encoding.UTF8 : System.Text.Encoding.Latin1).GetString(span.Slice(entry + 16, end))));
            at += 16 + end + 1;
        }
        return names;
    }

    /// <summary>A name fit to be shown: control characters dropped, at most 100 characters.</summary>
    private static string Shown(string name)
    {
        var shown = new string(name.Where(c => !char.IsControl(c)).ToArray());
        return shown.Length > 100 ? shown[..100] + "…" : shown;
    }

    /// <summary>
    /// A JSON file given to an XML-only format, or XML to a JSON format, refused saying so (rather than as the first
    /// character the parser cannot read). CVRF is read in either form (the MSRC API serves JSON unless asked for XML).
    /// </summary>
    public static void ExpectSyntax(byte[] bytes, string format)
    {
        var text = bytes.AsSpan();
        if (text.StartsWith(System.Text.Encoding.UTF8.Preamble)) text = text[3..];
        var at = text.IndexOfAnyExcept(" \t\r\n"u8);
        if (at < 0) return;
        // A web page where a catalog was expected: a feed's error or sign-in page answered with 200, a page saved from a browser.
        if (IsHtml(text[at..]))
            throw new CatalogFormatException("Not a catalog", $"This is an HTML page (a server's error or sign-in page, or a web page saved), not a {format} catalog.", "line 1");
        if (format == "cvrf") return;
        var xml = format == "mssecure";
        var line = 1 + text[..at].Count((byte)'\n');
        var column = at - (text[..at].LastIndexOf((byte)'\n') + 1) + 1;
        if (xml && text[at] is (byte)'{' or (byte)'[')
            throw new CatalogFormatException("Not XML", $"Format '{format}' reads XML and this file is JSON.", $"line {line}, column {column}");
        if (!xml && text[at] == (byte)'<')
            throw new CatalogFormatException("Not JSON", $"Format '{format}' reads JSON and this file is XML: an MSRC CVRF document is format cvrf, MBSA's mssecure.xml format mssecure.",
                $"line {line}, byte {column}");
    }

    private static bool IsHtml(ReadOnlySpan<byte> text) => Starts(text, "<!doctype html"u8) || Starts(text, "<html"u8);

    /// <summary>Whether the text begins with the tag name (any case), ended as a tag name ends.</summary>
    private static bool Starts(ReadOnlySpan<byte> text, ReadOnlySpan<byte> start) =>
        text.Length > start.Length && System.Text.Ascii.EqualsIgnoreCase(text[..start.Length], start)
        && text[start.Length] is (byte)'>' or (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    private static byte[] Gunzip(byte[] content, long maxBytes)
    {
        using var gzip = new GZipStream(new MemoryStream(content, writable: false), CompressionMode.Decompress);
        using var text = new MemoryStream();
        var buffer = new byte[81920];
        try
        {
            // Read to the limit and one byte past it: a small file that expands without end is refused, never held whole.
            for (int read; (read = gzip.Read(buffer, 0, buffer.Length)) > 0;)
            {
                if (text.Length + read > maxBytes)
                    throw new CatalogFormatException("Catalog file too large",
                        $"The gzip-compressed file ({content.Length} bytes) expands to more than the limit (Patch:Import:MaxBytes) of {maxBytes} bytes.", "body");
                text.Write(buffer, 0, read);
            }
        }
        catch (InvalidDataException)
        {
            // The runtime says "unsupported compression method" for any damage zlib finds, a wrong checksum or size in the
            // trailer included: what it found is not known, only where the expansion stopped.
            throw new CatalogFormatException("Malformed gzip",
                $"The file starts as gzip but cannot be decompressed: its compressed data, or the checksum or size in its trailer, is damaged ({text.Length} bytes expanded before it stopped).",
                $"byte {Math.Min(content.Length, 1)}");
        }
        // A file cut short decompresses to what it holds, without complaint: its last four bytes are then no trailer that
        // gives the expanded size (mod 2^32) — the one check a single gzip member, as gzip and every archiver write it, allows.
        var trailer = content.Length >= 18 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(content.AsSpan(content.Length - 4)) : uint.MaxValue;
        if (trailer != (uint)text.Length)
            throw new CatalogFormatException("Malformed gzip",
                $"The gzip-compressed file is cut short or damaged: it expands to {text.Length} bytes where its last four bytes, the trailer of a whole file, say {trailer} (one gzip member is read).", $"byte {content.Length}");
        if (text.Length == 0) throw new CatalogFormatException("Empty file", "The gzip-compressed file holds nothing.", "body");
        return text.ToArray();
    }
}
