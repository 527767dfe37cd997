using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.ApiExplorer;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Patch.Application.Common;

/// <summary>A query parameter an endpoint reads itself (paging, sort, CSV, time ranges): declared so it is documented with its type and accepted.</summary>
public sealed record QueryParameter(string Name, string Type, string Description, IReadOnlyList<string>? Enum = null, string? Format = null, int? Minimum = null,
    int? Maximum = null, bool Required = false);

public sealed record QueryParametersMetadata(IReadOnlyList<QueryParameter> Parameters);

/// <summary>
/// A parameter nobody reads must not be silently ignored (a report that drops <c>asOf</c> answers a question nobody
/// asked): any query parameter an operation does not take is a 400 that names it and lists the ones it takes, and so
/// is a parameter given more than once. What an
/// operation takes is what its handler binds (as the OpenAPI document shows) plus what it declares with
/// <see cref="WithQuery{TBuilder}"/>.
/// </summary>
public static class QueryParameters
{
    private static readonly ConcurrentDictionary<Endpoint, Taken> Known = new();

    /// <summary>The names an operation takes, and the type its handler binds each one it does not declare to (a declared one is checked by its declaration).</summary>
    private sealed record Taken(IReadOnlySet<string> Names, IReadOnlyDictionary<string, Type> Bound);

    public static QueryParameter Page => new("page", "integer", "1-based page number (default 1).", Minimum: 1);

    /// <summary>A report's page size: up to 1,000 rows as JSON, up to a million as CSV (the schema's maximum is CSV's).</summary>
    public static QueryParameter PageSize() =>
        new("pageSize", "integer", "Rows per page, 1 to 1000 (default 50); CSV 1 to 1,000,000 (default 100,000), with every row's count in X-Total-Count and, when rows follow, the next page in a Link header (rel=next).", Minimum: 1, Maximum: 1_000_000);

    public static QueryParameter Sort(IEnumerable<string> columns, string defaultSort) => new("sort", "string",
        $"Column to sort on, '-' before it for descending (default {defaultSort}).", columns.SelectMany(c => new[] { c, "-" + c }).ToList());

    public static QueryParameter Format => new("format", "string", "'csv' for CSV (\"Save As\"), same as Accept: text/csv.", ["csv", "json"]);

    public static QueryParameter DateTime(string name, string description) => new(name, "string", description, Format: "date-time");

    /// <summary>Paging, sort and CSV, as <c>ReportQuery</c> reads them.</summary>
    public static QueryParameter[] Report(IEnumerable<string> sortColumns, string defaultSort) =>
        [Page, PageSize(), Sort(sortColumns, defaultSort), Format];

    public static QueryParameter After => new("after", "string",
        "The 'next' cursor of the previous page's answer: the page after it, walked from where that page stopped (name order only; instead of page=, fast at any depth).");

    /// <summary>A drill-down's paging: the report's, and by cursor in name order (<c>NameCursor</c>).</summary>
    public static QueryParameter[] DrillDown(IEnumerable<string> sortColumns, string defaultSort) => [.. Report(sortColumns, defaultSort), After];

    /// <summary>A list's paging: the report's, and by cursor in any of its orders (the computers list).</summary>
    public static QueryParameter[] Keyset(IEnumerable<string> sortColumns, string defaultSort) =>
    [
        .. Report(sortColumns, defaultSort),
        new("after", "string", "The 'next' cursor of the previous page's answer: the page after it, walked from where that page stopped (in the same sort; instead of page=, fast at any depth)."),
    ];

