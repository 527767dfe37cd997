using Marten;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Catalog;

/// <summary>
/// An import of the very bytes the last import brought (same format, same core-settings version) into the catalog that
/// import left can change nothing: it is recognised by its SHA-256 instead of being parsed and decided again.
/// </summary>
public static class SameContent
{
    /// <summary>The core settings' version (exclusions shape what an import decides) and the last import that did not fail.</summary>
    public static async Task<(long SettingsVersion, ServerTaskRun? Last)> LastImportAsync(IDocumentStore store, CancellationToken ct)
    {
        await using var query = store.QuerySession();
        var batch = query.CreateBatchQuery();
        var settings = batch.Events.FetchStreamState(StreamIds.CoreSettings);
        var last = batch.Query<ServerTaskRun>().Where(r => r.Task == CatalogImporter.TaskName && (r.Status == ServerTaskStatus.Completed || r.Status == ServerTaskStatus.Unchanged))
            .OrderByDescending(r => r.Started).FirstOrDefault();
        await batch.Execute(ct);
        return ((await settings)?.Version ?? 0, await last);
    }

    /// <summary>The last import's counts as "unchanged" when it imported the same bytes in the same format on the same settings; else null.</summary>
    public static Dictionary<string, int>? AsLast(ServerTaskRun? last, Dictionary<string, string> parameters)
    {
        if (last is null || last.Counts.Count == 0) return null;
        foreach (var key in new[] { "sha256", "format", "settingsVersion" })
            if (last.Parameters.GetValueOrDefault(key) != parameters[key]) return null;
        int Of(string key) => last.Counts.GetValueOrDefault(key);
        return new Dictionary<string, int>
        {
            ["bulletinsUnchanged"] = Of("bulletinsAdded") + Of("bulletinsRevised") + Of("bulletinsUnchanged"),
            ["vulnerabilitiesUnchanged"] = Of("vulnerabilitiesAdded") + Of("vulnerabilitiesRevised") + Of("vulnerabilitiesUnchanged"),
            ["eventsAppended"] = 0, ["sameContent"] = 1,
        };
    }
}
