namespace Patch.Application.Catalog.Formats;

/// <summary>
/// A control character in any text of a JSON catalog — also in a field Patch does not read (a KEV entry's <c>notes</c>) —
/// is refused as it is in the fields it reads (<see cref="CatalogText"/>). JSON can hold one only escaped (<c>\u0000</c>,
/// <c>\b</c>, <c>\f</c>): the bytes are searched for such escapes, and only when one is found are they walked as a
/// request body is (<see cref="Common.RequestText.InJson"/>) to name its JSON path.
/// </summary>
public static class JsonControlEscapes
{
    /// <summary>Refuses <paramref name="json"/> (UTF-8 JSON text, already parsed) if one of its strings holds a control character other than tab and line breaks.</summary>
    public static void Refuse(ReadOnlySpan<byte> json)
    {
        // Past a UTF-8 byte order mark: the JSON reader does not skip one, and the place counts from the text.
        if (json.StartsWith(System.Text.Encoding.UTF8.Preamble)) json = json[3..];
        var at = First(json);
        if (at < 0) return;
        var line = 1 + json[..at].Count((byte)'\n');
        var column = at - (json[..at].LastIndexOf((byte)'\n') + 1) + 1;
        // The request bodies' walker names its JSON path (found by the search above, so the walk is made only for a refusal).
        var (title, detail) = Common.RequestText.InJson(json, maxTextLength: int.MaxValue) ?? ("Control character in text", "A text holds a control character.");
        throw new CatalogFormatException(title, detail, $"line {line}, byte {column}");
    }

    /// <summary>
    /// The offset of the first escape of a control character other than tab, CR and LF, or of half a character (a surrogate
    /// escape not in a high–low pair: no text holds one, PostgreSQL refuses it); -1 when there is none.
    /// </summary>
    private static int First(ReadOnlySpan<byte> json)
    {
        var i = 0;
        while (i < json.Length)
        {
            var slash = json[i..].IndexOf((byte)'\\');
            if (slash < 0 || i + slash + 1 >= json.Length) return -1;
            i += slash;
            switch (json[i + 1])
            {
                case (byte)'b' or (byte)'f': return i;
                case (byte)'u' when i + 6 <= json.Length && int.TryParse(json.Slice(i + 2, 4), System.Globalization.NumberStyles.HexNumber, null, out var code):
                    if (code < 0x20 && code is not (0x09 or 0x0A or 0x0D)) return i;
                    if (code is >= 0xDC00 and <= 0xDFFF) return i;
                    if (code is >= 0xD800 and <= 0xDBFF)
                    {
                        var low = i + 12 <= json.Length && json[i + 6] == (byte)'\\' && json[i + 7] == (byte)'u'
                            && int.TryParse(json.Slice(i + 8, 4), System.Globalization.NumberStyles.HexNumber, null, out var next) ? next : -1;
                        if (low is < 0xDC00 or > 0xDFFF) return i;
                        i += 12;
                        break;
                    }
                    i += 6;
                    break;
                default:
                    i += 2;
                    break;
            }
        }
        return -1;
    }
}
