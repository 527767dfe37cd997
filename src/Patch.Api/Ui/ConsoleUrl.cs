using System.Globalization;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;

namespace Patch.Api.Ui;

/// <summary>Links that keep the page's other query parameters (filters, sort, page) while changing some.</summary>
public static class ConsoleUrl
{
    public static string With(HttpRequest request, params (string Key, string? Value)[] changes)
    {
        var query = request.Query.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in changes)
        {
            if (string.IsNullOrEmpty(value)) query.Remove(key);
            else query[key] = value;
        }
        return QueryHelpers.AddQueryString(request.Path, query.SelectMany(kv => kv.Value.Select(v => new KeyValuePair<string, string?>(kv.Key, v))));
    }

    /// <summary>The API's address of the same list, for "Save As" CSV: the page's filters and sort, every row.</summary>
    public static string Csv(HttpRequest request, string apiPath, params string[] drop)
    {
        var pairs = request.Query.Where(kv => !drop.Contains(kv.Key, StringComparer.OrdinalIgnoreCase) && kv.Key is not ("page" or "pageSize" or "format" or "after"))
            .SelectMany(kv => kv.Value.Where(v => !string.IsNullOrEmpty(v)).Select(v => new KeyValuePair<string, string?>(kv.Key, v))).Append(new("format", "csv"));
        return QueryHelpers.AddQueryString(apiPath, pairs);
    }

    public static string Query(params (string Key, string? Value)[] pairs) =>
        QueryHelpers.AddQueryString("", pairs.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => new KeyValuePair<string, string?>(p.Key, p.Value)));

    public static string? Get(HttpRequest request, string key) => request.Query.TryGetValue(key, out StringValues v) && !StringValues.IsNullOrEmpty(v) ? v.ToString() : null;

    public static bool? Bool(HttpRequest request, string key) => bool.TryParse(Get(request, key), out var b) ? b : null;

    /// <summary>
    /// A whole number from the address, or null when it is not there. A value that is none (<c>page=abc</c>, <c>-5</c>, a
    /// number past int) is read as 0, which every console query refuses naming the parameter ("page must be from 1…",
    /// "days: 1 to 3650") — never dropped as if it had not been asked.
    /// </summary>
    public static int? Int(HttpRequest request, string key) =>
        Get(request, key) is not { } text ? null : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;

    public static string Segment(string value) => Uri.EscapeDataString(value);
}
