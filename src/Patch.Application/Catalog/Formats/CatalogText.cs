using System.Collections;
using System.Reflection;

namespace Patch.Application.Catalog.Formats;

/// <summary>
/// No text of a catalog may hold a C0 control character other than tab, carriage return and line feed — a NUL, for
/// one, which PostgreSQL refuses in JSON: whatever the format, a parsed catalog is walked before anything is written,
/// and the first such text is refused naming its field (and its bulletin or CVE) and the character.
/// </summary>
public static class CatalogText
{
    public static void Check(object document) => Walk(document, "", 0);

    private static void Walk(object? value, string path, int depth)
    {
        switch (value)
        {
            case null: return;
            case string text:
                var index = text.AsSpan().IndexOfAnyInRange('\0', '\x1f');
                while (index >= 0 && text[index] is '\t' or '\r' or '\n')
                {
                    var next = text.AsSpan(index + 1).IndexOfAnyInRange('\0', '\x1f');
                    index = next < 0 ? -1 : index + 1 + next;
                }
                if (index >= 0)
                    throw new CatalogFormatException("Control character in text",
                        $"{path} holds the control character U+{(int)text[index]:X4} at position {index + 1}; catalog text may hold tab and line breaks but no other control character.",
                        path);
                return;
            case IDictionary dictionary:
                foreach (DictionaryEntry entry in dictionary) Walk(entry.Value, $"{path}[{entry.Key}]", depth + 1);
                return;
            case IEnumerable items:
                var i = 0;
                foreach (var item in items) Walk(item, $"{path}[{i++}]{Name(item)}", depth + 1);
                return;
        }
        var type = value.GetType();
        if (depth > 32 || type.IsPrimitive || type.IsEnum || value is DateTimeOffset or DateTime or DateOnly or Guid or decimal or Uri) return;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
            Walk(property.GetValue(value), path.Length == 0 ? Camel(property.Name) : $"{path}.{Camel(property.Name)}", depth + 1);
    }

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
