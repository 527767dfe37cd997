using System.Security.Cryptography;
using System.Text.Json;
using Marten;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Application.ServerTasks;
using Patch.Domain.ServerTasks;
using Wolverine;

namespace Patch.Application.Catalog;

/// <summary>The Microsoft and CISA feeds (Patch:Microsoft:*, Patch:Cisa:*).</summary>
public sealed class MicrosoftFeedOptions
{
    /// <summary>The MSRC CVRF API: the index at {base}updates, documents at {base}cvrf/{id}.</summary>
    public string CvrfApiBaseUrl { get; set; } = "https://api.msrc.microsoft.com/cvrf/v3.0/";

    /// <summary>The first run imports documents first released on or after this instant (default: twelve months back).</summary>
    public DateTimeOffset? CvrfSince { get; set; }

    /// <summary>Longest wait for one document (or the index); a slower one fails and is retried on the next run.</summary>
    public TimeSpan DocumentTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The Microsoft Update Catalog, where Microsoft updates' files are found (Search.aspx, DownloadDialog.aspx).</summary>
    public string UpdateCatalogBaseUrl { get; set; } = "https://www.catalog.update.microsoft.com/";

    /// <summary>Updates of bulletins released in this many months back get their files resolved.</summary>
    public int ResolveMonths { get; set; } = 12;

    /// <summary>Files found are looked up again after this many days (or when their bulletin is revised); unresolved ones at every run.</summary>
    public int ResolveRecheckDays { get; set; } = 7;

    public Uri UpdateCatalogBase => new(UpdateCatalogBaseUrl.EndsWith('/') ? UpdateCatalogBaseUrl : UpdateCatalogBaseUrl + "/");

    /// <summary>The CISA Known Exploited Vulnerabilities catalog (JSON feed).</summary>
    public string KevUrl { get; set; } = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json";

    public void Validate()
    {
        foreach (var (name, url) in new[] { ("Patch:Microsoft:CvrfApiBaseUrl", CvrfApiBaseUrl), ("Patch:Cisa:KevUrl", KevUrl), ("Patch:Microsoft:UpdateCatalogBaseUrl", UpdateCatalogBaseUrl) })
            if (!Domain.AbsoluteUrl.IsWebOrFile(url))
                throw new InvalidOperationException($"{name} '{url}' is not an absolute http, https or file URL.");
        if (DocumentTimeout <= TimeSpan.Zero) throw new InvalidOperationException($"Patch:Microsoft:DocumentTimeout must be positive (was {DocumentTimeout}).");
    }

    public Uri CvrfBase => new(CvrfApiBaseUrl.EndsWith('/') ? CvrfApiBaseUrl : CvrfApiBaseUrl + "/");
}

/// <summary>One document of the MSRC updates index.</summary>
public sealed record CvrfIndexEntry(string Id, DateTimeOffset? InitialReleaseDate, DateTimeOffset? CurrentReleaseDate);

/// <summary>What the feed knows of a document from its earlier runs.</summary>
public sealed record CvrfDocumentState(string Id, string? CurrentReleaseDate, bool LastFailed);

