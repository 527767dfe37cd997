using Patch.Projections.Delivery;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Patch.Api.Ui;
using Patch.Application.AgentConfigurations;
using Patch.Application.Audit;
using Patch.Application.Agents;
using Patch.Application.Bulletins;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Application.Computers;
using Patch.Application.Delivery;
using Patch.Application.Hierarchy;
using Patch.Application.MaintenanceWindows;
using Patch.Application.Policies;
using Patch.Application.Security;
using Patch.Application.ServerTasks;
using Patch.Application.Settings;
using Patch.Application.Staging;
using Patch.Application.Targets;
using Patch.Application.Users;

namespace Patch.Api.Hosting;

/// <summary>The server's composition: services (for the web server and the command line alike) and the HTTP pipeline.</summary>
public static class PatchApp
{
    public static WebApplicationBuilder CreateBuilder(string[] args, bool logToStandardError = false)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddPatch();
        builder.AddPatchTelemetry();
        builder.AddRequestLimits();
        // Commands print their result on stdout: everything the host logs goes to stderr then.
        if (logToStandardError) builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        var services = builder.Services;
        services.AddProblemDetails();
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(allowIntegerValues: false));
            // An instant with its offset, or a date: never a time read in the server's own zone.
            o.SerializerOptions.Converters.Add(new InstantJsonConverter());
            // {"name":"a","name":"b"} (or "Name": names bind without case) would keep the last silently, and a property
            // the operation does not take ("enabeld") would be dropped: each is a 400 naming it.
            o.SerializerOptions.AllowDuplicateProperties = false;
            o.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
            // A number is a JSON number: "5" where a count is asked is refused, as a number where a text is asked is (the web
            // defaults would read it).
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
            // A number or true/false left out is refused by name, not read as 0 or false.
            o.SerializerOptions.TypeInfoResolver = RequiredValues.With(o.SerializerOptions.TypeInfoResolver);
        });
        services.AddHealthChecks().AddCheck<ReadinessCheck>("database", tags: ["ready"]);
        services.AddHostedService<DemoCatalog>();
        services.AddTransient<DemoFleet>();
        services.AddSingleton<DemoStatus>();
        services.AddPatchSecurity(builder.Configuration);
        services.AddOptions<Microsoft.AspNetCore.RateLimiting.RateLimiterOptions>().Configure<Patch.Application.Common.RequestLimitOptions>(RequestLimits.AddClientLimiter);
        services.AddTransient<UserAccounts>();
        services.AddTransient<SignIn>();
        services.AddPatchOpenApi();
        services.AddPatchHttps(builder.Configuration);
        services.AddPatchConsole();
        return builder;
    }

    public static void UsePatch(this WebApplication app)
    {
        app.UsePatchHttps();
        app.UseExceptionHandler();
        // An error status without a body: ProblemDetails for the API, the console's "not found" page for a person.
        app.UseWhen(http => CookieSessions.IsApiRequest(http.Request) || http.Request.Path.StartsWithSegments("/swagger"), api => api.UseStatusCodePages());
        app.UseWhen(http => !CookieSessions.IsApiRequest(http.Request) && !http.Request.Path.StartsWithSegments("/swagger"), console =>
        {
            console.UseStatusCodePagesWithReExecute("/not-found");
            // The status page is read with GET whatever the refused request was (a POST to a page, a form the page does not
            // take): re-executed as a POST it was itself refused, and the answer had no body.
            console.Use((http, next) =>
            {
                if (http.Features.Get<Microsoft.AspNetCore.Diagnostics.IStatusCodeReExecuteFeature>() is not null) http.Request.Method = HttpMethods.Get;
                return next(http);
            });
        });
        app.Use(SecurityHeaders.InvokeAsync);
        app.UseConsoleFiles();
        app.UseSwagger();
        app.UseSwaggerUI(o => o.DocumentTitle = "Patch API");
        app.Use(HeadRequests.InvokeAsync);
        app.UseRouting();
        // The route's body limit is set before anything reads a body; the per-client limiter knows who asks.
        app.Use(RequestLimits.InvokeAsync);
        app.Use(RequestText.InvokeEarlyAsync);
        app.UseAuthentication();
        app.Use(UnsupportedMediaTypes.InvokeAsync);
        app.Use(UnknownRoutes.InvokeAsync);
        app.UseRateLimiter();
        app.UseAuthorization();
        app.UseAntiforgery();
        app.Use(CookieAntiforgery.InvokeAsync);
        app.Use(QueryParameters.InvokeAsync);
        app.Use(Ui.ConsoleQuery.InvokeAsync);
        app.Use(ConditionalRequests.InvokeAsync);
        app.Use(RequestBodies.InvokeAsync);
        app.Use(RequestText.InvokeAsync);
        app.Use(ChangesSaved.InvokeAsync);

        // Probes are read (GET, HEAD) and take no parameter: another method is a 405, a parameter a 400, as everywhere else.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).Anonymous("liveness probe")
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head])).WithName("HealthLive");
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).Anonymous("readiness probe")
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head])).WithName("HealthReady");
        app.MapConsole();
        app.MapSignIn();
        app.MapMyAccount();
        app.MapUsers();
        app.MapCatalogImport();
        app.MapBulletins();
        app.MapCustomSeverities();
        app.MapCoreSettings();
        app.MapVendorSettings();
        app.MapServerTasks();
        Patch.Application.ServerTasks.ServerTaskRunEndpoints.MapServerTaskRunner(app);
        Patch.Application.Notifications.WebhookEndpoints.MapWebhooks(app);
        app.MapStaging();
        app.MapComputers();
        app.MapTargets();
        app.MapPolicies();
        app.MapMaintenanceWindows();
        app.MapAgents();
        app.MapComputerUpdates();
        app.MapComplianceReports();
        app.MapProductVulnerabilityReports();
        app.MapAudit();
        app.MapFleetReports();
        Patch.Application.Agents.SeatUsage.MapSeatUsage(app);
        app.MapAgentConfigurations();
        app.MapDeliveryReports();
        app.MapChildRegistration();
        app.MapReplicationFeed();
        app.MapHierarchy();
        app.MapChangeParentUrl();
        app.MapHierarchyRollup();
        app.MapReplicationBundles();
        app.MapPolicyReplicationFeed();
        WakeOnLanTask.Map(app);
        Patch.Application.ServerTasks.ReadModelRebuilder.Map(app);
    }
}
