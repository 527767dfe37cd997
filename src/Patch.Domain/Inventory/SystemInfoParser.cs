using System.Text.RegularExpressions;

namespace Patch.Domain.Inventory;

/// <summary>What Windows says about itself: the operating system and its installed updates.</summary>
public sealed record OsInventory(
    string? HostName,
    string? Caption,
    string Version,
    int Build,
    int ServicePack,
    string Architecture,
    bool IsServer,
    string? SystemLocale,
    IReadOnlyList<string> InstalledKbs,
    int? DeclaredHotfixCount);

/// <summary>
/// Parses <c>systeminfo</c> output in any display language, as a list (the default, <c>/fo list</c>) or as CSV
/// (<c>/fo csv</c>, with or without its header). Labels are translated, so fields are found by what their values look
/// like (the OS version <c>6.1.7601 …</c>, the system type <c>x64-based PC</c>, the locale <c>de;Deutsch</c>, the hotfix
/// block of <c>[01]: KB…</c> lines), which stays the same in every language.
/// </summary>
public static partial class SystemInfoParser
{
    private sealed record Field(string Label, string Value, List<string> More);

    /// <summary>
    /// A capture's bytes. Unicode is read as written; anything else is what <c>systeminfo &gt; file</c> in cmd.exe writes:
    /// the console's OEM code page, which is the one of the system locale the capture itself names (fr → 850, ru → 866,
    /// zh-cn → 936). Read first as Latin-1 (every value the parser looks for is ASCII) to find that locale, then again in
    /// its code page — so "Microsoft Windows 7 Entreprise N" keeps its no-break space and a Chinese caption its characters.
    /// </summary>
    public static OsInventory Parse(byte[] bytes)
    {
        var os = Parse(InventoryText.Decode(bytes, out var legacy));
        if (!legacy || OemEncoding(os.SystemLocale) is not { } oem) return os;
        try
        {
            return Parse(oem.GetString(bytes));
        }
        catch (FormatException)
        {
            return os;
        }
    }

    /// <summary>The OEM code page of a locale (the console's under that system locale), or null when it has none or it is unknown here.</summary>
    private static System.Text.Encoding? OemEncoding(string? locale)
    {
        if (string.IsNullOrEmpty(locale)) return null;
        try
        {
            var codePage = System.Globalization.CultureInfo.GetCultureInfo(locale).TextInfo.OEMCodePage;
            return codePage is 0 or 1 or 65001 ? null : System.Text.CodePagesEncodingProvider.Instance.GetEncoding(codePage);
        }
        catch (System.Globalization.CultureNotFoundException)
        {
            return null;
        }
    }

    public static OsInventory Parse(string text)
    {
        text = InventoryText.WithoutControls(text, '\t', '\r', '\n');
        var fields = LooksLikeCsv(text) ? CsvFields(text) : Fields(text);
        var versionIndex = fields.FindIndex(f => OsVersion().IsMatch(f.Value));
        if (versionIndex < 0)
            throw new FormatException(InventoryText.Lines(text).Any(l => TableRule().IsMatch(l))
                ? "systeminfo /fo table is not read: capture with systeminfo (the list form) or systeminfo /fo csv"
                : "not systeminfo output: no OS version line (like '10.0.19045 N/A Build 19045') was found");
        var versionMatch = OsVersion().Match(fields[versionIndex].Value);
        var version = versionMatch.Groups[1].Value;
        if (!int.TryParse(version.Split('.')[2], System.Globalization.CultureInfo.InvariantCulture, out var build))
            throw new FormatException($"not systeminfo output: the build of OS version '{version}' is not a number Windows has");
        var sp = ServicePackNumber().Match(fields[versionIndex].Value) is { Success: true } m && int.TryParse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out var servicePack) ? servicePack : 0;
        var caption = versionIndex > 0 ? fields[versionIndex - 1].Value.Trim() : null;
        var host = fields.Count > 0 && versionIndex >= 2 ? fields[0].Value.Trim() : null;
        var configuration = versionIndex + 2 < fields.Count ? fields[versionIndex + 2].Value : "";

        var arch = fields.Select(f => SystemType().Match(f.Value)).FirstOrDefault(x => x.Success)?.Groups[1].Value.ToLowerInvariant() switch
        {
            "x64" or "amd64" => "x64",
            "x86" => "x86",
            "arm64" => "arm64",
            "itanium" or "ia64" => "ia64",
            _ => throw new FormatException("not systeminfo output: no system type (like 'x64-based PC') was found"),
        };

        var locale = fields.Select(f => Locale().Match(f.Value)).FirstOrDefault(x => x.Success)?.Groups[1].Value.ToLowerInvariant();
        var hotfixes = fields.FirstOrDefault(f => f.More.Any(l => HotfixLine().IsMatch(l)));
        // systeminfo lists its hotfixes, then its network cards, after the locale: a capture without a list after it ends
        // before them (cut short), and its installed KBs would read as none.
        if (hotfixes is null && fields.FindIndex(f => Locale().IsMatch(f.Value)) is var localeAt and >= 0 && !fields.Skip(localeAt + 1).Any(f => f.More.Count > 0))
            throw new FormatException("the capture ends before its Hotfix(s) and Network Card(s) lists: it was cut short, and its installed KBs cannot be read");
        var kbs = hotfixes?.More.Select(l => HotfixLine().Match(l)).Where(x => x.Success).Select(x => Normalize(x.Groups[1].Value)).OfType<string>().Distinct().ToList() ?? [];
        var declared = hotfixes is not null && LeadingNumber().Match(hotfixes.Value) is { Success: true } n && int.TryParse(n.Value, System.Globalization.CultureInfo.InvariantCulture, out var count) ? count : (int?)null;