public static partial class CvrfFeedSelection
{
    /// <summary>Reads the index (the OData shape of GET {base}updates: value[] of ID, InitialReleaseDate, CurrentReleaseDate).</summary>
    public static IReadOnlyList<CvrfIndexEntry> ParseIndex(byte[] json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.Array)
                throw new FormatException("the updates index has no 'value' array");
            return value.EnumerateArray().Select(e => new CvrfIndexEntry(
                    e.TryGetProperty("ID", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString()! : throw new FormatException("an index entry has no string 'ID'"),
                    Date(e, "InitialReleaseDate"), Date(e, "CurrentReleaseDate")))
                .ToList();
        }
        catch (JsonException e)
        {
            throw new FormatException($"the updates index is not JSON: {e.Message}", e);
        }
    }

    /// <summary>
    /// The entries that name a document, each once: an id as MSRC gives them (a year and a month, "2024-Jan" or "2018-FEB",
    /// an out-of-band letter after it as in "2017-May-B"), the latest CurrentReleaseDate of an id listed twice. The others
    /// are skipped with their reason — never fetched, recorded or retried (an empty id would ask for the API's collection).
    /// </summary>
    public static (IReadOnlyList<CvrfIndexEntry> Usable, IReadOnlyList<string> Skipped) Usable(IReadOnlyList<CvrfIndexEntry> index)
    {
        var skipped = new List<string>();
        var usable = new Dictionary<string, CvrfIndexEntry>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in index)
        {
            if (!DocumentId().IsMatch(entry.Id)) skipped.Add($"'{Domain.Users.UserDecisions.Printable(entry.Id.Length > 40 ? entry.Id[..40] + "…" : entry.Id)}' is not a document id");
            else if (usable.TryGetValue(entry.Id, out var other))
            {
                skipped.Add($"'{entry.Id}' is listed more than once");
                if (entry.CurrentReleaseDate > other.CurrentReleaseDate) usable[entry.Id] = entry;
            }
            else usable[entry.Id] = entry;
        }
        return ([.. index.Where(e => usable.TryGetValue(e.Id, out var kept) && ReferenceEquals(kept, e))], skipped);
    }

    [System.Text.RegularExpressions.GeneratedRegex("^(19|20)[0-9]{2}-(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(-[a-z0-9]{1,8})?$", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex DocumentId();

    private static DateTimeOffset? Date(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(v.GetString(), out var d) ? d : null;

    /// <summary>
    /// The documents to fetch, oldest first: those never imported and first released on or after <paramref name="since"/>,
    /// those whose CurrentReleaseDate moved since their last import, and those whose last attempt failed.
    /// </summary>
    public static IReadOnlyList<CvrfIndexEntry> Select(IReadOnlyList<CvrfIndexEntry> index, IReadOnlyDictionary<string, CvrfDocumentState> known, DateTimeOffset since) =>
        index.Where(e => known.GetValueOrDefault(e.Id) switch
            {
                null => e.InitialReleaseDate >= since,
                { LastFailed: true } => true,
                var k => k.CurrentReleaseDate != e.CurrentReleaseDate?.ToString("O"),
            })
            .OrderBy(e => e.InitialReleaseDate ?? DateTimeOffset.MinValue).ThenBy(e => e.Id, StringComparer.Ordinal).ToList();
}

/// <summary>
/// The microsoft-cvrf-import server task (the seed's "Microsoft Patch Management Import"): reads the MSRC updates index
/// and imports each new or revised document through the catalog importer — each its own catalog-import run with the
/// document id, CurrentReleaseDate, ETag and SHA-256, so an unchanged document appends nothing and a failed one is retried.
/// </summary>
public sealed class MicrosoftCvrfFeed(IDocumentStore store, Notifications.Notifier notifier, IMessageBus bus, IHttpClientFactory http, MicrosoftFeedOptions options, CatalogImportOptions limits,
    TimeProvider time, ILogger<MicrosoftCvrfFeed> logger)
{
    public const string TaskName = "microsoft-cvrf-import";

    public async Task<TaskOutcome> RunAsync(string parentRun, CancellationToken ct)
    {
        using var client = http.CreateClient("catalog-sources");
        var indexUrl = new Uri(options.CvrfBase, "updates").AbsoluteUri;
        byte[] indexBytes;
        using (var timeout = Timeout(ct))
            indexBytes = (await CatalogFetch.GetAsync(client, indexUrl, null, null, limits.MaxBytes, "application/json", timeout.Token)).Content!;
        var index = CvrfFeedSelection.ParseIndex(indexBytes);
        var (usable, skipped) = CvrfFeedSelection.Usable(index);
        foreach (var reason in skipped) logger.LogWarning("The MSRC updates index entry {Reason}: skipped", reason);
        var history = await HistoryAsync(ct);
        var since = options.CvrfSince ?? time.GetUtcNow().AddMonths(-12);
        var selected = CvrfFeedSelection.Select(usable, history.ToDictionary(h => h.Key, h => h.Value.State), since);

        int imported = 0, unchanged = 0, failed = 0;
        foreach (var entry in selected)
        {
            var result = await ImportOneAsync(client, entry, history.GetValueOrDefault(entry.Id).LastGood, parentRun, ct);
            switch (result.Status)
            {
                case ServerTaskStatus.Failed: failed++; break;
                case ServerTaskStatus.Unchanged: unchanged++; break;
                default: imported++; break;
            }
        }
        var counts = new Dictionary<string, int> { ["indexed"] = index.Count, ["skipped"] = skipped.Count, ["selected"] = selected.Count, ["imported"] = imported, ["unchanged"] = unchanged, ["failed"] = failed };
        return new TaskOutcome(counts, imported == 0 && failed == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed);
    }

    private async Task<CatalogImportResult> ImportOneAsync(HttpClient client, CvrfIndexEntry entry, ServerTaskRun? lastGood, string parentRun, CancellationToken ct)
    {
        var actor = Actor.ServerTask(TaskName);
        var url = new Uri(options.CvrfBase, "cvrf/" + Uri.EscapeDataString(entry.Id)).AbsoluteUri;
        var parameters = new Dictionary<string, string> { ["source"] = url, ["msrcId"] = entry.Id, ["parentRun"] = parentRun };
        if (entry.CurrentReleaseDate is { } current) parameters["currentReleaseDate"] = current.ToString("O");
        byte[]? content;
        try
        {
            using var timeout = Timeout(ct);
            (content, var etag, _) = await CatalogFetch.GetAsync(client, url, lastGood?.Parameters.GetValueOrDefault("etag"), null, limits.MaxBytes, "application/xml", timeout.Token);
            if (etag is not null) parameters["etag"] = etag;
        }
        catch (Exception e) when (CatalogFetch.IsFetchFailure(e, ct))
        {
            logger.LogWarning(e, "MSRC document {Id} could not be fetched", entry.Id);
            var reason = e is OperationCanceledException ? $"no answer within {options.DocumentTimeout} (Patch:Microsoft:DocumentTimeout)" : e.Message;
            return await NotImported.RecordAsync(store, notifier, time, actor, "cvrf", TaskName, parameters, null, $"fetching {url} failed: {reason}", entry.Id, ct);
        }
        // Another document than the one asked for is refused before its bytes could be recognised as that one's import.
        if (content is not null && Formats.CvrfDocumentId.Peek(content) is { } found && !string.Equals(found, entry.Id, StringComparison.OrdinalIgnoreCase))
            return await NotImported.RecordAsync(store, notifier, time, actor, "cvrf", TaskName, parameters, null, Formats.CvrfDocumentId.Mismatch(found, entry.Id).Message, entry.Id, ct);
        if (content is not null) parameters["sha256"] = Convert.ToHexStringLower(SHA256.HashData(content));
        else if (lastGood?.Parameters.GetValueOrDefault("sha256") is { } kept) parameters["sha256"] = kept;
        if (content is null || parameters["sha256"] == lastGood?.Parameters.GetValueOrDefault("sha256"))
            return await NotImported.RecordAsync(store, notifier, time, actor, "cvrf", TaskName, parameters, content is null ? "notModified" : "sameContent", null, entry.Id, ct);
        try
        {
            return await bus.InvokeAsync<CatalogImportResult>(new ImportCatalog(content, "cvrf", TaskName, actor, $"{entry.Id}.xml", parameters), ct, TimeSpan.FromMinutes(30));
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The importer recorded its run as failed; the other documents still import, and the next run retries this one.
            logger.LogError(e, "MSRC document {Id} failed to import", entry.Id);
            return new CatalogImportResult("", ServerTaskStatus.Failed, "cvrf", entry.Id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, [], e.Message);
        }
    }

    private CancellationTokenSource Timeout(CancellationToken ct)
    {
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.DocumentTimeout);
        return timeout;
    }

    /// <summary>Per document: its latest attempt (did it fail?) and its latest good run (ETag, hash, CurrentReleaseDate).</summary>
    private async Task<Dictionary<string, (CvrfDocumentState State, ServerTaskRun? LastGood)>> HistoryAsync(CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var runs = await session.Query<ServerTaskRun>().Where(r => r.Task == CatalogImporter.TaskName && r.Trigger == TaskName && r.Status != ServerTaskStatus.Running)
            .OrderByDescending(r => r.Started).ToListAsync(ct);
        return runs.Where(r => r.Parameters.ContainsKey("msrcId")).GroupBy(r => r.Parameters["msrcId"]).ToDictionary(g => g.Key, g =>
        {
            var good = g.FirstOrDefault(r => r.Status != ServerTaskStatus.Failed);
            return (new CvrfDocumentState(g.Key, good?.Parameters.GetValueOrDefault("currentReleaseDate"), g.First().Status == ServerTaskStatus.Failed), good);
        });
    }
}
