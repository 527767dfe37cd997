using Marten;
using Patch.Application.Common;
using Patch.Domain.ServerTasks;

namespace Patch.Application.Catalog;

/// <summary>
/// A catalog-import run for a document that was fetched but not imported: unchanged (not modified, the same content —
/// counted under <c>why</c>) or a fetch that failed with its reason. The feeds and the source poller record these; a
/// failed fetch is an import that failed for the webhooks' subscribers too (<c>import-failed</c>), as a failed parse is.
/// </summary>
public static class NotImported
{
    public static async Task<CatalogImportResult> RecordAsync(IDocumentStore store, Notifications.Notifier notifier, TimeProvider time, Actor actor, string format,
        string trigger, Dictionary<string, string> parameters, string? why, string? error, string? documentId, CancellationToken ct)
    {
        parameters["format"] = format;
        var runId = await ServerTaskRecorder.StartAsync(store, time, actor, CatalogImporter.TaskName, trigger, parameters, ct);
        if (error is null)
            await ServerTaskRecorder.CompleteAsync(store, time, actor, runId, new TaskOutcome(new Dictionary<string, int> { [why ?? "unmodified"] = 1 }, ServerTaskStatus.Unchanged));
        else await ServerTaskRecorder.FailAsync(store, time, actor, runId, error);
        var result = new CatalogImportResult(runId, error is null ? ServerTaskStatus.Unchanged : ServerTaskStatus.Failed, format, documentId, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, [], error);
        if (error is not null) await notifier.PublishAsync(Domain.Notifications.NotificationKinds.ImportFailed, result, ct);
        return result;
    }
}
