using System.Text;
using System.Text.RegularExpressions;
using System.Xml;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// A large UTF-8 document read in pieces on several threads (ADR 0047). It is split before start tags of one kind of
/// the root's children, found by their bytes; each piece is read as a document of its own — the first with the root's
/// end tag added, the others inside a copy of the root's start tag (its namespace declarations), the last with the
/// document's own end — and its places (line, column) are those of the whole document. When every piece is well-formed
/// the whole document is, with the same elements in the same order: a split point that is no such child (inside a
/// comment, a CDATA section, a processing instruction or a deeper element) leaves a piece malformed, and the caller then
/// reads the document whole, which refuses it or reads it as it always did.
/// </summary>
public static partial class XmlPieces
{
    /// <summary>A piece: its bytes in the document, and where it starts (1-based line and column, in characters).</summary>
    public sealed record Piece(int Start, int End, int Line, int Column);

    /// <summary>How a document is read in pieces: its root's name and start tag (the namespace declarations it carries), the pieces in order.</summary>
    public sealed record Plan(string RootName, string RootStartTag, IReadOnlyList<Piece> Pieces);

    /// <summary>
    /// The pieces of <paramref name="bytes"/> split before elements <paramref name="local"/> of namespace <paramref name="ns"/>
    /// (with the prefix the root binds it to), at most <paramref name="pieces"/> of at least <paramref name="minPieceBytes"/>;
    /// null when the document is too small, not UTF-8, its root cannot be read or no split point is found.
    /// </summary>
    public static Plan? Split(byte[] bytes, string ns, string local, int pieces, int minPieceBytes)
    {
        pieces = (int)Math.Min(pieces, bytes.Length / Math.Max(1L, minPieceBytes));
        if (pieces < 2 || !Utf8(bytes) || Root(bytes, ns) is not { } root) return null;
        var (rootName, startTag, prefix) = root;
        var pattern = Encoding.UTF8.GetBytes("<" + (prefix.Length > 0 ? prefix + ":" : "") + local);
        var starts = new List<int>();
        for (var i = 1; i < pieces; i++)
        {
            var from = (int)Math.Max((long)bytes.Length * i / pieces, starts.Count > 0 ? starts[^1] + 1 : 0);
            var at = StartTag(bytes, pattern, from);
            if (at < 0) break;
            starts.Add(at);
        }
        if (starts.Count == 0) return null;
        var list = new List<Piece> { new(0, starts[0], 1, 1) };
        for (var i = 0; i < starts.Count; i++)
        {
            var (line, column) = Position(bytes, starts[i]);
            list.Add(new Piece(starts[i], i + 1 < starts.Count ? starts[i + 1] : bytes.Length, line, column));
        }
        return new Plan(rootName, startTag, list);
    }

