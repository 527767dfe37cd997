using System.Globalization;
using System.Text;

namespace Patch.Domain.Inventory;

/// <summary>
/// A registry export as <c>reg export</c> and regedit write it (Microsoft Learn, "reg export" and "How to add, modify,
/// or delete registry subkeys and values by using a .reg file"): UTF-16LE with a byte order mark, the header "Windows
/// Registry Editor Version 5.00" ("REGEDIT4" for the older ANSI form), <c>[key]</c> sections, and values
/// <c>"name"="text"</c>, <c>"name"=dword:0000abcd</c>, <c>"name"=hex(b):…</c> (QWORD), <c>hex(2)</c> (expandable
/// text), <c>hex(7)</c> (multi-string), <c>hex:</c> (binary), <c>@</c> for the default value, long hex runs continued
/// with a trailing backslash. Key paths are stored with the hive abbreviated (HKLM\SOFTWARE\…) and compared without case.
/// </summary>
public sealed class RegistryExport
{
    private readonly Dictionary<string, Dictionary<string, object>> _keys = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The values of a key (name → string, long, string[] or byte[]; "" is the default value), or null if the export lacks it.</summary>
    public IReadOnlyDictionary<string, object>? Key(string path) => _keys.GetValueOrDefault(Abbreviate(path));

    /// <summary>The direct subkeys of a key, as full paths.</summary>
    public IEnumerable<string> SubKeys(string path)
    {
        var prefix = Abbreviate(path).TrimEnd('\\') + "\\";
        return _keys.Keys.Where(k => k.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && k.IndexOf('\\', prefix.Length) < 0).Order(StringComparer.OrdinalIgnoreCase);
    }

    public string? String(string path, string name) => Key(path)?.GetValueOrDefault(name) as string;

    public long? Number(string path, string name) => Key(path)?.GetValueOrDefault(name) as long?;

    /// <summary>Merges another export (keys of both; a key in both takes the other's values).</summary>
    public RegistryExport Merge(RegistryExport other)
    {
        foreach (var (k, v) in other._keys) _keys[k] = v;
        return this;
    }

    /// <summary>Value lines left out because they could not be read (only when asked to skip them).</summary>
    public int SkippedLines { get; private set; }

