using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Patch.Application.Common;

/// <summary>
/// An operation that evaluates HTTP preconditions itself: all of them (a package served with its SHA-256 as entity tag),
/// or If-Match alone (a change to an event stream, tagged by its version).
/// </summary>
public sealed record EvaluatesPreconditionsMetadata(bool IfMatchOnly);

/// <summary>
/// HTTP preconditions (RFC 9110 §13) evaluated rather than ignored — a client that sends <c>If-Match</c> to avoid
/// overwriting someone else's change must never have the write carried out anyway. An <c>If-Match</c> or
/// <c>If-None-Match</c> that is no list of entity tags is a 400 everywhere.
/// Policies, custom targets, agent configurations, maintenance windows, webhooks and the core and vendor settings are
/// tagged by their stream's version (<see cref="VersionTag"/>): their changes evaluate If-Match once the request is
/// otherwise valid and the resource exists (<see cref="IfMatchFails"/>), their reads evaluate both headers
/// (<see cref="ReadAsync"/>: 304, 412). Elsewhere:
/// <list type="bullet">
/// <item><c>If-Match</c> with entity tags: no tag can match a resource that has none — 412, nothing done
/// (<c>If-Match: *</c> holds for any resource that exists, and the operation answers 404 for one that does not).</item>
/// <item><c>If-None-Match</c> on a write (create-only semantics): not evaluated here — 400 naming it, nothing done.</item>
/// <item>On reads, <c>If-None-Match</c> with tags always holds (none was ever issued) and the date conditions are
/// ignored, as RFC 9110 requires of a resource without a modification date: the full answer is the right one.</item>
/// </list>
/// </summary>
public static class ConditionalRequests
{
    public static TBuilder EvaluatesPreconditions<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new EvaluatesPreconditionsMetadata(IfMatchOnly: false));

    public static TBuilder EvaluatesIfMatch<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new EvaluatesPreconditionsMetadata(IfMatchOnly: true));

    /// <summary>A stream's version as a strong entity tag: every change is an event that moves it (0: no event yet).</summary>
    public static string VersionTag(long version) => $"\"{version}\"";

    /// <summary>
    /// The 412 to answer when the request's If-Match does not hold for a stream now at <paramref name="version"/>, else
    /// null (no If-Match, "*", or the current tag among those given; weak tags never match, as RFC 9110 compares strongly).
    /// </summary>
    public static IResult? IfMatchFails(HttpRequest request, long version)
    {
        var tags = request.GetTypedHeaders().IfMatch;
        if (tags.Count == 0 || tags.Any(t => t.Tag == "*" || !t.IsWeak && t.Tag == VersionTag(version))) return null;
        request.HttpContext.Response.Headers.ETag = VersionTag(version);
        return Results.Problem(title: "Precondition failed",
            detail: "It was changed since it was read (by someone else, or from another page): that change is kept and this one was not saved. " +
                    $"Read it again (reload the page) and make the change again. (If-Match: its entity tag is now {VersionTag(version)}.)",
            statusCode: StatusCodes.Status412PreconditionFailed);
    }

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var headers = http.Request.Headers;
        // A value that is no entity tag (3 rather than "3") is not a condition to skip: it is refused by name, everywhere.
        // Every member of the list, strictly: ASP.NET's typed header skips a member that is none ("junk, \"1\"" read as "1").
        foreach (var (name, given) in new[] { ("If-Match", headers.IfMatch), ("If-None-Match", headers.IfNoneMatch) })
            if (given.Count > 0 && (!Microsoft.Net.Http.Headers.EntityTagHeaderValue.TryParseStrictList(given, out var parsed) || parsed.Count == 0))
            {
                await Results.Problem(title: $"Invalid {name}",
                    detail: $"{name}: '{Domain.Users.UserDecisions.Printable(given.ToString())}' is not a list of entity tags (a quoted string such as \"3\", or *); nothing was done.",
                    statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
                return;
            }
        if ((headers.IfMatch.Count > 0 || headers.IfNoneMatch.Count > 0) && http.GetEndpoint() is { } endpoint
            && endpoint.Metadata.GetMetadata<IEndpointNameMetadata>() is not null
            && endpoint.Metadata.GetMetadata<EvaluatesPreconditionsMetadata>() is var evaluates and not { IfMatchOnly: false })
        {
            if (evaluates is null && headers.IfMatch.Count > 0 && headers.IfMatch.ToString().Trim() != "*")
            {
                await Results.Problem(title: "Precondition failed",
                    detail: "If-Match: this resource has no entity tag, so no tag can match it; nothing was done. Send the request without If-Match.",
                    statusCode: StatusCodes.Status412PreconditionFailed).ExecuteAsync(http);
                return;
            }
            if (headers.IfNoneMatch.Count > 0 && !HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
            {
                await Results.Problem(title: "Precondition not supported",
                    detail: $"If-None-Match: {http.Request.Method} {http.Request.Path} does not evaluate it; nothing was done. Send the request without it.",
                    statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
                return;
            }
        }
        await next(http);
    }

    /// <summary>
    /// A read of a tagged resource: its tag now, taken before the resource is loaded (so an answer never pairs older data
    /// with a newer tag), then — once it exists — the read's preconditions evaluated against it: 304 when If-None-Match
    /// holds the current tag (weak comparison), 412 when If-Match does not. A read of the past (asOf) has no tag, and a
    /// precondition on it is refused by name.
    /// </summary>
    public static async Task<IResult> ReadAsync<T>(HttpContext http, Marten.IQuerySession session, string streamId, Func<Task<T?>> load,
        Func<T, IResult> answer, Func<IResult> missing) where T : class
    {
        var request = http.Request.GetTypedHeaders();
        if (AsOf.Of(http) is not null)
        {
            if (request.IfMatch.Count + request.IfNoneMatch.Count > 0)
                return Results.Problem(title: "Precondition not supported",
                    detail: "If-Match / If-None-Match: a read as of a past instant has no entity tag (tags name what is current); send it without them.",
                    statusCode: StatusCodes.Status400BadRequest);
            return await load() is { } past ? answer(past) : missing();
        }
        var tag = await CurrentTagAsync(session, streamId, http.RequestAborted);
        if (await load() is not { } resource) return missing();
        http.Response.Headers.ETag = tag;
        if (request.IfMatch.Count > 0 && !request.IfMatch.Any(t => t.Tag == "*" || !t.IsWeak && t.Tag == tag))
            return Results.Problem(title: "Precondition failed", detail: $"If-Match: the current entity tag is {tag}.", statusCode: StatusCodes.Status412PreconditionFailed);
        return request.IfNoneMatch.Any(t => t.Tag == "*" || t.Tag == tag) ? Results.StatusCode(StatusCodes.Status304NotModified) : answer(resource);
    }

    /// <summary>A stream's entity tag now: what a console page sends back with the changes it makes (data-if-match).</summary>
    public static async Task<string> CurrentTagAsync(Marten.IQuerySession session, string streamId, CancellationToken ct) =>
        VersionTag((await session.Events.FetchStreamStateAsync(streamId, ct))?.Version ?? 0);

    /// <summary>The answer to a change tagged with the version it leaves: the version read for writing and the events appended.</summary>
    public static void Tag(HttpContext http, long versionRead, int appended) => http.Response.Headers.ETag = VersionTag(versionRead + appended);

    /// <summary>A package's entity tag: its SHA-256, which names its content.</summary>
    public static EntityTagHeaderValue PackageTag(string sha256) => new($"\"{sha256}\"");

    /// <summary>
    /// A package answered whole when its Range cannot be honoured as RFC 9110 says, rather than as ASP.NET's range helper
    /// reads it: a unit other than bytes is ignored (it served <c>items=0-5</c> as bytes), and an If-Range that is not
    /// the package's own tag — unreadable, weak, another tag, or a date (packages have no Last-Modified) — sends it whole.
    /// </summary>
    public static void RangeAsRfcSays(HttpRequest request, string sha256)
    {
        var headers = request.Headers;
        if (headers.Range.Count == 0) return;
        var bytes = RangeHeaderValue.TryParse(headers.Range.ToString(), out var range) && string.Equals(range.Unit.Value, "bytes", StringComparison.OrdinalIgnoreCase);
        var ifRangeHolds = headers.IfRange.Count == 0
            || EntityTagHeaderValue.TryParse(headers.IfRange.ToString(), out var tag) && !tag.IsWeak && tag.Compare(PackageTag(sha256), useStrongComparison: true);
        if (!bytes || !ifRangeHolds) headers.Range = default;
    }
}
