using System.Reflection;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Patch.Api.Hosting;
using Patch.Application.Bulletins;
using Patch.Application.Catalog;
using Patch.Application.Hosting;
using Patch.Application.ServerTasks;
using Patch.Application.Settings;
using Patch.Application.Staging;
using Patch.Application.Computers;
using Patch.Application.Targets;
using Patch.Application.Policies;
using Patch.Application.MaintenanceWindows;
using Patch.Application.Agents;
using Patch.Application.Compliance;
using Patch.Application.AgentConfigurations;
using Patch.Application.Delivery;

var import = ImportCommand.IsImport(args) ? ImportCommand.Parse(args) : default;
if (import.Error is not null)
{
    Console.Error.WriteLine(import.Error);
    return 2;
}

var builder = WebApplication.CreateBuilder(import.File is null ? args : import.HostArgs);
builder.AddPatch();
// The import command prints its result as JSON on stdout: everything the host logs goes to stderr then.
if (import.File is not null) builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(allowIntegerValues: false)));
builder.Services.AddHealthChecks().AddCheck<ReadinessCheck>("database", tags: ["ready"]);
builder.Services.AddHostedService<DemoCatalog>();
builder.Services.AddEndpointsApiExplorer();
builder.Services.AddSwaggerGen(o =>
{
    o.SwaggerDoc("v1", new() { Title = "Patch", Version = "v1", Description = "Patch management server for fleets of Windows computers: catalog import, Patch Remediation Center, custom severities, server tasks, history." });
    foreach (var assembly in new[] { typeof(Program).Assembly, typeof(ImportCatalog).Assembly, typeof(Patch.Domain.StreamIds).Assembly, typeof(Patch.Projections.PatchProjections).Assembly })
    {
        var xml = Path.Combine(AppContext.BaseDirectory, $"{assembly.GetName().Name}.xml");
        if (File.Exists(xml)) o.IncludeXmlComments(xml);
    }
    o.CustomSchemaIds(t => t.IsGenericType ? t.Name[..t.Name.IndexOf('`')] + "Of" + string.Concat(t.GetGenericArguments().Select(a => a.Name)) : t.Name);
    o.SupportNonNullableReferenceTypes();
    o.NonNullableReferenceTypesAsRequired();
    o.OperationFilter<PatchOperationFilter>();
    o.AddSecurityDefinition("agent", new Microsoft.OpenApi.OpenApiSecurityScheme
    {
        Type = Microsoft.OpenApi.SecuritySchemeType.Http, Scheme = "bearer",
        Description = "The agent credential ('agentId.secret') received from POST /agent/v1/enrol.",
    });
});

WebApplication app;
try
{
    app = builder.Build();
    // Opening the database here (not lazily on the first request) turns a missing PostgreSQL into a clear message at start.
    app.Services.GetRequiredService<PatchDatabase>();
}
catch (PatchDatabaseException e)
{
    Console.Error.WriteLine(e.Message);
    return 3;
}

if (import.File is not null)
{
    await using (app) return await ImportCommand.RunAsync(app, import.File, import.Format!);
}

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseWhen(Patch.Application.Agents.AgentAuthentication.Applies, agentApi => agentApi.Use(Patch.Application.Agents.AgentAuthentication.InvokeAsync));
app.UseSwagger();
app.UseSwaggerUI(o => o.DocumentTitle = "Patch API");
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
app.MapGet("/", () => Results.Redirect("/swagger")).ExcludeFromDescription();
app.MapCatalogImport();
app.MapBulletins();
app.MapCustomSeverities();
app.MapCoreSettings();
app.MapVendorSettings();
app.MapServerTasks();
app.MapStaging();
app.MapComputers();
app.MapTargets();
app.MapPolicies();
app.MapMaintenanceWindows();
PackageCleanup.Map(app);
app.MapAgents();
app.MapComputerUpdates();
FleetAnalysisTask.Map(app);
app.MapComplianceReports();
app.MapFleetReports();
app.MapAgentConfigurations();
app.MapDeliveryReports();
WakeOnLanTask.Map(app);
DeliveryTables.Map(app);
await app.RunAsync();
return 0;

/// <summary>The Patch server.</summary>
public partial class Program
{
    public static string Version => typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
}
