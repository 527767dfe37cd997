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
        if (content.AsSpan().StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return Gunzip(content, maxBytes);
        if (content.AsSpan().StartsWith("MSCF"u8))
            throw new CatalogFormatException("Cabinet file",
                "This is a Microsoft cabinet (.cab), such as MBSA's mssecure.cab: import the catalog inside it. Extract it first " +
                "(Windows: expand mssecure.cab -F:mssecure.xml .; Debian: cabextract mssecure.cab) and import that file.", "byte 1");
        if (content.AsSpan().StartsWith("PK\u0003\u0004"u8))
            throw new CatalogFormatException("ZIP archive", "This is a ZIP archive: extract the catalog file inside it and import that file.", "byte 1");
        return content;
    }

    /// <summary>
    /// A JSON file given to an XML-only format, or XML to a JSON format, refused saying so (rather than as the first
    /// character the parser cannot read). CVRF is read in either form (the MSRC API serves JSON unless asked for XML).
    /// </summary>
    public static void ExpectSyntax(byte[] bytes, string format)
    {
        if (format == "cvrf") return;
        var text = bytes.AsSpan();
        if (text.StartsWith(System.Text.Encoding.UTF8.Preamble)) text = text[3..];
        var at = text.IndexOfAnyExcept(" \t\r\n"u8);
        if (at < 0) return;
        var xml = format == "mssecure";
        var line = 1 + text[..at].Count((byte)'\n');
        var column = at - (text[..at].LastIndexOf((byte)'\n') + 1) + 1;
        if (xml && text[at] is (byte)'{' or (byte)'[')
            throw new CatalogFormatException("Not XML", $"Format '{format}' reads XML and this file is JSON.", $"line {line}, column {column}");
        if (!xml && text[at] == (byte)'<')
            throw new CatalogFormatException("Not JSON", $"Format '{format}' reads JSON and this file is XML: an MSRC CVRF document is format cvrf, MBSA's mssecure.xml format mssecure.",
                $"line {line}, byte {column}");
    }

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
        catch (InvalidDataException e)
        {
            throw new CatalogFormatException("Malformed gzip", $"The file starts as gzip but cannot be decompressed: {e.Message}", $"byte {Math.Min(content.Length, 1)}");
        }
        // A file cut short decompresses to what it holds, without complaint: its last four bytes are then no trailer that
        // gives the expanded size (mod 2^32) — the one check a single gzip member, as gzip and every archiver write it, allows.
        var trailer = content.Length >= 18 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(content.AsSpan(content.Length - 4)) : uint.MaxValue;
        if (trailer != (uint)text.Length)
            throw new CatalogFormatException("Malformed gzip",
                $"The gzip-compressed file is cut short or damaged: it expands to {text.Length} bytes where its trailer says {trailer} (one gzip member is read).", $"byte {content.Length}");
        if (text.Length == 0) throw new CatalogFormatException("Empty file", "The gzip-compressed file holds nothing.", "body");
        return text.ToArray();
    }
}
