namespace Patch.Api.Hosting;

/// <summary>
/// HTTPS (Kestrel's own configuration: <c>Kestrel:Endpoints:Https</c> with a certificate, see docs/security.md): when an
/// HTTPS endpoint is configured, plain HTTP is redirected and HSTS is sent; the session cookie is Secure on HTTPS.
/// </summary>
public static class PatchHttps
{
    public static bool HttpsConfigured(IConfiguration config) =>
        config.GetSection("Kestrel:Endpoints").GetChildren().Any(e => e["Url"]?.StartsWith("https://", StringComparison.OrdinalIgnoreCase) == true)
        || (config["urls"] ?? config["ASPNETCORE_URLS"] ?? "").Contains("https://", StringComparison.OrdinalIgnoreCase);

    public static IServiceCollection AddPatchHttps(this IServiceCollection services, IConfiguration config)
    {
        services.AddHsts(o =>
        {
            o.MaxAge = TimeSpan.FromDays(365);
            o.IncludeSubDomains = false;
        });
        services.AddHttpsRedirection(o => o.RedirectStatusCode = StatusCodes.Status308PermanentRedirect);
        return services;
    }

    public static void UsePatchHttps(this WebApplication app)
    {
        if (!HttpsConfigured(app.Configuration) || !app.Configuration.GetValue("Patch:Https:Redirect", true)) return;
        app.UseHsts();
        app.UseHttpsRedirection();
    }
}

/// <summary>
/// Headers every answer carries: no MIME sniffing, no framing by other sites, no referrer leaks; console pages get a
/// Content-Security-Policy that allows only the server's own scripts, styles and images (no asset from the internet).
/// Swagger UI keeps its own inline bootstrap script, so it gets a looser policy.
/// </summary>
public static class SecurityHeaders
{
    public const string ConsolePolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
        "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'";

    private const string SwaggerPolicy =
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; object-src 'none'";

    public static Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        http.Response.OnStarting(() =>
        {
            var headers = http.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "same-origin";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            if (!headers.ContainsKey("Content-Security-Policy"))
                headers.ContentSecurityPolicy = http.Request.Path.StartsWithSegments("/swagger") ? SwaggerPolicy : ConsolePolicy;
            return Task.CompletedTask;
        });
        return next(http);
    }
}
