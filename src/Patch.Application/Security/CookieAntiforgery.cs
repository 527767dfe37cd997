using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Patch.Application.Security;

/// <summary>
/// A browser sends the session cookie with any request, also one another site makes it send; so every state change
/// authenticated by the cookie must carry the antiforgery token the console put in its page (header
/// <c>X-Patch-Antiforgery</c> or form field <c>__RequestVerificationToken</c>). Bearer credentials are never sent by a
/// browser on its own, so token and agent requests need none. A refusal is a 400 that says what is missing.
/// </summary>
public static class CookieAntiforgery
{
    public static async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (NeedsCheck(http))
        {
            var antiforgery = http.RequestServices.GetRequiredService<IAntiforgery>();
            try
            {
                await antiforgery.ValidateRequestAsync(http);
            }
            catch (AntiforgeryValidationException)
            {
                await Results.Problem(title: "Antiforgery token missing or invalid",
                    detail: $"A change made with the console's session cookie must send the page's antiforgery token in the {PatchAuth.AntiforgeryHeader} header " +
                            $"(or the form field {PatchAuth.AntiforgeryField}). Reload the page, or call the API with a personal access token instead.",
                    statusCode: StatusCodes.Status400BadRequest).ExecuteAsync(http);
                return;
            }
        }
        await next(http);
    }

    private static bool NeedsCheck(HttpContext http) =>
        !(HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || HttpMethods.IsOptions(http.Request.Method) || HttpMethods.IsTrace(http.Request.Method))
        && http.User.Identity is { IsAuthenticated: true, AuthenticationType: PatchAuth.CookieScheme }
        && CookieSessions.IsApiRequest(http.Request);
}
