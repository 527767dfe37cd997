using System.Text;

namespace Patch.Domain.Inventory;

/// <summary>
/// Decodes the text files Windows tools write: UTF-16 (with or without BOM, also after an ASCII preamble, as a
/// redirected <c>wmic</c> does), UTF-8 (with or without BOM), or a legacy code page (read as Latin-1: the fields
/// Patch needs — versions, KB numbers, architectures — are ASCII in every language; a reader that can tell the code
/// page, as the systeminfo parser can from the locale a capture names, reads it again in it).
/// </summary>
public static class InventoryText
{
    /// <summary>
    /// The text without C0 control characters other than <paramref name="keep"/>: in a captured or exported value they mean
    /// nothing (a NUL from a torn file, a stray escape) and no server would store them.
    /// </summary>
    public static string WithoutControls(string text, params char[] keep) =>
        // C0, DEL and C1 (0x80–0x9F: a code page's letters read as Latin-1 before the right one is known).
        text.Any(c => char.IsControl(c) && Array.IndexOf(keep, c) < 0) ? new string(text.Where(c => !char.IsControl(c) || Array.IndexOf(keep, c) >= 0).ToArray()) : text;

    public static string Decode(byte[] bytes) => Decode(bytes, out _);

    /// <summary>
    /// Windows' "ANSI" code page of Western locales (1252), which files saved by regedit's REGEDIT4 export and older
    /// Windows programs are in: Latin-1 but for 0x80–0x9F, where it has "€", "–", "’", "™" rather than control characters.
    /// </summary>
    public static Encoding Ansi { get; } = CodePagesEncodingProvider.Instance.GetEncoding(1252)!;

    /// <summary>The text, and whether it was in no Unicode form (<paramref name="legacy"/>: read as Latin-1).</summary>
    public static string Decode(byte[] bytes, out bool legacy)
    {
        legacy = false;
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE) return Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2);
        if (bytes.Length >= 2 && bytes[0] == 0xFE && bytes[1] == 0xFF) return Encoding.BigEndianUnicode.GetString(bytes, 2, bytes.Length - 2);
        if (bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) return Encoding.UTF8.GetString(bytes, 3, bytes.Length - 3);

        // UTF-16LE without a BOM, possibly after an ASCII preamble: from the first "x\0y\0" run on, decode as UTF-16.
        var start = Utf16Start(bytes);
        if (start >= 0)
        {
            var head = Encoding.Latin1.GetString(bytes, 0, start);
            var tail = bytes.AsSpan(start);
            if (tail.Length >= 2 && tail[0] == 0xFF && tail[1] == 0xFE) tail = tail[2..];
            return head + Encoding.Unicode.GetString(tail[..(tail.Length & ~1)]);
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            legacy = true;
            return Encoding.Latin1.GetString(bytes);
        }
    }

    private static int Utf16Start(byte[] bytes)
    {
        for (var i = 0; i + 7 < bytes.Length; i++)
        {
            if (bytes[i] == 0xFF && bytes[i + 1] == 0xFE && bytes[i + 3] == 0) return i;
            if (bytes[i] != 0 && bytes[i + 1] == 0 && bytes[i + 2] != 0 && bytes[i + 3] == 0 && bytes[i + 4] != 0 && bytes[i + 5] == 0 && bytes[i + 7] == 0)
                return i;
        }
        return -1;
    }

    /// <summary>
    /// The delimiter of a CSV file, told by its header (the text's first line): whichever of comma, semicolon (Excel's CSV and
    /// <c>Export-Csv -UseCulture</c> where the decimal mark is a comma) or tab separates it most often outside quotes;
    /// a comma when none does, or on a tie.
    /// </summary>
    public static char CsvDelimiter(string text)
    {
        var headerLine = text.AsSpan()[..(text.IndexOf('\n') is var end and >= 0 ? end : text.Length)];
        int commas = 0, semicolons = 0, tabs = 0;
        var quoted = false;
        foreach (var c in headerLine)
        {
            if (c == '"') quoted = !quoted;
            else if (!quoted && c == ',') commas++;
            else if (!quoted && c == ';') semicolons++;
            else if (!quoted && c == '\t') tabs++;
        }
        return semicolons > commas && semicolons >= tabs ? ';' : tabs > commas && tabs > semicolons ? '\t' : ',';
    }

    public static IEnumerable<string> Lines(string text) => text.Replace("\r\n", "\n").Replace('\r', '\n').Replace('\u0085', '\n').Split('\n');
}
