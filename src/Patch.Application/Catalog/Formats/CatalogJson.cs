using System.Text;
using System.Text.Json;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// Parses a JSON catalog (Patch, KEV): UTF-8 only (RFC 8259), checked whole before parsing, because the JSON reader
/// decodes strings only when they are read — invalid bytes would otherwise surface late, as an unnamed failure.
/// </summary>
public static class CatalogJson
{
    public static JsonDocument Parse(Stream stream, int maxDepth) => Parse(Utf8(stream, "a JSON catalog", "(RFC 8259)"), maxDepth);

    /// <summary>UTF-8 text already checked by <see cref="Utf8(ReadOnlyMemory{byte}, string, string)"/>, parsed.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> text, int maxDepth)
    {
        try
        {
            // A property given twice in one object: which one the vendor meant is not ours to guess.
            return JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = maxDepth, CommentHandling = JsonCommentHandling.Disallow, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            // A property given twice is found once the object is built, and the exception names no place: found again here.
            var (line, column) = e.LineNumber is null && DuplicateAt(text.Span) is { } at ? at : ((e.LineNumber ?? 0) + 1, (e.BytePositionInLine ?? 0) + 1);
            throw new CatalogFormatException("Malformed JSON", e.Message.Split(" Path:")[0], $"line {line}, byte {column}");
        }
    }

    /// <summary>Where the first property given twice in one object starts (line and byte in it, from 1), or null.</summary>
    private static (long Line, long Byte)? DuplicateAt(ReadOnlySpan<byte> text)
    {
        var reader = new Utf8JsonReader(text, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 1024 });
        var objects = new Stack<HashSet<string>?>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: objects.Push(new HashSet<string>(StringComparer.Ordinal)); break;
                    case JsonTokenType.StartArray: objects.Push(null); break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray: objects.Pop(); break;
                    case JsonTokenType.PropertyName when objects.Peek() is { } names && !names.Add(reader.GetString()!):
                        var start = (int)reader.TokenStartIndex;
                        var lineStart = text[..start].LastIndexOf((byte)'\n') + 1;
                        return (text[..start].Count((byte)'\n') + 1, start - lineStart + 1);
                }
            }
        }
        catch (JsonException)
        {
            // Malformed before any duplicate: the parser's own place stands.
        }
        return null;
    }

    /// <summary>
    /// A text file's bytes past a UTF-8 byte order mark, refused unless they are UTF-8 (<paramref name="what"/> names the
    /// file in the error: "a JSON catalog", <paramref name="why"/> the rule).
    /// </summary>
    public static ReadOnlyMemory<byte> Utf8(Stream stream, string what, string why)
    {
        // A memory stream's own buffer, read where it lies (a catalog may be tens of megabytes); any other stream copied once.
        if (stream is MemoryStream memory && memory.TryGetBuffer(out var buffer)) return Utf8(buffer.AsMemory((int)memory.Position), what, why);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return Utf8(copy.ToArray(), what, why);
    }

    /// <summary>Bytes already in memory, checked the same way; the answer is a slice of them, not a copy.</summary>
    public static ReadOnlyMemory<byte> Utf8(ReadOnlyMemory<byte> bytes, string what, string why)
    {
        var text = bytes.Span;
        if (text.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
            throw new CatalogFormatException("Compressed file", $"This is a gzip-compressed file; {what} is read as it is: decompress it and send the file inside.", "byte 1");
        if (text.StartsWith(Encoding.UTF8.Preamble)) text = text[3..];
        if (text.Length >= 2 && (text[0] == 0xFF && text[1] == 0xFE || text[0] == 0xFE && text[1] == 0xFF || text[0] == 0 && text[1] != 0 || text.Length >= 4 && text[1] == 0 && text[3] == 0))
            throw new CatalogFormatException("Not UTF-8", $"{Capital(what)} must be UTF-8 {why}; this file looks like UTF-16 or UTF-32. Save it as UTF-8 and import it again.", "byte 1");
        if (!System.Text.Unicode.Utf8.IsValid(text))
        {
            var valid = ValidPrefix(text);
            var line = 1 + text[..valid].Count((byte)'\n');
            var column = valid - (text[..valid].LastIndexOf((byte)'\n') + 1) + 1;
            throw new CatalogFormatException("Not UTF-8", $"Byte 0x{text[valid]:X2} at offset {valid} is not valid UTF-8; {what} must be UTF-8 {why}.",
                $"line {line}, byte {column}");
        }
        // Past a byte order mark (the memory overload of the JSON parser does not skip one).
        return bytes[(bytes.Length - text.Length)..];
    }

    private static string Capital(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    private static int ValidPrefix(ReadOnlySpan<byte> text)
    {
        Span<char> sink = stackalloc char[1024];
        var done = 0;
        while (done < text.Length)
        {
            var status = System.Text.Unicode.Utf8.ToUtf16(text[done..], sink, out var read, out _, replaceInvalidSequences: false, isFinalBlock: true);
            done += read;
            if (status is System.Buffers.OperationStatus.InvalidData or System.Buffers.OperationStatus.NeedMoreData) return done;
        }
        return done;
    }
}
