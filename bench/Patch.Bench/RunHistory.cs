using Marten;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.ServerTasks;

namespace Patch.Bench;

/// <summary>
/// A server's past runs, as its recorder writes them: every built-in daily task once a day and two catalog imports a day
/// (the month's CVRF document and the KEV list), each run started and completed, for <c>days</c> days before now. The
/// import bench measures the recognition of an unchanged document against this table, not against the few runs a
/// benchmark writes in a second (whose statistics lead PostgreSQL to read every run of the task to find the last).
/// </summary>
public static class RunHistory
{
    private static readonly string[] DailyTasks =
        ["microsoft-cvrf-import", "cisa-kev-import", "catalog-sources", "vulnerability-analysis", "package-cleanup",
         "microsoft-file-resolution", "report-checkpoints"];

    public static async Task<int> WriteAsync(IDocumentStore store, int days)
    {
        var now = DateTimeOffset.UtcNow;
        var written = 0;
        for (var day = days; day > 0; day--)
        {
            await using var session = store.OpenSession(Actor.ServerTask("benchmark"));
            var at = now.AddDays(-day);
            foreach (var (task, index) in DailyTasks.Select((t, i) => (t, i)))
                written += Run(session, task, at.AddMinutes(index), new Dictionary<string, string>(), new() { ["items"] = 1 });
            foreach (var (format, bytes) in new[] { ("cvrf", 3_100_000), ("kev", 1_400_000) })
                written += Run(session, CatalogImporter.TaskName, at.AddMinutes(30), new Dictionary<string, string>
                {
                    ["format"] = format, ["bytes"] = bytes.ToString(), ["sha256"] = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).ToArray()),
                    ["settingsVersion"] = "1",
                }, new() { ["bulletinsUnchanged"] = 90, ["eventsAppended"] = 0 });
            await session.SaveChangesAsync();
        }
        return written;
    }

    private static int Run(IDocumentSession session, string task, DateTimeOffset at, Dictionary<string, string> parameters, Dictionary<string, int> counts)
    {
        var runId = StreamIds.ServerTaskRun(Guid.NewGuid());
        session.Events.StartStream<ServerTaskRun>(runId,
            new ServerTaskStarted(runId, task, "schedule", parameters, at, "server-task:benchmark"),
            new ServerTaskCompleted(runId, ServerTaskStatus.Completed, counts, at.AddSeconds(20)));
        return 1;
    }
}