    public static TBuilder WithQuery<TBuilder>(this TBuilder builder, params QueryParameter[] parameters) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new QueryParametersMetadata(parameters));

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (http.Request.QueryString.HasValue && http.GetEndpoint() is { } endpoint && endpoint.Metadata.GetMetadata<IEndpointNameMetadata>() is not null)
        {
            var taken = Known.GetOrAdd(endpoint, e => Compute(e, http.RequestServices));
            var known = taken.Names;
            var unknown = http.Request.Query.Keys.Where(k => !known.Contains(k)).ToList();
            if (unknown.Count > 0)
            {
                var takes = known.Count == 0 ? "no query parameters" : string.Join(", ", known.Order(StringComparer.Ordinal));
                await Results.Problem(title: "Unknown query parameter",
                    detail: $"{string.Join(", ", unknown.Select(u => $"'{Domain.Users.UserDecisions.Printable(u)}'"))}: not a parameter of this operation, which takes {takes}.",
                    statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
                return;
            }
            // No operation takes a parameter twice: ASP.NET would join the values with commas (q=a&q=b searches for
            // "a,b"), an answer to a question nobody asked. Names compare without case, as the binding does.
            var repeated = http.Request.Query.Where(q => q.Value.Count > 1).Select(q => q.Key).ToList();
            if (repeated.Count > 0)
            {
                await Results.Problem(title: "Repeated query parameter",
                    detail: $"{string.Join(", ", repeated.Select(r => $"'{Domain.Users.UserDecisions.Printable(r)}' is given {http.Request.Query[r].Count} times"))} " +
                            "(names compare without case): give each parameter once.",
                    statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
                return;
            }
            if (Invalid(endpoint, taken, http.Request.Query) is { } invalid)
            {
                await Results.Problem(title: "Invalid query parameter", detail: invalid, statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
                return;
            }
        }
        await next(http);
    }

    /// <summary>
    /// What is wrong with a parameter's value — or null. Every parameter has a value (<c>page=</c> is no page, and no
    /// question either). A declared parameter is checked by the kind its declaration says (a number, a boolean, an instant,
    /// one of a list: format=xml is no CSV nor JSON), one its handler binds by the type it binds to (an instant in ISO 8601
    /// only, an enum by its names — <c>status=0</c> is no status —, a number whole and within the type's range). A sort is
    /// checked by the query that reads it (which knows its columns), a free text by its use.
    /// </summary>
    private static string? Invalid(Endpoint endpoint, Taken taken, IQueryCollection query)
    {
        foreach (var (name, values) in query)
            if (values.ToString().Trim().Length == 0) return $"'{Printable(name)}' is given without a value: give one, or leave the parameter out.";
        foreach (var p in endpoint.Metadata.GetOrderedMetadata<QueryParametersMetadata>().SelectMany(m => m.Parameters))
        {
            if (p.Name == "sort" || !query.TryGetValue(p.Name, out var values)) continue;
            var value = values.ToString();
            if (p.Enum is { } allowed && !allowed.Contains(value.Trim(), StringComparer.OrdinalIgnoreCase))
                return $"'{p.Name}': '{Printable(value)}' is not one of {string.Join(", ", allowed)}.";
            if (p.Type == "integer" && !long.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out _))
                return $"'{p.Name}': '{Printable(value)}' is not a whole number.";
            if (p.Type == "boolean" && !IsBoolean(value)) return $"'{p.Name}': '{Printable(value)}' is not true or false.";
            if (p.Format == "date-time" && !IsoInstant.TryParse(value, out _)) return $"{IsoInstant.Refusal(p.Name, value)}.";
        }
        foreach (var (name, type) in taken.Bound)
            if (query.TryGetValue(name, out var values) && Unbindable(name, type, values.ToString()) is { } problem) return problem;
        return null;
    }

    /// <summary>What is wrong with <paramref name="value"/> as the <paramref name="type"/> a handler binds <paramref name="name"/> to; null when nothing.</summary>
    private static string? Unbindable(string name, Type type, string value)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        var shown = Printable(value);
        const System.Globalization.NumberStyles whole = System.Globalization.NumberStyles.AllowLeadingSign;
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        // The operation's own range (a page size from 1 to 1000) is said by the operation; here only what no int holds.
        if (t == typeof(int) && !int.TryParse(value, whole, invariant, out _))
            return long.TryParse(value, whole, invariant, out _) ? $"{name}: '{shown}' is too large a number." : $"{name}: '{shown}' is not a whole number.";
        if (t == typeof(long) && !long.TryParse(value, whole, invariant, out _)) return $"{name}: '{shown}' is not a whole number.";
        if (t == typeof(bool) && !IsBoolean(value)) return $"{name}: '{shown}' is not true or false.";
        if ((t == typeof(DateTimeOffset) || t == typeof(DateTime)) && !IsoInstant.TryParse(value, out _)) return $"{IsoInstant.Refusal(name, value)}.";
        if (t == typeof(DateOnly) && !DateOnly.TryParseExact(value, "yyyy-MM-dd", invariant, System.Globalization.DateTimeStyles.None, out _))
            return $"{name}: '{shown}' is not a date like 2026-10-01.";
        if (t == typeof(Guid) && !Guid.TryParse(value, out _)) return $"{name}: '{shown}' is not a GUID.";
        // By name only: Enum.TryParse also takes "0", "1,2" and " Active".
        if (t.IsEnum && !Enum.GetNames(t).Contains(value, StringComparer.OrdinalIgnoreCase))
            return $"{name}: '{shown}' is not one of {string.Join(", ", Enum.GetNames(t))}.";
        return null;
    }

    /// <summary>true or false, in any case, and nothing around it (bool.TryParse also takes " true ").</summary>
    private static bool IsBoolean(string value) => value.Equals("true", StringComparison.OrdinalIgnoreCase) || value.Equals("false", StringComparison.OrdinalIgnoreCase);

    private static string Printable(string text) => Domain.Users.UserDecisions.Printable(text);

    private static Taken Compute(Endpoint endpoint, IServiceProvider services)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var bound = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        foreach (var metadata in endpoint.Metadata.GetOrderedMetadata<QueryParametersMetadata>())
            foreach (var p in metadata.Parameters) names.Add(p.Name);
        var name = endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()!.EndpointName;
        var descriptions = services.GetRequiredService<IApiDescriptionGroupCollectionProvider>().ApiDescriptionGroups.Items.SelectMany(g => g.Items);
        var declared = names.ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var d in descriptions.Where(d => d.ActionDescriptor.EndpointMetadata.OfType<IEndpointNameMetadata>().Any(n => n.EndpointName == name)))
            foreach (var p in d.ParameterDescriptions.Where(p => p.Source == Microsoft.AspNetCore.Mvc.ModelBinding.BindingSource.Query))
            {
                names.Add(p.Name);
                if (p.Type is { } type && !declared.Contains(p.Name)) bound[p.Name] = type;
            }
        return new Taken(names, bound);
    }
}
