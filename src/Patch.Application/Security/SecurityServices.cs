using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using Npgsql;
using Patch.Domain.Users;

namespace Patch.Application.Security;

/// <summary>Sign-in limits (<c>Patch:Auth:SignIn</c>): failures in a row before a lockout, its length, and attempts a minute per client address.</summary>
public sealed class SignInOptions
{
    public int MaxFailures { get; set; } = SignInPolicy.Default.MaxFailures;

    public TimeSpan LockoutDuration { get; set; } = SignInPolicy.Default.LockoutDuration;

    public int AttemptsPerMinute { get; set; } = 10;

    /// <summary>
    /// The least time a refused sign-in takes: a known name's refusal records the failure (a commit), an unknown one's
    /// records nothing, and the difference would tell which names exist. Above the hash and the commit, both take this.
    /// </summary>
    public TimeSpan RefusalFloor { get; set; } = TimeSpan.FromMilliseconds(400);

    public SignInPolicy Policy => new(MaxFailures, LockoutDuration);

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (MaxFailures is < 1 or > 100) problems.Add("Patch:Auth:SignIn:MaxFailures: 1 to 100");
        if (LockoutDuration < TimeSpan.FromSeconds(1) || LockoutDuration > TimeSpan.FromDays(1)) problems.Add("Patch:Auth:SignIn:LockoutDuration: 00:00:01 to 1.00:00:00");
        if (AttemptsPerMinute is < 1 or > 10_000) problems.Add("Patch:Auth:SignIn:AttemptsPerMinute: 1 to 10000");
        if (RefusalFloor < TimeSpan.Zero || RefusalFloor > TimeSpan.FromSeconds(10)) problems.Add("Patch:Auth:SignIn:RefusalFloor: 00:00:00 to 00:00:10");
        return problems;
    }
}

/// <summary>Authentication (cookie, personal access token, OIDC bearer, agent credential, child server credential), the role policies, antiforgery, the key ring, the sign-in rate limit.</summary>
public static class SecurityServices
{
    public const string SignInRateLimit = "sign-in";

