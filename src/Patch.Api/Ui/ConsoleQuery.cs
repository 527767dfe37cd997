using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.AspNetCore.Components.Endpoints;
using Microsoft.AspNetCore.Diagnostics;

namespace Patch.Api.Ui;

/// <summary>
/// The query parameters a console page reads: its filters, sort and paging. A page without it takes none. A name
/// ending in <c>:bool</c> is true or false; one ending in <c>*</c> may be given more than once (the policy wizard's
/// bulletins).
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ConsoleQueryAttribute(params string[] parameters) : Attribute
{
    public IReadOnlyList<string> Parameters { get; } = parameters;
}

/// <summary>
/// A parameter a console page does not read is refused, as the API refuses it (docs/security.md): a page that quietly
/// drops <c>asOf</c> shows the present to someone who asked about the past. The answer is a 400 page naming the
/// parameter and listing the ones the page takes, with a link to the page without them; so is a parameter given
/// twice (its values would be joined with commas) and a true/false filter that is neither. The sign-in page, which anyone
/// may open, shows the refusal in place of its own problems and signs nobody in. Values a page reads
/// itself (a number, a date, one of a list) are refused by the page's query, under its filters, as before.
/// </summary>
public static class ConsoleQuery
{
    /// <summary>Where the refusal waits for the status page that shows it (the same request, re-executed as /not-found).</summary>
    public const string ProblemKey = "patch.console.query-problem";

    private sealed record Taken(IReadOnlyDictionary<string, string> Kinds, IReadOnlySet<string> Repeatable);

    private static readonly ConcurrentDictionary<Type, Taken> Known = new();

    public static Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (!http.Request.QueryString.HasValue || http.GetEndpoint() is not { } endpoint || endpoint.Metadata.GetMetadata<ComponentTypeMetadata>() is not { } page)
            return next(http);
        // The query's text first (a control character, bytes that are no UTF-8): refused as a page, not as the API's JSON.
        var problem = Patch.Application.Common.RequestText.InQuery(http.Request) is { } text ? $"{text.Title}: {text.Detail}" : Problem(Known.GetOrAdd(page.Type, Read), http.Request.Query);
        if (problem is null) return next(http);
        http.Items[ProblemKey] = problem;
        http.Response.StatusCode = StatusCodes.Status400BadRequest;
        // The status page needs a signed-in user; a page anyone may open (sign-in) shows the refusal itself, and does nothing else.
        return endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAllowAnonymous>() is null ? Task.CompletedTask : next(http);
    }

    /// <summary>The refusal the status page shows, and the page asked for (to link to it without its parameters); null when none.</summary>
    public static (string Problem, string Page)? Refusal(HttpContext http) =>
        http.Items.TryGetValue(ProblemKey, out var p) && p is string problem
            ? (problem, http.Features.Get<IStatusCodeReExecuteFeature>()?.OriginalPath ?? "/")
            : null;

    private static Taken Read(Type page)
    {
        var kinds = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var repeatable = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var spec in page.GetCustomAttribute<ConsoleQueryAttribute>()?.Parameters ?? [])
        {
            var name = spec.TrimEnd('*');
            var kind = "";
            if (name.IndexOf(':') is var colon and > 0) (name, kind) = (name[..colon], name[(colon + 1)..]);
            kinds[name] = kind;
            if (spec.EndsWith('*')) repeatable.Add(name);
        }
        return new Taken(kinds, repeatable);
    }

    private static string? Problem(Taken taken, IQueryCollection query)
    {
        var unknown = query.Keys.Where(k => !taken.Kinds.ContainsKey(k)).Select(k => $"'{Printable(k)}'").ToList();
        if (unknown.Count > 0)
        {
            var takes = taken.Kinds.Count == 0 ? "no parameters" : string.Join(", ", taken.Kinds.Keys.Order(StringComparer.Ordinal));
            var past = query.ContainsKey("asOf") ? " The console shows the present; the API's reports answer asOf." : "";
            return $"{string.Join(", ", unknown)}: not a parameter of this page, which takes {takes}.{past}";
        }
        foreach (var (name, values) in query)
        {
            if (values.Count > 1 && !taken.Repeatable.Contains(name))
                return $"'{Printable(name)}' is given {values.Count} times: give it once.";
            if (taken.Kinds[name] == "bool" && values.ToString() is { Length: > 0 } text
                && !text.Equals("true", StringComparison.OrdinalIgnoreCase) && !text.Equals("false", StringComparison.OrdinalIgnoreCase))
                return $"'{Printable(name)}': '{Printable(text)}' is not true or false.";
        }
        return null;
    }

    private static string Printable(string text) => Patch.Domain.Users.UserDecisions.Printable(text.Length > 80 ? text[..80] + "…" : text);
}
