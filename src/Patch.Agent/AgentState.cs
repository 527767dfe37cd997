using System.Text.Json;

namespace Patch.Agent;

/// <summary>What the agent keeps between runs: its server, identity and credential (and when it was issued), and the hash of the last inventory sent.</summary>
public sealed record AgentState(string Server, string ComputerId, string AgentId, string Credential, string? LastInventorySha256 = null,
    DateTimeOffset? CredentialIssuedAt = null, string? PendingSecret = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>/var/lib/patch-agent as root, else ~/.local/share/patch-agent (PATCH_AGENT_STATE overrides).</summary>
    public static string DefaultDirectory() =>
        Environment.GetEnvironmentVariable("PATCH_AGENT_STATE") is { Length: > 0 } configured ? configured
        : OperatingSystem.IsWindows() ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData), "Patch", "Agent")
        : Environment.UserName == "root" ? "/var/lib/patch-agent"
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "patch-agent");

    /// <summary>The state on disk, or null before enrolment. An unreadable one is set aside and the agent says to enrol again (its credential is in it).</summary>
    public static AgentState? Load(string directory)
    {
        var file = Path.Combine(directory, "agent.json");
        if (!File.Exists(file)) return null;
        string why;
        try
        {
            var state = JsonSerializer.Deserialize<AgentState>(File.ReadAllText(file), Json);
            if (state is { Server.Length: > 0, ComputerId.Length: > 0, Credential.Length: > 0 }) return state;
            why = "its server, computer or credential is missing";
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            why = e.Message;
        }
        throw new AgentException(Cycle.CorruptState.SetAside(file, why, "enrol this computer again with an enrolment token ('Patch.Agent enrol --server … --token …') once an administrator has reset its agent (DELETE /api/computers/{name}/agent, or Reset agent in the console)"));
    }

    /// <summary>Written private from the start on Linux (folder 0700, file 0600): the credential is never readable by others, not even briefly.</summary>
    public void Save(string directory) => Cycle.PrivateFile.Write(Path.Combine(directory, "agent.json"), JsonSerializer.Serialize(this, Json));
}