    /// <summary>
    /// Reads a registry export. A file given to Patch is refused at its first malformed line, naming it; the agent's own
    /// export of the computer's registry (<paramref name="skipBadLines"/>) leaves out a value it cannot read — a text with
    /// a line break in it, which reg.exe writes as it is — rather than every product of the computer.
    /// </summary>
    public static RegistryExport Parse(byte[] bytes, string sourceName = "registry export", bool skipBadLines = false)
    {
        var text = InventoryText.Decode(bytes, out var legacy);
        // Not Unicode: regedit's REGEDIT4 export, in the ANSI code page.
        if (legacy) text = InventoryText.Ansi.GetString(bytes);
        if (text.Contains('\0')) throw new FormatException($"{sourceName}: a NUL character in the text (not UTF-16LE with a byte order mark, or not a registry export)");
        // Other control characters mean nothing in a key or a value and no server would store them: dropped.
        var lines = InventoryText.WithoutControls(text.Replace("\r\n", "\n"), '\n').Split('\n');
        var header = lines.FirstOrDefault()?.Trim() ?? "";
        if (header is not ("Windows Registry Editor Version 5.00" or "REGEDIT4"))
            throw new FormatException($"{sourceName}: line 1: '{Clip(header)}' is not the header of a registry export (\"Windows Registry Editor Version 5.00\")");
        // REGEDIT4 (regedit's "Win9x/NT4" export) writes expandable and multi-string values as ANSI bytes, not UTF-16.
        var ansi = header == "REGEDIT4";
        var export = new RegistryExport();
        Dictionary<string, object>? current = null;
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd();
            var number = i + 1;
            // A hex value continues over lines ending in a backslash.
            while (line.EndsWith('\\') && line.Contains("=hex", StringComparison.Ordinal) && i + 1 < lines.Length) line = line[..^1] + lines[++i].Trim();
            if (line.Length == 0 || line.StartsWith(';')) continue;
            try
            {
                if (line.StartsWith('['))
                {
                    if (!line.EndsWith(']')) throw new FormatException($"{sourceName}: line {number}: a key line must end with ']'");
                    var path = Abbreviate(line[1..^1]);
                    if (path.StartsWith('-')) { current = null; continue; }
                    if (!path.StartsWith("HK", StringComparison.OrdinalIgnoreCase)) throw new FormatException($"{sourceName}: line {number}: '{Clip(path)}' is not a registry key path");
                    current = export._keys.TryGetValue(path, out var existing) ? existing : export._keys[path] = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
                    continue;
                }
                if (current is null) throw new FormatException($"{sourceName}: line {number}: a value outside any [key]");
                var (name, rest) = NameAndRest(line, sourceName, number);
                current[name] = Value(rest, sourceName, number, ansi);
            }
            catch (FormatException) when (skipBadLines)
            {
                export.SkippedLines++;
            }
        }
        return export;
    }

    private static (string Name, string Value) NameAndRest(string line, string source, int number)
    {
        if (line.StartsWith("@=", StringComparison.Ordinal)) return ("", line[2..]);
        if (!line.StartsWith('"')) throw new FormatException($"{source}: line {number}: a value line must start with a quoted name or @");
        var (name, end) = Quoted(line, 0, source, number);
        if (end >= line.Length || line[end] != '=') throw new FormatException($"{source}: line {number}: '=' expected after the value name");
        return (name, line[(end + 1)..]);
    }

    private static object Value(string rest, string source, int number, bool ansi)
    {
        if (rest.StartsWith('"'))
        {
            var (text, end) = Quoted(rest, 0, source, number);
            return end == rest.Length ? text : throw new FormatException($"{source}: line {number}: text after the closing quote");
        }
        if (rest.StartsWith("dword:", StringComparison.OrdinalIgnoreCase))
            return uint.TryParse(rest[6..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var d) ? (long)d
                : throw new FormatException($"{source}: line {number}: '{Clip(rest)}' is not a dword (8 hex digits)");
        var colon = rest.IndexOf(':');
        if (colon < 0 || !rest.StartsWith("hex", StringComparison.OrdinalIgnoreCase)) throw new FormatException($"{source}: line {number}: '{Clip(rest)}' is not a registry value");
        var bytes = Hex(rest[(colon + 1)..], source, number);
        return rest[..colon].ToLowerInvariant() switch
        {
            "hex" => bytes,
            "hex(2)" => InventoryText.WithoutControls((ansi ? InventoryText.Ansi : Encoding.Unicode).GetString(bytes).TrimEnd('\0')),
            "hex(7)" => (ansi ? InventoryText.Ansi : Encoding.Unicode).GetString(bytes).TrimEnd('\0').Split('\0').Select(v => InventoryText.WithoutControls(v)).ToArray(),
            "hex(b)" when bytes.Length == 8 => BitConverter.ToInt64(bytes),
            "hex(4)" when bytes.Length == 4 => (long)BitConverter.ToUInt32(bytes),
            _ => bytes,
        };
    }

    private static byte[] Hex(string text, string source, int number)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var bytes = new byte[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!byte.TryParse(parts[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out bytes[i]))
                throw new FormatException($"{source}: line {number}: '{Clip(parts[i])}' is not a hex byte");
        return bytes;
    }

    private static (string Text, int End) Quoted(string line, int start, string source, int number)
    {
        var sb = new StringBuilder();
        for (var i = start + 1; i < line.Length; i++)
        {
            if (line[i] == '\\' && i + 1 < line.Length) { sb.Append(line[++i]); continue; }
            if (line[i] == '"') return (sb.ToString(), i + 1);
            sb.Append(line[i]);
        }
        throw new FormatException($"{source}: line {number}: a quoted text is not closed");
    }

    private static string Abbreviate(string path)
    {
        var p = path.Trim();
        foreach (var (full, abbr) in new[] { ("HKEY_LOCAL_MACHINE", "HKLM"), ("HKEY_CURRENT_USER", "HKCU"), ("HKEY_CLASSES_ROOT", "HKCR"), ("HKEY_USERS", "HKU") })
            if (p.StartsWith(full, StringComparison.OrdinalIgnoreCase)) return abbr + p[full.Length..];
        return p;
    }

    private static string Clip(string s) => s.Length > 80 ? s[..80] + "…" : s;
}
