using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
        if (Interval <= TimeSpan.Zero) throw new InvalidOperationException($"Patch:CatalogImport:Interval must be positive (was {Interval}).");
        for (var i = 0; i < Sources.Count; i++)
        {
            var s = Sources[i];
            if (!Uri.TryCreate(s.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "file"))
                throw new InvalidOperationException($"Patch:CatalogImport:Sources:{i}:Url '{s.Url}' is not an absolute http, https or file URL.");
            if (!CatalogFormats.All.Contains(s.Format))
                throw new InvalidOperationException($"Patch:CatalogImport:Sources:{i}:Format '{s.Format}' is not one of {string.Join(", ", CatalogFormats.All)}.");
        }
    }

    public List<CatalogSource> Sources { get; set; } = [];

    /// <summary>Time between runs; daily by default, as the seed's import task.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Run once at start-up too.</summary>
    public bool RunOnStart { get; set; }
}

/// <summary>
/// "Only download if modified": fetches each configured source with the ETag / Last-Modified of its last successful
/// run, skips the import when the server answers 304 or the content hash is the same, and imports otherwise. Every
/// check is a catalog-import server-task run (trigger "schedule") whose parameters keep the source, hash and ETag.
/// </summary>
public sealed class CatalogSourcePoller(IDocumentStore store, IMessageBus bus, IHttpClientFactory http, CatalogImportOptions limits, TimeProvider time, ILogger<CatalogSourcePoller> logger)
{
    public const string Trigger = "schedule";

    public async Task<IReadOnlyList<CatalogImportResult>> RunAsync(IReadOnlyList<CatalogSource> sources, CancellationToken ct)
    {
        var results = new List<CatalogImportResult>();
        foreach (var source in sources) results.Add(await RunOneAsync(source, ct));
        return results;
    }

    private async Task<CatalogImportResult> RunOneAsync(CatalogSource source, CancellationToken ct)
    {
        var actor = Actor.ServerTask("catalog-import schedule");
        var last = await LastSuccessfulRunAsync(source.Url, ct);
        var parameters = new Dictionary<string, string> { ["source"] = source.Url };
        byte[]? content;
        try
        {
            (content, var etag, var lastModified) = await FetchAsync(source.Url, last, ct);
            if (etag is not null) parameters["etag"] = etag;
            if (lastModified is not null) parameters["lastModified"] = lastModified;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or UriFormatException or UnauthorizedAccessException or InvalidOperationException or TaskCanceledException)
        {
            logger.LogWarning(e, "Catalog source {Url} could not be fetched", source.Url);
            return await RecordAsync(actor, source, parameters, ServerTaskStatus.Failed, $"fetching {source.Url} failed: {e.Message}", ct);
        }

        if (content is null) return await RecordAsync(actor, source, Carry(parameters, last), ServerTaskStatus.Unchanged, null, ct);
        var hash = Convert.ToHexStringLower(SHA256.HashData(content));
        parameters["sha256"] = hash;
        if (last?.Parameters.GetValueOrDefault("sha256") == hash) return await RecordAsync(actor, source, parameters, ServerTaskStatus.Unchanged, null, ct);
        return await bus.InvokeAsync<CatalogImportResult>(new ImportCatalog(content, source.Format, Trigger, actor, Path.GetFileName(new Uri(source.Url).LocalPath), parameters), ct, TimeSpan.FromMinutes(30));
    }

    private static Dictionary<string, string> Carry(Dictionary<string, string> parameters, ServerTaskRun? last)
    {
        if (last?.Parameters.GetValueOrDefault("sha256") is { } hash) parameters["sha256"] = hash;
        parameters["notModified"] = "true";
        return parameters;
    }

    private async Task<ServerTaskRun?> LastSuccessfulRunAsync(string url, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var runs = await session.Query<ServerTaskRun>()
            .Where(r => r.Task == CatalogImporter.TaskName && r.Trigger == Trigger && r.Status != ServerTaskStatus.Failed && r.Status != ServerTaskStatus.Running)
            .OrderByDescending(r => r.Started).Take(200).ToListAsync(ct);
        return runs.FirstOrDefault(r => r.Parameters.GetValueOrDefault("source") == url);
    }

