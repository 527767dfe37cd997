using System.Collections;
using System.Reflection;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// No text of a catalog may hold a C0 control character other than tab, carriage return and line feed — a NUL, for
/// one, which PostgreSQL refuses in JSON — nor be longer than <see cref="MaxLength"/>: whatever the format, a parsed
/// catalog is walked before anything is written, and the first such text is refused naming its field (and its bulletin
/// or CVE) and the character.
/// </summary>
public static class CatalogText
{
    /// <summary>
    /// The most characters a text of a catalog may hold: a CVRF bulletin's description (every CVE it fixes with its title)
    /// is at most tens of thousands; megabytes in one field are no vendor's and would be carried into every history.
    /// </summary>
    public const int MaxLength = 262_144;

    public static void Check(object document)
    {
        if (Walk(document, 0) is not { } found) return;
        if (found.Index < 0)
            throw new CatalogFormatException("Text too long", $"{found.Path} holds {found.Text.Length} characters; a catalog text holds at most {MaxLength}.", found.Path);
        throw Refusal(found.Path, found.Text, found.Index, found.Path);
    }

    /// <summary>The refusal of <paramref name="text"/>, the value of <paramref name="field"/>, for its control character at <paramref name="index"/>.</summary>
    public static CatalogFormatException Refusal(string field, string text, int index, string place) => new("Control character in text",
        $"{field} holds the control character U+{(int)text[index]:X4} at position {index + 1}; catalog text may hold tab and line breaks but no other control character.",
        place);

    /// <summary>
    /// The text found with a control character, and its place — named on the way back up, from the text to the
    /// document: a walk that finds nothing (every import that goes on) builds no place at all.
    /// </summary>
    private sealed class Found(string text, int index)
    {
        public string Text { get; } = text;
        public int Index { get; } = index;
        private readonly List<(string Name, bool Property)> _up = [];

        public Found Within(string name, bool property)
        {
            _up.Add((name, property));
            return this;
        }

        /// <summary>Properties joined by dots, items and entries in brackets: <c>bulletins[3] (KB5034441).facts.title</c>.</summary>
        public string Path
        {
            get
            {
                var path = new System.Text.StringBuilder();
                for (var i = _up.Count - 1; i >= 0; i--)
                {
                    if (_up[i].Property && path.Length > 0) path.Append('.');
                    path.Append(_up[i].Name);
                }
                return path.ToString();
            }
        }
    }

    private static Found? Walk(object? value, int depth)
    {
        switch (value)
        {
            case null: return null;
            case string { Length: > MaxLength } tooLong:
                return new Found(tooLong, -1);
            case string text:
                var index = text.AsSpan().IndexOfAnyInRange('\0', '\x1f');
                while (index >= 0 && text[index] is '\t' or '\r' or '\n')
                {
                    var next = text.AsSpan(index + 1).IndexOfAnyInRange('\0', '\x1f');
                    index = next < 0 ? -1 : index + 1 + next;
                }
                return index >= 0 ? new Found(text, index) : null;
            case IDictionary dictionary:
                foreach (DictionaryEntry entry in dictionary)
                    if (Walk(entry.Value, depth + 1) is { } inEntry) return inEntry.Within($"[{entry.Key}]", property: false);
                return null;
            case IEnumerable items:
                var i = 0;
                foreach (var item in items)
                {
                    if (Walk(item, depth + 1) is { } inItem) return inItem.Within($"[{i}]{Name(item)}", property: false);
                    i++;
                }
                return null;
        }
        var type = value.GetType();
        if (depth > 32 || type.IsPrimitive || type.IsEnum || value is DateTimeOffset or DateTime or DateOnly or Guid or decimal or Uri) return null;
        foreach (var property in Properties.GetOrAdd(type, static t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0).ToArray()))
            if (Walk(property.GetValue(value), depth + 1) is { } inProperty) return inProperty.Within(Camel(property.Name), property: true);
        return null;
    }

    /// <summary>Each type's readable properties, looked up once.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, PropertyInfo[]> Properties = new();

    /// <summary>A bulletin's number or a CVE beside its index, so the place is found in any format.</summary>
    private static string Name(object? item) => item switch
    {
        Domain.Catalog.ImportedBulletin b when SafeText(b.Facts.Number) => $" ({b.Facts.Number})",
        Domain.Vulnerabilities.KnownExploitedFacts k when SafeText(k.Cve) => $" ({k.Cve})",
        _ => "",
    };

    private static bool SafeText(string? text) => text is not null && !text.Any(char.IsControl);

    private static string Camel(string name) => char.ToLowerInvariant(name[0]) + name[1..];
}
