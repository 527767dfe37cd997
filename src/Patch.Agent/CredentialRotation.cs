using Patch.Domain.Agents;

namespace Patch.Agent;

/// <summary>
/// Replaces the agent's credential. The new secret is chosen and saved (<see cref="AgentState.PendingSecret"/>) before it is
/// sent: when the answer is lost after the server took it, the agent asks again with the same secret — with its old
/// credential, or past the server's grace period with the new one — and the server answers the same rotation.
/// </summary>
public static class CredentialRotation
{
    public static async Task<(AgentState State, CredentialRotated Rotated)> RotateAsync(IAgentServer server, AgentState state, string directory,
        DateTimeOffset now, CancellationToken ct)
    {
        if (state.PendingSecret is null)
        {
            state = state with { PendingSecret = Secrets.New() };
            state.Save(directory);
        }
        CredentialRotated rotated;
        try
        {
            rotated = await server.RotateCredentialAsync(state.Credential, state.PendingSecret, ct);
        }
        catch (AgentException e) when (e.StatusCode == 401)
        {
            // The old credential is past its grace: the server may have taken the new secret before (else 401 again).
            rotated = await server.RotateCredentialAsync($"{state.AgentId}.{state.PendingSecret}", state.PendingSecret, ct);
        }
        state = state with { Credential = rotated.Credential, CredentialIssuedAt = now, PendingSecret = null };
        state.Save(directory);
        return (state, rotated);
    }
}