    /// <summary>Returns null content when the server says the file is not modified.</summary>
    private async Task<(byte[]? Content, string? ETag, string? LastModified)> FetchAsync(string url, ServerTaskRun? last, CancellationToken ct)
    {
        var uri = new Uri(url);
        if (uri.IsFile)
        {
            var info = new FileInfo(uri.LocalPath);
            if (info.Length > limits.MaxBytes) throw new InvalidOperationException($"{url} has {info.Length} bytes; the limit (Patch:Import:MaxBytes) is {limits.MaxBytes}");
            return (await File.ReadAllBytesAsync(info.FullName, ct), null, null);
        }
        if (uri.Scheme is not ("http" or "https")) throw new InvalidOperationException($"unsupported scheme '{uri.Scheme}' (http, https or file)");

        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (last?.Parameters.GetValueOrDefault("etag") is { } etag && EntityTagHeaderValue.TryParse(etag, out var tag)) request.Headers.IfNoneMatch.Add(tag);
        if (last?.Parameters.GetValueOrDefault("lastModified") is { } modified && DateTimeOffset.TryParse(modified, out var since)) request.Headers.IfModifiedSince = since;
        using var client = http.CreateClient("catalog-sources");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode == HttpStatusCode.NotModified) return (null, last?.Parameters.GetValueOrDefault("etag"), last?.Parameters.GetValueOrDefault("lastModified"));
        response.EnsureSuccessStatusCode();
        if (response.Content.Headers.ContentLength > limits.MaxBytes)
            throw new InvalidOperationException($"{url} announces {response.Content.Headers.ContentLength} bytes; the limit (Patch:Import:MaxBytes) is {limits.MaxBytes}");
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limits.MaxBytes) throw new InvalidOperationException($"{url} is larger than the limit (Patch:Import:MaxBytes) of {limits.MaxBytes} bytes");
        }
        return (buffer.ToArray(), response.Headers.ETag?.ToString(), response.Content.Headers.LastModified?.ToString("R"));
    }

    private async Task<CatalogImportResult> RecordAsync(Actor actor, CatalogSource source, Dictionary<string, string> parameters, string status, string? error, CancellationToken ct)
    {
        var runId = StreamIds.ServerTaskRun(Guid.NewGuid());
        parameters["format"] = source.Format;
        await using var session = store.OpenSession(actor, runId);
        session.Events.StartStream<ServerTaskRun>(runId, new ServerTaskStarted(runId, CatalogImporter.TaskName, Trigger, parameters, time.GetUtcNow()));
        session.Events.Append(runId, error is null
            ? new ServerTaskCompleted(runId, status, new Dictionary<string, int> { ["unmodified"] = 1 }, time.GetUtcNow())
            : new ServerTaskFailed(runId, error, time.GetUtcNow()));
        await session.SaveChangesAsync(ct);
        return new CatalogImportResult(runId, status, source.Format, null, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, [], error);
    }
}

/// <summary>Runs the configured catalog sources every Patch:CatalogImport:Interval (daily by default).</summary>
public sealed class ScheduledCatalogImport(IServiceProvider services, CatalogScheduleOptions options, TimeProvider time, ILogger<ScheduledCatalogImport> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (options.Sources.Count == 0) return;
        if (options.RunOnStart) await RunAsync(ct);
        using var timer = new PeriodicTimer(options.Interval, time);
        while (await timer.WaitForNextTickAsync(ct)) await RunAsync(ct);
    }

    private async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await using var scope = services.CreateAsyncScope();
            var results = await scope.ServiceProvider.GetRequiredService<CatalogSourcePoller>().RunAsync(options.Sources, ct);
            foreach (var r in results) logger.LogInformation("Scheduled catalog import {RunId}: {Status}", r.RunId, r.Status);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogError(e, "Scheduled catalog import failed");
        }
    }
}
