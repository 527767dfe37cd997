using System.Reflection;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components.Endpoints;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Net.Http.Headers;
using Patch.Application.Security;
using Patch.Domain.Users;

namespace Patch.Api.Ui;

/// <summary>
/// Who may open a console page: a role (default auditor: every signed-in user with a role reads), "signed-in" (any
/// signed-in user, also while a new password is required) or "anonymous" (the sign-in page). <see cref="Forms"/> pages
/// take a form POST (sign-in); all others answer GET only. The server enforces roles on every API call the page's
/// buttons make anyway.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ConsoleAccessAttribute(string access) : Attribute
{
    public string Access { get; } = access;

    public bool Forms { get; init; }
}

/// <summary>The console (ADR 0016): Razor components rendered on the server (static SSR), its files, its status pages.</summary>
public static class ConsoleEndpoints
{
    public static IServiceCollection AddPatchConsole(this IServiceCollection services)
    {
        services.AddRazorComponents();
        services.AddSingleton<ConsoleAssets>();
        return services;
    }

    /// <summary>The console's files: anonymous (the sign-in page needs them), cached for good when asked by their hash.</summary>
    public static void UseConsoleFiles(this WebApplication app) => app.UseStaticFiles(new StaticFileOptions
    {
        FileProvider = ConsoleAssets.Files,
        OnPrepareResponse = c => c.Context.Response.Headers[HeaderNames.CacheControl] =
            c.Context.Request.Query.ContainsKey("v") ? "public, max-age=31536000, immutable" : "no-cache",
    });

    public static void MapConsole(this WebApplication app) =>
        app.MapRazorComponents<App>().Add(endpoint =>
        {
            var page = endpoint.Metadata.OfType<ComponentTypeMetadata>().FirstOrDefault()?.Type;
            var attribute = page?.GetCustomAttribute<ConsoleAccessAttribute>();
            var access = attribute?.Access ?? Roles.Auditor;
            switch (access)
            {
                case EndpointAccess.Anonymous:
                    endpoint.Metadata.Add(new AllowAnonymousAttribute());
                    endpoint.Metadata.Add(new EndpointAccess(EndpointAccess.Anonymous, null, "the console's sign-in page"));
                    endpoint.Metadata.Add(new EnableRateLimitingAttribute(SecurityServices.SignInRateLimit));
                    break;
                case "signed-in":
                    endpoint.Metadata.Add(new AuthorizeAttribute(PatchAuth.Policies.SignedIn));
                    endpoint.Metadata.Add(new EndpointAccess(EndpointAccess.User, null));
                    endpoint.Metadata.Add(new AllowedBeforePasswordChange());
                    break;
                default:
                    endpoint.Metadata.Add(new AuthorizeAttribute(PatchAuth.Policies.ForRole(access)));
                    endpoint.Metadata.Add(new EndpointAccess(EndpointAccess.User, access));
                    break;
            }
            if (attribute?.Forms != true)
            {
                foreach (var methods in endpoint.Metadata.OfType<HttpMethodMetadata>().ToList()) endpoint.Metadata.Remove(methods);
                endpoint.Metadata.Add(new HttpMethodMetadata(["GET"]));
            }
        });
}
