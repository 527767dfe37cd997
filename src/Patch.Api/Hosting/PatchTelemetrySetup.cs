using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Patch.Application.Common;

namespace Patch.Api.Hosting;

/// <summary>
/// OpenTelemetry (docs/operations.md): traces and metrics of ASP.NET Core, HttpClient, Npgsql, Marten, Wolverine and
/// Patch itself, exported over OTLP when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal) variables are
/// set — off when unset. Patch:Telemetry:Enabled=true turns the instrumentation on without an exporter (tests add
/// their own); Patch:Logging:Json=true writes the console log as JSON lines.
/// </summary>
public static class PatchTelemetrySetup
{
    public static WebApplicationBuilder AddPatchTelemetry(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        if (config.GetValue<bool>("Patch:Logging:Json"))
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(o => o.UseUtcTimestamp = true);
        }
        var otlp = new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" }
            .Any(k => !string.IsNullOrWhiteSpace(config[k]));
        if (!otlp && !config.GetValue<bool>("Patch:Telemetry:Enabled")) return builder;

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(config["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "patch", serviceVersion: Program.Version))
            .WithTracing(t => t
                .AddSource(PatchTelemetry.Name, "Marten", "Wolverine")
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/health"))
                .AddHttpClientInstrumentation()
                .AddNpgsql())
            .WithMetrics(m => m
                .AddMeter(PatchTelemetry.Name, "Marten", "Wolverine", "Npgsql")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation());
        if (otlp) telemetry.UseOtlpExporter();
        return builder;
    }
}
