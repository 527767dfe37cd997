using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;

namespace Patch.Application.Common;

/// <summary>An operation that reads its request body itself (a file upload, CSV, NDJSON) rather than through a bound parameter.</summary>
public sealed record ReadsBodyMetadata;

/// <summary>
/// A request body sent to an operation that takes none (an enable, a delete, a report) is refused by name rather than
/// dropped: a client that sends <c>{"force": true}</c> with a DELETE, or a filter as a JSON body to a GET, must not have
/// the operation carried out as if it had said nothing. What an operation takes is what its handler binds (ASP.NET's
/// accepts metadata) or declares with <see cref="ReadsBody{TBuilder}"/>.
/// </summary>
public static class RequestBodies
{
    public static TBuilder ReadsBody<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ReadsBodyMetadata());

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var request = http.Request;
        var maybeBody = request.ContentLength > 0 || request.ContentLength is null && request.Headers.TransferEncoding.Count > 0;
        // A compressed body is read as the bytes it is sent as, by every operation: refused by name rather than read as text
        // that is not ("not valid JSON", "not UTF-8"). A gzip-compressed catalog is recognised by its content, without the header.
        if (maybeBody && request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            await Results.Problem(title: "Unsupported Media Type",
                detail: $"Content-Encoding '{Domain.Users.UserDecisions.Printable(encoding)}' is not read: send the body as it is, without the header (a gzip-compressed catalog file is recognised by its own bytes).",
                statusCode: StatusCodes.Status415UnsupportedMediaType).ExecuteAsync(http);
            return;
        }
        // A JSON patch document says "change only this" (RFC 7396: null removes; RFC 6902: a list of operations): read as the
        // whole resource it is not, it would replace what the sender meant to keep. Every operation here takes a whole body.
        if (maybeBody && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType)
            && (mediaType.MediaType.Equals("application/merge-patch+json", StringComparison.OrdinalIgnoreCase)
                || mediaType.MediaType.Equals("application/json-patch+json", StringComparison.OrdinalIgnoreCase)))
        {
            await Results.Problem(title: "Unsupported Media Type",
                detail: $"Content-Type '{Domain.Users.UserDecisions.Printable(mediaType.MediaType.ToString())}' asks for a partial change, which no operation here applies: send the whole body as application/json.",
                statusCode: StatusCodes.Status415UnsupportedMediaType).ExecuteAsync(http);
            return;
        }
        if (maybeBody && http.GetEndpoint() is { } endpoint && endpoint.Metadata.GetMetadata<IEndpointNameMetadata>() is not null
            && endpoint.Metadata.GetMetadata<IAcceptsMetadata>() is null && endpoint.Metadata.GetMetadata<ReadsBodyMetadata>() is null
            && endpoint.Metadata.GetMetadata<ChecksOwnBodyText>() is null && await HasBytesAsync(request))
        {
            await Results.Problem(title: "Unexpected request body",
                detail: $"{request.Method} {request.Path} takes no request body (it has its parameters in the path and query); the body was not read and nothing was done. Send the request without it.",
                statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
            return;
        }
        await next(http);
    }

    /// <summary>Whether the body holds a byte: a chunked body may be empty (a client streaming nothing), and that is no body.</summary>
    private static async Task<bool> HasBytesAsync(HttpRequest request)
    {
        if (request.ContentLength > 0) return true;
        request.EnableBuffering();
        var read = await request.Body.ReadAsync(new byte[1], request.HttpContext.RequestAborted);
        request.Body.Position = 0;
        return read > 0;
    }
}
