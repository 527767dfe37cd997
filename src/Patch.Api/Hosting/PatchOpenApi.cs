using Microsoft.OpenApi;
using Patch.Application.Catalog;

namespace Patch.Api.Hosting;

/// <summary>The OpenAPI document (Swashbuckle): security schemes, servers, operation ids and summaries, typed query parameters.</summary>
public static class PatchOpenApi
{
    public const string Bearer = "bearer";
    public const string Cookie = "cookie";
    public const string Agent = "agent";
    public const string ChildServer = "child-server";

    public static IServiceCollection AddPatchOpenApi(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(o =>
        {
            o.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "Patch",
                Version = "v1",
                Description = "Patch management server for fleets of Windows computers: catalog import, the Patch Remediation Center, staging, Software Update policies, " +
                              "targets, maintenance windows, agents, compliance and delivery reports, server tasks, history, users and sign-in. " +
                              "Administrators call /api with a personal access token, an OIDC access token or the console's session cookie; agents call /agent/v1 with their own credential; child servers call their parent's /replication/v1 with theirs.",
                License = new OpenApiLicense { Name = "MIT", Url = new Uri("https://opensource.org/licenses/MIT") },
            });
            foreach (var assembly in new[] { typeof(Program).Assembly, typeof(ImportCatalog).Assembly, typeof(Patch.Domain.StreamIds).Assembly, typeof(Patch.Projections.PatchProjections).Assembly })
            {
                var xml = Path.Combine(AppContext.BaseDirectory, $"{assembly.GetName().Name}.xml");
                if (File.Exists(xml)) o.IncludeXmlComments(xml);
            }
            o.CustomSchemaIds(t => t.IsGenericType ? t.Name[..t.Name.IndexOf('`')] + "Of" + string.Concat(t.GetGenericArguments().Select(a => a.Name)) : t.Name);
            o.SupportNonNullableReferenceTypes();
            o.NonNullableReferenceTypesAsRequired();
            o.SchemaFilter<DefaultedValuesOptional>();
            o.OperationFilter<PatchOperationFilter>();
            o.DocumentFilter<PatchDocumentFilter>();
            o.AddSecurityDefinition(Bearer, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer",
                Description = "A personal access token ('patch_pat_…', from POST /api/auth/me/tokens or the 'tokens create' command) or, with single sign-on configured, an OIDC access token.",
            });
            o.AddSecurityDefinition(Cookie, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Cookie, Name = Application.Security.PatchAuth.CookieName,
                Description = "The console's session cookie from POST /api/auth/sign-in; changes also need the X-Patch-Antiforgery header (GET /api/auth/antiforgery).",
            });
            o.AddSecurityDefinition(Agent, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer",
                Description = "The agent credential ('agentId.secret') received from POST /agent/v1/enrol.",
            });
            o.AddSecurityDefinition(ChildServer, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer",
                Description = "A child server's credential ('child-….secret') received from POST /replication/v1/register; every answer carries X-Patch-Signature.",
            });
        });
        return services;
    }
}
