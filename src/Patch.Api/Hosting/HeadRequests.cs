namespace Patch.Api.Hosting;

/// <summary>
/// HEAD is answered wherever GET is (RFC 9110 §9.3.2): the same status and headers, no body. Operations and console pages
/// are mapped for GET only, so a HEAD was a 405; it is now routed as the GET it asks about, and whatever that GET writes
/// is discarded. Nothing a GET does changes anything, so running it for a HEAD is safe.
/// </summary>
public static class HeadRequests
{
    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (!HttpMethods.IsHead(http.Request.Method))
        {
            await next(http);
            return;
        }
        http.Request.Method = HttpMethods.Get;
        var body = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()!;
        http.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>(new StreamResponseBodyFeature(Stream.Null, body));
        try
        {
            await next(http);
        }
        finally
        {
            http.Features.Set(body);
            http.Request.Method = HttpMethods.Head;
        }
    }
}
