using System.Security.Cryptography;
using Marten;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.ServerTasks;
using Wolverine;

namespace Patch.Application.Catalog;

/// <summary>One vendor catalog the server fetches on its schedule (Patch:CatalogImport:Sources).</summary>
public sealed class CatalogSource
{
    /// <summary>http, https or file URL of the catalog file.</summary>
    public string Url { get; set; } = "";

    /// <summary>cvrf, mssecure, patch or kev.</summary>
    public string Format { get; set; } = "";
}

public sealed class CatalogScheduleOptions
{
    /// <summary>Refuses a configuration that could never work, naming the setting.</summary>
    public void Validate()
    {
        for (var i = 0; i < Sources.Count; i++)
        {
            var s = Sources[i];
            if (!Domain.AbsoluteUrl.IsWebOrFile(s.Url))
                throw new InvalidOperationException($"Patch:CatalogImport:Sources:{i}:Url '{s.Url}' is not an absolute http, https or file URL.");
            if (!CatalogFormats.All.Contains(s.Format))
                throw new InvalidOperationException($"Patch:CatalogImport:Sources:{i}:Format '{s.Format}' is not one of {string.Join(", ", CatalogFormats.All)}.");
        }
    }

    public List<CatalogSource> Sources { get; set; } = [];
}

/// <summary>
/// "Only download if modified": fetches each configured source with the ETag / Last-Modified of its last successful
/// run, skips the import when the server answers 304 or the content hash is the same, and imports otherwise. Every
/// check is a catalog-import server-task run (trigger "schedule") whose parameters keep the source, hash and ETag.
/// </summary>
public sealed class CatalogSourcePoller(IDocumentStore store, Notifications.Notifier notifier, IMessageBus bus, IHttpClientFactory http, CatalogImportOptions limits, TimeProvider time, ILogger<CatalogSourcePoller> logger)
{
    public const string Trigger = "schedule";

    public async Task<IReadOnlyList<CatalogImportResult>> RunAsync(IReadOnlyList<CatalogSource> sources, CancellationToken ct, string? parentRun = null)
    {
        var results = new List<CatalogImportResult>();
        foreach (var source in sources) results.Add(await RunOneAsync(source, Trigger, ct, parentRun));
        return results;
    }

    /// <summary>Fetches one source and imports it when it changed; <paramref name="trigger"/> names the task, and its runs are the source's history.</summary>
    public async Task<CatalogImportResult> RunOneAsync(CatalogSource source, string trigger, CancellationToken ct, string? parentRun = null)
    {
        var actor = Actor.ServerTask($"catalog-import {trigger}");
        var last = await LastSuccessfulRunAsync(source.Url, trigger, ct);
        var parameters = new Dictionary<string, string> { ["source"] = source.Url };
        if (parentRun is not null) parameters["parentRun"] = parentRun;
        byte[]? content;
        try
        {
            using var client = http.CreateClient("catalog-sources");
            (content, var etag, var lastModified) = await CatalogFetch.GetAsync(client, source.Url, last?.Parameters.GetValueOrDefault("etag"),
                last?.Parameters.GetValueOrDefault("lastModified"), limits.MaxBytes, null, ct);
            if (etag is not null) parameters["etag"] = etag;
            if (lastModified is not null) parameters["lastModified"] = lastModified;
        }
        catch (Exception e) when (CatalogFetch.IsFetchFailure(e, ct))
        {
            logger.LogWarning(e, "Catalog source {Url} could not be fetched", source.Url);
            return await NotImported.RecordAsync(store, notifier, time, actor, source.Format, trigger, parameters, null, $"fetching {source.Url} failed: {e.Message}", null, ct);
        }

        if (content is null) return await NotImported.RecordAsync(store, notifier, time, actor, source.Format, trigger, Carry(parameters, last), "unmodified", null, null, ct);
        var hash = Convert.ToHexStringLower(SHA256.HashData(content));
        parameters["sha256"] = hash;
        if (last?.Parameters.GetValueOrDefault("sha256") == hash) return await NotImported.RecordAsync(store, notifier, time, actor, source.Format, trigger, parameters, "unmodified", null, null, ct);
        return await bus.InvokeAsync<CatalogImportResult>(new ImportCatalog(content, source.Format, trigger, actor, Path.GetFileName(new Uri(source.Url).LocalPath), parameters), ct, TimeSpan.FromMinutes(30));
    }

    private static Dictionary<string, string> Carry(Dictionary<string, string> parameters, ServerTaskRun? last)
    {
        if (last?.Parameters.GetValueOrDefault("sha256") is { } hash) parameters["sha256"] = hash;
        parameters["notModified"] = "true";
        return parameters;
    }

    private async Task<ServerTaskRun?> LastSuccessfulRunAsync(string url, string trigger, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var runs = await session.Query<ServerTaskRun>()
            .Where(r => r.Task == CatalogImporter.TaskName && r.Trigger == trigger && r.Status != ServerTaskStatus.Failed && r.Status != ServerTaskStatus.Running)
            .OrderByDescending(r => r.Started).Take(200).ToListAsync(ct);
        return runs.FirstOrDefault(r => r.Parameters.GetValueOrDefault("source") == url);
    }
}
