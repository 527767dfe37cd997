namespace Patch.Application.Common;

public static class Csv
{
    /// <summary>RFC 4180 quoting; cells a spreadsheet would run as a formula get a leading apostrophe.</summary>
    public static string Cell(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        // Quoted also with a semicolon or a tab: a spreadsheet that splits on those (Excel in German or French) would make the
        // text after one a cell of its own, a formula if it starts with '='.
        return value.IndexOfAny([',', '"', '\r', '\n', ';', '\t']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
    }
}