    public static IServiceCollection AddPatchSecurity(this IServiceCollection services, IConfiguration config)
    {
        var session = Bind<SessionOptions>(config, "Patch:Auth:Session", o => o.Problems());
        var signIn = Bind<SignInOptions>(config, "Patch:Auth:SignIn", o => o.Problems());
        var oidc = Bind<OidcOptions>(config, "Patch:Auth:Oidc", o => o.Problems());
        services.AddSingleton(session).AddSingleton(signIn).AddSingleton(oidc);

        var auth = services.AddAuthentication(PatchAuth.Scheme)
            .AddPolicyScheme(PatchAuth.Scheme, "Patch", o => o.ForwardDefaultSelector = http => SelectScheme(http, oidc.Enabled))
            .AddCookie(PatchAuth.CookieScheme, o => CookieSessions.Configure(o, session))
            .AddScheme<AuthenticationSchemeOptions, PersonalAccessTokenHandler>(PatchAuth.TokenScheme, null)
            .AddScheme<AuthenticationSchemeOptions, AgentCredentialHandler>(PatchAuth.AgentScheme, null)
            .AddScheme<AuthenticationSchemeOptions, ChildCredentialHandler>(PatchAuth.ChildScheme, null);
        if (oidc.Enabled) auth.AddJwtBearer(PatchAuth.OidcScheme, oidc.Configure);

        services.AddAuthorization(o =>
        {
            o.FallbackPolicy = UserPolicy().Build();
            o.AddPolicy(PatchAuth.Policies.SignedIn, UserPolicy().Build());
            foreach (var role in Roles.All)
                o.AddPolicy(PatchAuth.Policies.ForRole(role), UserPolicy()
                    .RequireClaim(PatchAuth.Claims.Role, Roles.AtLeast(role))
                    .RequireAssertion(c => !c.User.MustChangePassword())
                    .Build());
            o.AddPolicy(PatchAuth.Policies.Agent, p => p.AddAuthenticationSchemes(PatchAuth.AgentScheme).RequireAuthenticatedUser().RequireClaim(PatchAuth.Claims.Kind, "agent"));
            o.AddPolicy(PatchAuth.Policies.ChildServer, p => p.AddAuthenticationSchemes(PatchAuth.ChildScheme).RequireAuthenticatedUser().RequireClaim(PatchAuth.Claims.Kind, "child-server"));
        });
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, AuthorizationProblems>();

        services.AddAntiforgery(o =>
        {
            o.HeaderName = PatchAuth.AntiforgeryHeader;
            o.FormFieldName = PatchAuth.AntiforgeryField;
            o.Cookie.Name = PatchAuth.AntiforgeryCookieName;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });

        services.AddDataProtection().SetApplicationName("Patch");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp =>
            new ConfigureOptions<KeyManagementOptions>(o => o.XmlRepository = new PostgresXmlRepository(sp.GetRequiredService<NpgsqlDataSource>())));

        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            // Attempts are POSTs (the API's and the console form's); showing the sign-in page is not one.
            o.AddPolicy(SignInRateLimit, http => HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)
                ? RateLimitPartition.GetNoLimiter("page")
                : SignInPartition(http, signIn.AttemptsPerMinute));
            o.OnRejected = async (context, ct) =>
            {
                // The partition that refused said which limit it is (the per-client one, or the sign-in one).
                var (title, detail) = context.HttpContext.Items.TryGetValue(RateLimitItem, out var said) && said is (string t, string d) ? (t, d)
                    : ("Too many requests", "Too many requests; try again in a minute.");
                context.HttpContext.Response.Headers.RetryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after)
                    ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) : "60";
                await Results.Problem(title: title, detail: detail, statusCode: StatusCodes.Status429TooManyRequests).ExecuteAsync(context.HttpContext);
            };
        });
        return services;
    }

    private const string RateLimitItem = "patch.rate-limit";

    /// <summary>What a 429 from this partition says (the title and detail of its problem).</summary>
    public static void MarkRateLimit(HttpContext http, string title, string detail) => http.Items[RateLimitItem] = (title, detail);

    private static RateLimitPartition<string> SignInPartition(HttpContext http, int perMinute)
    {
        MarkRateLimit(http, "Too many sign-in attempts", $"At most {perMinute} sign-in attempts a minute from one address; try again in a minute.");
        return RateLimitPartition.GetFixedWindowLimiter(http.Connection.RemoteIpAddress?.ToString() ?? "unknown",
            _ => new FixedWindowRateLimiterOptions { PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 });
    }

    /// <summary>The agent routes take agent credentials only, the replication routes child servers' credentials only; elsewhere a bearer credential is a personal access token or an OIDC token, else the cookie.</summary>
    public static string SelectScheme(HttpContext http, bool oidcEnabled)
    {
        if (http.Request.Path.StartsWithSegments("/agent/v1")) return PatchAuth.AgentScheme;
        if (http.Request.Path.StartsWithSegments(Hierarchy.ReplicationProtocol.Prefix)) return PatchAuth.ChildScheme;
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return header.AsSpan(7).Trim().StartsWith(PatchAuth.TokenPrefix, StringComparison.Ordinal) || !oidcEnabled ? PatchAuth.TokenScheme : PatchAuth.OidcScheme;
        return header.Length > 0 ? PatchAuth.TokenScheme : PatchAuth.CookieScheme;
    }

    private static AuthorizationPolicyBuilder UserPolicy() =>
        new AuthorizationPolicyBuilder().RequireAuthenticatedUser().RequireClaim(PatchAuth.Claims.Kind, "user");

    private static T Bind<T>(IConfiguration config, string section, Func<T, IReadOnlyList<string>> problems) where T : new()
    {
        var options = new T();
        config.GetSection(section).Bind(options);
        var found = problems(options);
        if (found.Count > 0) throw new InvalidOperationException($"Invalid configuration: {string.Join("; ", found)}");
        return options;
    }
}