    /// <summary>
    /// Each piece read by <paramref name="read"/> (on a reader of its own, on several threads), in document order; null
    /// when any piece failed — the caller reads the document whole.
    /// </summary>
    public static IReadOnlyList<T>? TryRead<T>(byte[] bytes, Plan plan, Func<XmlReader, T> read)
    {
        var results = new T[plan.Pieces.Count];
        var failed = 0;
        Parallel.For(0, plan.Pieces.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(plan.Pieces.Count, Environment.ProcessorCount) }, i =>
        {
            try
            {
                results[i] = ReadPiece(bytes, plan, i, read);
            }
            catch (Exception)
            {
                // Whatever went wrong (malformed XML, a refusal, a split that was no child of the root): the whole document is read again.
                Interlocked.Exchange(ref failed, 1);
            }
        });
        return failed == 0 ? results : null;
    }

    private static T ReadPiece<T>(byte[] bytes, Plan plan, int index, Func<XmlReader, T> read)
    {
        var piece = plan.Pieces[index];
        var end = index + 1 < plan.Pieces.Count ? Encoding.UTF8.GetBytes($"</{plan.RootName}>") : [];
        var start = index == 0 ? [] : Encoding.UTF8.GetBytes(plan.RootStartTag);
        // The piece's bytes read where they are, between the copied start tag and the added end tag (no copy of the piece).
        using var stream = new Joined([start, bytes.AsMemory(piece.Start, piece.End - piece.Start), end]);
        // The piece's first line begins with the copied start tag (one line): its columns are moved back by its length.
        var shift = index == 0 ? null : new DepthLimitedXmlReader.Shift(piece.Line, piece.Column, plan.RootStartTag.Length);
        using var reader = new DepthLimitedXmlReader(XmlReader.Create(stream, SafeXml.Settings()), SafeXml.MaxDepth, shift);
        return read(reader);
    }

    /// <summary>A read-only stream of byte ranges one after the other.</summary>
    private sealed class Joined(ReadOnlyMemory<byte>[] parts) : Stream
    {
        private int _part;
        private int _offset;

        public override int Read(Span<byte> buffer)
        {
            while (_part < parts.Length && _offset == parts[_part].Length) (_part, _offset) = (_part + 1, 0);
            if (_part == parts.Length || buffer.IsEmpty) return 0;
            var count = Math.Min(buffer.Length, parts[_part].Length - _offset);
            parts[_part].Span.Slice(_offset, count).CopyTo(buffer);
            _offset += count;
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>UTF-8 by its byte order mark or its declaration (or neither: XML's default); the byte search needs it.</summary>
    private static bool Utf8(byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
        else if (span.Length < 2 || span[0] is 0xFE or 0xFF or 0 || span[1] == 0) return false;
        if (!span.StartsWith("<?xml"u8)) return true;
        var end = span[..Math.Min(span.Length, 512)].IndexOf("?>"u8);
        if (end < 0) return false;
        var encoding = EncodingDeclaration().Match(Encoding.ASCII.GetString(span[..end]));
        return !encoding.Success || encoding.Groups[1].Value.Equals("utf-8", StringComparison.OrdinalIgnoreCase);
    }

    [GeneratedRegex("""\sencoding\s*=\s*["']([^"']*)["']""")]
    private static partial Regex EncodingDeclaration();

    /// <summary>The root's qualified name, a copy of its start tag with the namespace declarations and xml: attributes, and the prefix bound to <paramref name="ns"/>.</summary>
    private static (string Name, string StartTag, string Prefix)? Root(byte[] bytes, string ns)
    {
        try
        {
            using var reader = XmlReader.Create(new MemoryStream(bytes, writable: false), SafeXml.Settings());
            if (reader.MoveToContent() != XmlNodeType.Element) return null;
            var tag = new StringBuilder("<").Append(reader.Name);
            var name = reader.Name;
            string? prefix = null;
            for (var more = reader.MoveToFirstAttribute(); more; more = reader.MoveToNextAttribute())
            {
                if (reader.Prefix is not ("xmlns" or "xml") && reader.Name != "xmlns") continue;
                tag.Append(' ').Append(reader.Name).Append("=\"").Append(Escaped(reader.Value)).Append('"');
                if (reader.Value == ns && reader.Prefix != "xml") prefix ??= reader.Prefix == "xmlns" ? reader.LocalName : "";
            }
            return prefix is null ? null : (name, tag.Append('>').ToString(), prefix);
        }
        catch (XmlException)
        {
            return null;
        }
    }

    /// <summary>An attribute value written back: markup and every white-space character as references (the tag stays on one line).</summary>
    private static string Escaped(string value) => new StringBuilder(value).Replace("&", "&amp;").Replace("<", "&lt;").Replace("\"", "&quot;")
        .Replace("\t", "&#9;").Replace("\n", "&#10;").Replace("\r", "&#13;").ToString();

    /// <summary>The next start tag of the pattern's name at or after <paramref name="from"/> (the name followed by white space, '/' or '>'), or -1.</summary>
    private static int StartTag(byte[] bytes, byte[] pattern, int from)
    {
        while (from < bytes.Length)
        {
            var found = bytes.AsSpan(from).IndexOf(pattern);
            if (found < 0) return -1;
            var at = from + found;
            var next = at + pattern.Length;
            if (next < bytes.Length && bytes[next] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)'/' or (byte)'>') return at;
            from = at + 1;
        }
        return -1;
    }

    /// <summary>The line and column an XML reader gives the byte at <paramref name="offset"/>: CR LF, CR and LF each end a line; columns count characters.</summary>
    internal static (int Line, int Column) Position(byte[] bytes, int offset)
    {
        var before = bytes.AsSpan(0, offset);
        var line = 1 + before.Count((byte)'\n');
        // A CR not followed by LF ends a line too (a CR before LF is counted with it).
        for (var cr = before.IndexOf((byte)'\r'); cr >= 0; cr = before[(cr + 1)..].IndexOf((byte)'\r') is var n && n >= 0 ? cr + 1 + n : -1)
            if (cr + 1 >= bytes.Length || bytes[cr + 1] != (byte)'\n') line++;
        var lineStart = before.LastIndexOfAny((byte)'\n', (byte)'\r') + 1;
        if (lineStart == 0 && before.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) lineStart = 3;
        return (line, Encoding.UTF8.GetCharCount(before[lineStart..]) + 1);
    }
}
