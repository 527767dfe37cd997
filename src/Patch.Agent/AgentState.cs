using System.Text.Json;

namespace Patch.Agent;

/// <summary>What the agent keeps between runs: its server, identity and credential (and when it was issued), and the hash of the last inventory sent.</summary>
public sealed record AgentState(string Server, string ComputerId, string AgentId, string Credential, string? LastInventorySha256 = null,
    DateTimeOffset? CredentialIssuedAt = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>/var/lib/patch-agent as root, else ~/.local/share/patch-agent (PATCH_AGENT_STATE overrides).</summary>
    public static string DefaultDirectory() =>
        Environment.GetEnvironmentVariable("PATCH_AGENT_STATE") is { Length: > 0 } configured ? configured
        : OperatingSystem.IsWindows() ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData), "Patch", "Agent")
        : Environment.UserName == "root" ? "/var/lib/patch-agent"
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "patch-agent");

    public static AgentState? Load(string directory)
    {
        var file = Path.Combine(directory, "agent.json");
        return File.Exists(file) ? JsonSerializer.Deserialize<AgentState>(File.ReadAllText(file), Json) : null;
    }

    /// <summary>Written private from the start on Linux (folder 0700, file 0600): the credential is never readable by others, not even briefly.</summary>
    public void Save(string directory) => Cycle.PrivateFile.Write(Path.Combine(directory, "agent.json"), JsonSerializer.Serialize(this, Json));
}