        return new OsInventory(host, caption, version, build, sp, arch, IsServer(caption, configuration, version), locale, kbs, declared);
    }

    /// <summary>
    /// A hotfix id as Windows lists it, as Patch keeps it: KB4486553 stays; "KB958690-v2" keeps its KB number; Q147222 stays
    /// (pre-2003 numbering, "Q147222-v2" too); a bare 943729 (Vista and Server 2008 list some so) is KB943729. Anything else —
    /// "KB448" of a capture cut mid-line, a nine-digit number, "QuickFix" — is no id (the server takes 4 to 8 digits): null.
    /// </summary>
    public static string? Normalize(string hotfix)
    {
        var text = hotfix.Trim();
        if (KbNumber().Match(text) is { Success: true } kb) return "KB" + kb.Groups[1].Value;
        if (QNumber().Match(text) is { Success: true } q) return "Q" + q.Groups[1].Value;
        if (BareNumber().Match(text) is { Success: true } bare) return "KB" + bare.Groups[1].Value;
        return null;
    }

    private static bool IsServer(string? caption, string configuration, string version)
    {
        var name = caption ?? "";
        if (ServerWord().IsMatch(name)) return true;
        // Windows 10 and 11 Enterprise multi-session say "Member Server" (their product type is a server's): a client still.
        if (ClientRelease().IsMatch(name)) return false;
        if (ServerWord().IsMatch(configuration)) return true;
        // Localized captions may drop "Server"; a domain controller is a server in every language.
        return DomainController().IsMatch(configuration) || (version == "5.2.3790" && !name.Contains("XP", StringComparison.OrdinalIgnoreCase));
    }

    private static List<Field> Fields(string text)
    {
        var fields = new List<Field>();
        foreach (var raw in InventoryText.Lines(text))
        {
            var line = raw.TrimEnd();
            if (line.Trim().Length == 0) continue;
            // An entry of a list ("[01]: KB4486553") continues its field, indented or not (a copy with its indentation trimmed).
            if ((char.IsWhiteSpace(line[0]) || ListEntry().IsMatch(line)) && fields.Count > 0)
            {
                fields[^1].More.Add(line.Trim());
                continue;
            }
            var colon = LabelEnd(line);
            if (colon < 0)
            {
                if (fields.Count > 0) fields[^1].More.Add(line.Trim());
                continue;
            }
            fields.Add(new Field(line[..colon].Trim(), line[(colon + 1)..].Trim(), []));
        }
        return fields;
    }

    /// <summary>The label ends at the first ':' followed by spaces (labels such as "Virtual Memory: Max Size:" hold a ':' too).</summary>
    private static int LabelEnd(string line)
    {
        var m = LabelColon().Match(line);
        return m.Success ? m.Index : (line.EndsWith(':') ? line.Length - 1 : -1);
    }

    /// <summary>The rule under a table's header: runs of '=' between spaces, as Windows' console tools draw it.</summary>
    [GeneratedRegex(@"^\s*=+(?: +=+)+\s*$")]
    private static partial Regex TableRule();

    /// <summary>A Windows version as systeminfo writes it (5.0.2195 to 10.0.26100…): a date such as 01.03.2019 is none.</summary>
    [GeneratedRegex(@"^((?:5|6|10)\.[0-9]\.[0-9]{4,5})\b")]
    private static partial Regex OsVersion();

    [GeneratedRegex(@"Service Pack (\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex ServicePackNumber();

    [GeneratedRegex(@"\b(x64|x86|amd64|arm64|itanium|ia64)-based", RegexOptions.IgnoreCase)]
    private static partial Regex SystemType();

    /// <summary>A locale of one to three parts: "de-de", "sr-latn-rs".</summary>
    [GeneratedRegex(@"^([a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2});", RegexOptions.IgnoreCase)]
    private static partial Regex Locale();

    /// <summary>A hotfix entry, "[01]: KB4486553" (or "[01] : …", as French systeminfo writes), or a bare number of six or seven digits.</summary>
    [GeneratedRegex(@"^\[[0-9]+\]\s*:\s*((?:KB|Q)[0-9]+\S*|[0-9]{6,7}(?=\s|$))", RegexOptions.IgnoreCase)]
    private static partial Regex HotfixLine();

    [GeneratedRegex(@"^\[[0-9]+\]\s*:")]
    private static partial Regex ListEntry();

    [GeneratedRegex(@"KB([0-9]{4,8})(?![0-9])", RegexOptions.IgnoreCase)]
    private static partial Regex KbNumber();

    [GeneratedRegex(@"^Q([0-9]{4,8})(?![0-9])", RegexOptions.IgnoreCase)]
    private static partial Regex QNumber();

    [GeneratedRegex(@"^([0-9]{6,7})$")]
    private static partial Regex BareNumber();

    [GeneratedRegex(@"\bWindows (?:10|11)\b", RegexOptions.IgnoreCase)]
    private static partial Regex ClientRelease();

    [GeneratedRegex(@"\d+")]
    private static partial Regex LeadingNumber();

    [GeneratedRegex(@":\s{2,}|:\s*$|:\s(?=\S)")]
    private static partial Regex LabelColon();

    [GeneratedRegex(@"\bServer\b|\bServeur\b|\bServidor\b|Сервер|伺服器|服务器", RegexOptions.IgnoreCase)]
    private static partial Regex ServerWord();

    [GeneratedRegex(@"domain controller|Domänencontroller|contrôleur de domaine|controlador de dominio|controller di dominio|контроллер домена", RegexOptions.IgnoreCase)]
    private static partial Regex DomainController();
}
