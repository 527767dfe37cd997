using System.Text.Json;
using System.Text.RegularExpressions;
using Marten;
using Microsoft.Extensions.Logging;
using Patch.Application.Common;
using Patch.Domain.Catalog;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Catalog;

/// <summary>
/// The microsoft-file-resolution server task: for each Microsoft update that came without a file (CVRF gives a KB and an
/// Update Catalog link, no file, no hash), finds its file(s) in the Microsoft Update Catalog the way public tools do —
/// search by KB, pick the one row for the update's product and architecture, read the download dialog's files with
/// their digests — and records the outcome on the bulletin only when it changed. No match, several candidates or a page
/// whose shape changed is recorded with its reason; a network failure is counted and retried on the next run.
/// </summary>
public sealed partial class UpdateFileResolver(IDocumentStore store, IHttpClientFactory http, MicrosoftFeedOptions options, TimeProvider time, ILogger<UpdateFileResolver> logger)
{
    public const string TaskName = "microsoft-file-resolution";

    public async Task<TaskOutcome> RunAsync(Actor actor, string runId, CancellationToken ct)
    {
        var since = time.GetUtcNow().AddMonths(-Math.Max(1, options.ResolveMonths));
        await using var query = store.QuerySession();
        var bulletins = (await query.Query<Bulletin>().Where(b => b.Facts.Vendor == "Microsoft" || b.Facts.Vendor == "microsoft").ToListAsync(ct))
            .Where(b => b.Facts.Released is null || b.Facts.Released >= since).OrderBy(b => b.Id, StringComparer.Ordinal).ToList();
        using var client = http.CreateClient("update-catalog");
        var searches = new Dictionary<string, (IReadOnlyList<CatalogSearchRow>? Rows, string? Problem)>(StringComparer.OrdinalIgnoreCase);
        var dialogs = new Dictionary<string, (IReadOnlyList<UpdateFile>? Files, string? Problem)>(StringComparer.OrdinalIgnoreCase);
        int updates = 0, resolved = 0, unresolved = 0, unchanged = 0, unreachable = 0, fresh = 0;
        var recheckBefore = time.GetUtcNow().AddDays(-Math.Max(0, options.ResolveRecheckDays));
        foreach (var bulletin in bulletins)
        {
            var events = new List<object>();
            foreach (var update in bulletin.Updates.Where(u => u.Excluded is null && u.Files is not { Count: > 0 } && (u.DownloadUrl is null || FileResolution.IsCatalogPage(u.DownloadUrl))))
            {
                updates++;
                // Found files are asked for again only after Patch:Microsoft:ResolveRecheckDays or a revision of the bulletin: the catalog is a public service.
                if (bulletin.Resolutions.GetValueOrDefault(update.UpdateId) is { Resolved: true } found && found.At > recheckBefore && found.ForRevision(bulletin.Facts.Revised))
                {
                    fresh++;
                    continue;
                }
                var kb = Kb().Match(update.Kb ?? bulletin.Facts.Number) is { Success: true } m ? "KB" + m.Groups[1].Value : null;
                ResolutionOutcome outcome;
                if (kb is null) outcome = ResolutionOutcome.NotFound($"'{update.Kb ?? bulletin.Facts.Number}' is not a KB number to search the Update Catalog for");
                else
                {
                    if (!searches.TryGetValue(kb, out var search)) searches[kb] = search = await TryAsync(() => SearchAsync(client, kb, ct), ct);
                    if (search.Problem is { } p && search.Rows is null && !p.StartsWith("shape:", StringComparison.Ordinal)) { unreachable++; continue; }
                    var (row, why) = search.Rows is null ? (null, search.Problem!["shape:".Length..].Trim()) : UpdateCatalogPages.Choose(search.Rows, kb, update.Product);
                    if (row is null) outcome = ResolutionOutcome.NotFound(why!);
                    else
                    {
                        if (!dialogs.TryGetValue(row.UpdateId, out var dialog)) dialogs[row.UpdateId] = dialog = await TryAsync(() => FilesAsync(client, row.UpdateId, ct), ct);
                        if (dialog.Files is null && !dialog.Problem!.StartsWith("shape:", StringComparison.Ordinal)) { unreachable++; continue; }
                        outcome = dialog.Files is null
                            ? ResolutionOutcome.NotFound(dialog.Problem!["shape:".Length..].Trim())
                            : ResolutionOutcome.Found(row.UpdateId, UpdateCatalogPages.InstallOrder(dialog.Files.Select((f, i) => i == dialog.Files.Count - 1 && dialog.Files.Count == 1 && row.Size is { } size ? f with { Size = size } : f).ToList(), kb));
                    }
                }
                if (FileResolution.Decide(bulletin, update.UpdateId, outcome, time.GetUtcNow()) is not { } e) { unchanged++; continue; }
                events.Add(e);
                if (e is UpdateFilesResolved) resolved++; else unresolved++;
            }
            if (events.Count == 0) continue;
            await using var session = store.OpenSession(actor, runId);
            (await session.Events.FetchForWriting<Bulletin>(bulletin.Id, ct)).AppendMany(events);
            await session.SaveChangesAsync(ct);
        }
        var counts = new Dictionary<string, int>
            { ["updates"] = updates, ["resolved"] = resolved, ["unresolved"] = unresolved, ["unchanged"] = unchanged, ["notDue"] = fresh, ["unreachable"] = unreachable };
        return new TaskOutcome(counts, resolved + unresolved == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed);
    }

    private async Task<IReadOnlyList<CatalogSearchRow>> SearchAsync(HttpClient client, string kb, CancellationToken ct)
    {
        using var response = await client.GetAsync(new Uri(options.UpdateCatalogBase, $"Search.aspx?q={Uri.EscapeDataString(kb)}"), ct);
        response.EnsureSuccessStatusCode();
        return UpdateCatalogPages.ParseSearch(await response.Content.ReadAsStringAsync(ct));
    }

    private async Task<IReadOnlyList<UpdateFile>> FilesAsync(HttpClient client, string updateId, CancellationToken ct)
    {
        var ids = JsonSerializer.Serialize(new[] { new { size = 0, languages = "", uidInfo = updateId, updateID = updateId } });
        using var form = new FormUrlEncodedContent([new KeyValuePair<string, string>("updateIDs", ids)]);
        using var response = await client.PostAsync(new Uri(options.UpdateCatalogBase, "DownloadDialog.aspx"), form, ct);
        response.EnsureSuccessStatusCode();
        return UpdateCatalogPages.ParseDownloadDialog(await response.Content.ReadAsStringAsync(ct));
    }

    /// <summary>A changed shape is an answer ("shape: …", recorded); a network failure is not (counted, tried again next run).</summary>
    private async Task<(T? Value, string? Problem)> TryAsync<T>(Func<Task<T>> call, CancellationToken ct) where T : class
    {
        try
        {
            return (await call(), null);
        }
        catch (FormatException e)
        {
            return (null, "shape: " + e.Message);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || e is TaskCanceledException && !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "The Microsoft Update Catalog could not be reached");
            return (null, e.Message);
        }
    }

    [GeneratedRegex(@"^(?:KB)?([0-9]{6,8})$", RegexOptions.IgnoreCase)]
    private static partial Regex Kb();
}
