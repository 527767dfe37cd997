using System.Text.Json;
using Patch.Domain.Cycle;


namespace Patch.Agent.Cycle;

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
    DateTimeOffset? LastEventAt,
    List<WaitingRun>? Waiting = null,
    DateTimeOffset? LastSentAt = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static AgentLedger Empty => new(new Dictionary<string, LedgerEntry>(), [], null, null, null, null, null, []);

    public static string PathIn(string directory) => Path.Combine(directory, "updates.json");

    /// <summary>
    /// The ledger on disk; an unreadable one (a torn write, a disk fault) is set aside beside it and the agent starts from an
    /// empty ledger — it evaluates its updates again at the next cycle — saying so through <paramref name="log"/>.
    /// </summary>
    public static AgentLedger Load(string directory, Action<string>? log = null)
    {
        var file = PathIn(directory);
        if (!File.Exists(file)) return Empty;
        AgentLedger? ledger;
        try
        {
            ledger = JsonSerializer.Deserialize<AgentLedger>(File.ReadAllText(file), Json);
            if (ledger is { Entries: not null, Outbox: not null }) return ledger with { Waiting = ledger.Waiting ?? [] };
        }
        // Only what the file says is judged: an I/O error (a file another program holds for a moment) is no reason to set it aside.
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            log?.Invoke(CorruptState.SetAside(file, e.Message, "the agent starts from an empty ledger and evaluates its updates again; unsent events in it are lost"));
            return Empty;
        }
        log?.Invoke(CorruptState.SetAside(file, "not a ledger", "the agent starts from an empty ledger and evaluates its updates again"));
        return Empty;
    }

    public void Save(string directory) => PrivateFile.Write(PathIn(directory), JsonSerializer.Serialize(this, Json));

    /// <summary>
    /// The next event time: the clock, but after the previous event, so the server orders one agent's events as they
    /// happened even when the clock is set back (by less than an hour: the events then run a little ahead of it). A
    /// previous time more than an hour ahead is not followed: events are not dated far into the future.
    /// </summary>
    public DateTimeOffset NextEventTime(DateTimeOffset now) =>
        LastEventAt is { } last && now <= last && last - now < TimeSpan.FromHours(1) ? last.AddMilliseconds(1) : now;
}

/// <summary>A state file that cannot be read is moved aside (never deleted: an administrator may want it) with a dated name.</summary>
public static class CorruptState
{
    public static string SetAside(string file, string why, string consequence)
    {
        var aside = $"{file}.corrupt-{DateTime.UtcNow:yyyyMMddHHmmss}";
        File.Move(file, aside, overwrite: true);
        return $"The agent's state file {file} could not be read ({why}); it was set aside as {aside}: {consequence}.";
    }
}

/// <summary>
/// Writes a file that only the agent's account can read (0600 on Linux from the start; on Windows in a folder only SYSTEM
/// and Administrators may open), replacing it atomically.
/// </summary>
public static class PrivateFile
{
    public static void Write(string file, string text)
    {
        var directory = Path.GetDirectoryName(file)!;
        var temp = file + ".tmp";
        if (OperatingSystem.IsWindows())
        {
            PrivateFolder.Create(directory);
            // Created in the protected folder, the file takes its access list, and keeps it when it replaces the old one.
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

/// <summary>One agent process at a time works on a state folder (the service and the CLI share it): an exclusive lock file.</summary>
public sealed class AgentLock : IDisposable
{
    private readonly FileStream _file;

    private AgentLock(FileStream file) => _file = file;

    public static async Task<AgentLock> AcquireAsync(string directory, TimeSpan wait, CancellationToken ct)
    {
        // On Windows a user who could open the lock file could hold it and stop every cycle: the folder is the agent's.
        if (OperatingSystem.IsWindows()) PrivateFolder.Create(directory);
        else Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "agent.lock");
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                return new AgentLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct);
            }
            catch (IOException)
            {
                throw new AgentException($"Another agent process is working on {directory} (the service running a cycle?); try again when it is done.");
            }
        }
    }

    public void Dispose() => _file.Dispose();
}
