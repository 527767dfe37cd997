using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Patch.Application.Common;

/// <summary>
/// Patch's own traces and metrics (docs/operations.md): the activity source and meter "Patch". Exported with ASP.NET
/// Core's, HttpClient's, Npgsql's, Marten's and Wolverine's when OpenTelemetry is on (OTEL_EXPORTER_OTLP_ENDPOINT).
/// </summary>
public static class PatchTelemetry
{
    public const string Name = "Patch";

    public static readonly ActivitySource Source = new(Name);

    public static readonly Meter Meter = new(Name);

    public static readonly Counter<long> AgentEventsIngested =
        Meter.CreateCounter<long>("patch.agent.events.ingested", "{event}", "Agent events stored (status, restart and cycle events; duplicates of a retry are not counted).");

    public static readonly Counter<long> AgentEventsDuplicate =
        Meter.CreateCounter<long>("patch.agent.events.duplicate", "{event}", "Agent events received again (a retry) and acknowledged without being stored twice.");

    public static readonly Histogram<double> CatalogImportDuration =
        Meter.CreateHistogram<double>("patch.catalog.import.duration", "s", "Catalog imports, by format and result.");

    public static readonly Counter<long> CatalogEventsAppended =
        Meter.CreateCounter<long>("patch.catalog.events.appended", "{event}", "Catalog events appended by imports.");

    public static readonly Histogram<double> ServerTaskDuration =
        Meter.CreateHistogram<double>("patch.server_task.duration", "s", "Server task runs, by task and result.");

    public static readonly Histogram<double> AnalysisDuration =
        Meter.CreateHistogram<double>("patch.vulnerability_analysis.duration", "s", "Vulnerability analyses after catalog changes (whole fleet or the concerned computers).");

    public static readonly Histogram<int> InventoryIngestBatch =
        Meter.CreateHistogram<int>("patch.inventory.ingest.batch", "{report}", "Inventory reports stored and analysed together (one transaction each for their events and their analysis).");

    /// <summary>Watches a queue's depth (the agents' event ingest registers its own at start).</summary>
    public static void ObserveQueue(string name, string description, Func<int> depth) =>
        Meter.CreateObservableGauge(name, () => depth(), "{batch}", description);

    public static readonly Counter<long> WebhookAttempts =
        Meter.CreateCounter<long>("patch.webhook.attempts", "{attempt}", "Webhook delivery attempts, by outcome (delivered, failed).");
}
