using System.Text;
using System.Text.RegularExpressions;
using CsCheck;

namespace Patch.Api.Tests.Fuzzing;

/// <summary>What a mutation may assume of the bytes: markup (XML), JSON, or lines of text (systeminfo, qfe, CSV, .reg).</summary>
public enum Shape { Xml, Json, Text }

public enum MutationKind
{
    Truncate, FlipBit, DeleteSpan, DuplicateSpan, ControlCharacter, EscapedControl, InvalidUtf8, HugeNumber, DeepNesting, LongString, DuplicateKey, Reencode,
}

/// <summary>
/// One change to a document. Positions are fractions of the length the document has when the change is applied, so a
/// mutation is a value CsCheck can generate (and shrink) without knowing the document.
/// </summary>
public sealed record Mutation(MutationKind Kind, double At, double Span, int Choice)
{
    public override string ToString() => $"{Kind}@{At:F4}/{Span:F3}/{Choice}";
}

/// <summary>
/// Mutations of real documents (issue 15 §1): truncation, bit flips, deleted and duplicated spans, C0 control characters
/// (NUL first among them), invalid UTF-8, UTF-16 and Latin-1 re-encodings, huge numbers, deep nesting, very long strings
/// and duplicated keys or attributes.
/// </summary>
public static partial class Mutations
{
    public static readonly Gen<Mutation> One =
        Gen.Select(Gen.Int[0, (int)MutationKind.Reencode], Gen.Double.Unit, Gen.Double.Unit, Gen.Int[0, 1 << 20],
            (kind, at, span, choice) => new Mutation((MutationKind)kind, at, span, choice));

    /// <summary>A real seed (by index) and one to three mutations of it.</summary>
    public static Gen<(int Seed, Mutation[] Changes)> Of(int seeds) =>
        Gen.Select(Gen.Int[0, seeds - 1], One.Array[1, 3]);

    public static byte[] Apply(byte[] seed, IEnumerable<Mutation> changes, Shape shape)
    {
        var bytes = seed;
        foreach (var change in changes) bytes = Apply(bytes, change, shape);
        return bytes;
    }

    // The C0 characters a text must never carry (tab, LF and CR are text).
    private static readonly byte[] Controls = [.. Enumerable.Range(0, 32).Where(c => c is not (9 or 10 or 13)).Select(c => (byte)c)];

