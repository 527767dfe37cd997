namespace Patch.Application.Common;

public static class Csv
{
    /// <summary>RFC 4180 quoting; cells a spreadsheet would run as a formula get a leading apostrophe.</summary>
    public static string Cell(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
    }
}
