using Microsoft.AspNetCore.Http;

namespace Patch.Application.Common;

/// <summary>
/// A body whose Content-Type no operation at its address takes (text/plain, a form, XML where JSON is bound): ASP.NET's
/// routing answers with an endpoint of its own that writes a bare 415. That endpoint carries no roles, so an agent's or a
/// child's credential met the fallback policy first and was told "your credential does not allow this", a user a 415 that
/// said nothing, and a sign-in sent as a form a 401. The 415 names the type, for anyone (the API's operations and the
/// types they take are public in its OpenAPI document).
/// </summary>
public static class UnsupportedMediaTypes
{
    /// <summary>The display name ASP.NET Core gives its rejection endpoint (AcceptsMatcherPolicy).</summary>
    private const string Rejection = "415 HTTP Unsupported Media Type";

    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (http.GetEndpoint()?.DisplayName == Rejection)
        {
            var type = http.Request.ContentType is { Length: > 0 } t ? $"'{Domain.Users.UserDecisions.Printable(t)}'" : "none";
            await Results.Problem(title: "Unsupported Media Type",
                detail: $"The request's Content-Type is {type}: this operation takes a JSON body (Content-Type: application/json; charset=utf-8).",
                statusCode: StatusCodes.Status415UnsupportedMediaType).ExecuteAsync(http);
            return;
        }
        await next(http);
    }
}
