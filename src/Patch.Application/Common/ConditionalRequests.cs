using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Patch.Application.Common;

/// <summary>An operation that evaluates HTTP preconditions itself (a package served with its SHA-256 as entity tag).</summary>
public sealed record EvaluatesPreconditionsMetadata;

/// <summary>
/// HTTP preconditions on operations that keep no validators (RFC 9110 §13), evaluated rather than ignored — a client
/// that sends <c>If-Match</c> to avoid overwriting someone else's change must never have the write carried out anyway:
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
        builder.WithMetadata(new EvaluatesPreconditionsMetadata());

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var headers = http.Request.Headers;
        if ((headers.IfMatch.Count > 0 || headers.IfNoneMatch.Count > 0) && http.GetEndpoint() is { } endpoint
            && endpoint.Metadata.GetMetadata<EvaluatesPreconditionsMetadata>() is null && endpoint.Metadata.GetMetadata<IEndpointNameMetadata>() is not null)
        {
            if (headers.IfMatch.Count > 0 && headers.IfMatch.ToString().Trim() != "*")
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

    /// <summary>A package's entity tag: its SHA-256, which names its content.</summary>
    public static EntityTagHeaderValue PackageTag(string sha256) => new($"\"{sha256}\"");
}