    private static readonly byte[][] BadUtf8 =
    [
        [0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xC0, 0xAF], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80],
    ];

    private static readonly string[] Huge =
    [
        "99999999999999999999999999999999999999", "-99999999999999999999", "2147483648", "-2147483649", "1e309", "-0", "NaN", "0x7fffffff", "1.7976931348623157E+309",
    ];

    public static byte[] Apply(byte[] data, Mutation m, Shape shape)
    {
        var n = data.Length;
        var at = Math.Clamp((int)(m.At * n), 0, n);
        switch (m.Kind)
        {
            case MutationKind.Truncate:
                return data[..at];
            case MutationKind.FlipBit:
                if (n == 0) return data;
                var flipped = (byte[])data.Clone();
                flipped[Math.Min(at, n - 1)] ^= (byte)(1 << (m.Choice % 8));
                return flipped;
            case MutationKind.DeleteSpan:
                return [.. data[..at], .. data[Math.Min(n, at + 1 + (int)(m.Span * Math.Min(4096, n - at)))..]];
            case MutationKind.DuplicateSpan:
            {
                var length = 1 + (int)(m.Span * Math.Min(4096, n - at));
                var span = data[at..Math.Min(n, at + length)];
                var into = Math.Clamp((int)((m.Choice / (double)(1 << 20)) * n), 0, n);
                return [.. data[..into], .. span, .. data[into..]];
            }
            case MutationKind.ControlCharacter:
            {
                // Half of them go where text is: just after a '>' (XML), a '"' (JSON) or a ':' (lines of text).
                var into = m.Span < 0.5 ? TextPlace(data, at, shape) : at;
                var c = m.Choice % 3 == 0 ? (byte)0 : Controls[m.Choice % Controls.Length];
                return [.. data[..into], c, .. data[into..]];
            }
            case MutationKind.EscapedControl:
            {
                // The control character written the way the format escapes it, so it survives the parser into a text.
                var code = m.Choice % 3 == 0 ? 0 : Controls[m.Choice % Controls.Length];
                var escaped = shape switch { Shape.Xml => $"&#x{code:X};", Shape.Json => $"\\u{code:X4}", _ => ((char)code).ToString() };
                var into = TextPlace(data, at, shape);
                return [.. data[..into], .. Encoding.ASCII.GetBytes(escaped), .. data[into..]];
            }
            case MutationKind.InvalidUtf8:
            {
                var into = m.Span < 0.5 ? TextPlace(data, at, shape) : at;
                return [.. data[..into], .. BadUtf8[m.Choice % BadUtf8.Length], .. data[into..]];
            }
            case MutationKind.HugeNumber:
            {
                var text = Latin1(data);
                var digits = Digits().Match(text, Math.Min(at, text.Length));
                if (!digits.Success) digits = Digits().Match(text);
                var number = Huge[m.Choice % Huge.Length];
                return digits.Success ? [.. data[..digits.Index], .. Encoding.ASCII.GetBytes(number), .. data[(digits.Index + digits.Length)..]] : data;
            }
            case MutationKind.DeepNesting:
            {
                var depth = 10 + m.Choice % 20000;
                var (open, close) = shape switch { Shape.Xml => ("<a>", "</a>"), Shape.Json => ("[", "]"), _ => ("(", ")") };
                var into = TextPlace(data, at, shape);
                var balanced = m.Span < 0.5;
                var nest = string.Concat(Enumerable.Repeat(open, depth)) + (balanced ? string.Concat(Enumerable.Repeat(close, depth)) : "");
                return [.. data[..into], .. Encoding.ASCII.GetBytes(nest), .. data[into..]];
            }
            case MutationKind.LongString:
            {
                var length = 1000 + (int)(m.Span * 400_000);
                var into = TextPlace(data, at, shape);
                var letter = (byte)('A' + m.Choice % 26);
                return [.. data[..into], .. Enumerable.Repeat(letter, length), .. data[into..]];
            }
            case MutationKind.DuplicateKey:
            {
                var text = Latin1(data);
                var start = Math.Min(at, text.Length);
                var found = shape == Shape.Xml ? XmlAttribute().Match(text, start) : JsonMember().Match(text, start);
                if (!found.Success) return data;
                // The member or attribute written twice: "a": 1, "a": 1 or a="x" a="x".
                var copy = Encoding.Latin1.GetBytes(found.Value + (shape == Shape.Xml ? " " : ","));
                return [.. data[..found.Index], .. copy, .. data[found.Index..]];
            }
            case MutationKind.Reencode:
            {
                var text = Encoding.UTF8.GetString(data);
                return (m.Choice % 5) switch
                {
                    0 => [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(text)],
                    1 => Encoding.Unicode.GetBytes(text),                                        // UTF-16LE without a byte order mark
                    2 => [.. Encoding.BigEndianUnicode.GetPreamble(), .. Encoding.BigEndianUnicode.GetBytes(text)],
                    3 => Encoding.Latin1.GetBytes(text),
                    _ => [.. Encoding.UTF8.GetPreamble(), .. Encoding.Unicode.GetBytes(text)],  // a UTF-8 mark on UTF-16 bytes
                };
            }
            default:
                return data;
        }
    }

    private static int TextPlace(byte[] data, int from, Shape shape)
    {
        var mark = shape switch { Shape.Xml => (byte)'>', Shape.Json => (byte)'"', _ => (byte)':' };
        var i = Array.IndexOf(data, mark, Math.Min(from, data.Length));
        return i < 0 ? from : i + 1;
    }

    private static string Latin1(byte[] data) => Encoding.Latin1.GetString(data);

    [GeneratedRegex("-?[0-9]+")]
    private static partial Regex Digits();

    [GeneratedRegex("\"[A-Za-z][A-Za-z0-9_]{0,63}\"\\s*:\\s*(\"[^\"\\\\]{0,200}\"|-?[0-9.eE+]{1,30}|true|false|null)")]
    private static partial Regex JsonMember();

    [GeneratedRegex(" [A-Za-z][A-Za-z0-9_:]{0,63}=\"[^\"]{0,200}\"")]
    private static partial Regex XmlAttribute();
}
