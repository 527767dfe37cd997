using System.Text.Json;
using Patch.Domain.Cycle;

namespace Patch.Agent.Cycle;

/// <summary>A restart the cycle needs: since when, when it is planned (null: never automatically), how often it was deferred.</summary>
public sealed record PendingRestart(DateTimeOffset Since, DateTimeOffset? PlannedAt, int Deferrals, DateTimeOffset? DeferredUntil);

/// <summary>
/// What the agent keeps between cycles (updates.json beside agent.json, private like it): each update's status, Last
/// Applied and failures; the last assignments and their ETag; a pending restart; events waiting for the server.
/// </summary>
public sealed record AgentLedger(
    Dictionary<string, LedgerEntry> Entries,
    List<AgentEvent> Outbox,
    Assignments? Assignments,
    string? AssignmentsETag,
    PendingRestart? Restart,
    DateTimeOffset? LastScheduleCheck,
    DateTimeOffset? LastEventAt)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static AgentLedger Empty => new(new Dictionary<string, LedgerEntry>(), [], null, null, null, null, null);

    public static string PathIn(string directory) => Path.Combine(directory, "updates.json");

    public static AgentLedger Load(string directory)
    {
        var file = PathIn(directory);
        return File.Exists(file) ? JsonSerializer.Deserialize<AgentLedger>(File.ReadAllText(file), Json) ?? Empty : Empty;
    }

    public void Save(string directory) => PrivateFile.Write(PathIn(directory), JsonSerializer.Serialize(this, Json));

    /// <summary>The next event time: the clock, but always after the previous event, so the server orders one agent's events as they happened.</summary>
    public DateTimeOffset NextEventTime(DateTimeOffset now) => LastEventAt is { } last && now <= last ? last.AddMilliseconds(1) : now;
}

/// <summary>Writes a file that only the agent's account can read (0600 on Linux from the start), replacing it atomically.</summary>
public static class PrivateFile
{
    public static void Write(string file, string text)
    {
        var directory = Path.GetDirectoryName(file)!;
        var temp = file + ".tmp";
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(temp, text);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            using (var writer = new StreamWriter(stream))
                writer.Write(text);
        }
        File.Move(temp, file, overwrite: true);
    }
}
