using Microsoft.AspNetCore.Http;

namespace Patch.Application.Common;

/// <summary>
/// An API address no operation has (<c>/agent/v1/config</c>, a misspelt report): a 404 that says so. Without it the
/// authorization fallback met the request first, and a valid agent's or child's credential was told "your credential
/// does not allow this" — as if the operation existed for someone else.
/// </summary>
public static class UnknownRoutes
{
    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (http.GetEndpoint() is null && Security.CookieSessions.IsApiRequest(http.Request))
        {
            await Results.Problem(title: "Not found",
                detail: $"No operation answers {http.Request.Method} {Domain.Users.UserDecisions.Printable(http.Request.Path.Value ?? "")}: the API's operations are listed at /swagger.",
                statusCode: StatusCodes.Status404NotFound).ExecuteAsync(http);
            return;
        }
        await next(http);
    }
}
