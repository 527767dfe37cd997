using System.Security.Cryptography;
using System.Text.Json;
using Patch.Domain.Agents;
using Patch.Domain.Cycle;

namespace Patch.Agent.Cycle;

/// <summary>The server's part of a cycle: the outbox sent (one by one when the server refuses a batch), the assignments (ETag), the inventory when it changed.</summary>
public sealed partial class CycleRunner
{
    private async Task FlushAsync(AgentState state, CancellationToken ct)
    {
        while (_ledger.Outbox.Count > 0)
        {
            // In order, after what the server acknowledged, never ahead of its clock (Outbox.Dated).
            var batch = Outbox.Dated(_ledger.Outbox.Take(500).ToList(), _ledger.LastSentAt, context.Client.ServerNow);
            try
            {
                try
                {
                    await context.Client.SendEventsAsync(state.Credential, batch, ct);
                }
                catch (AgentException e) when (e.StatusCode == 400 && context.Client.ServerNow is { } serverNow && batch.Any(b => b.OccurredAt > serverNow))
                {
                    // The computer's clock ran ahead and the server's time was not known yet: dated by it now, the batch goes again.
                    batch = Outbox.Dated(batch, _ledger.LastSentAt, serverNow);
                    await SendOrOneByOneAsync(state, batch, ct);
                }
                catch (AgentException e) when (e.StatusCode is 400 or 409 || e.StatusCode >= 500 && batch.Count > 1)
                {
                    await OneByOneAsync(state, batch, ct);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or AgentException && !ct.IsCancellationRequested)
            {
                // The server is away: the events stay on disk and go with the next cycle, under the same ids (the server
                // drops those it already has).
                context.Log?.Invoke($"Events kept for later: {e.Message}");
                CompactOutbox();
                Save();
                return;
            }
            _ledger.Outbox.RemoveRange(0, batch.Count);
            // Later events follow what the server has; a clock that ran ahead is not followed once the server dated past it.
            _ledger = _ledger with
            {
                LastSentAt = batch[^1].OccurredAt,
                LastEventAt = _ledger.LastEventAt is { } last && last > batch[^1].OccurredAt && context.Client.ServerNow is { } now && last > now ? batch[^1].OccurredAt : _ledger.LastEventAt,
            };
            Save();
        }
    }

    private async Task SendOrOneByOneAsync(AgentState state, List<AgentEvent> batch, CancellationToken ct)
    {
        try
        {
            await context.Client.SendEventsAsync(state.Credential, batch, ct);
        }
        catch (AgentException e) when (e.StatusCode is 400 or 409 || e.StatusCode >= 500 && batch.Count > 1)
        {
            await OneByOneAsync(state, batch, ct);
        }
    }

    /// <summary>
    /// The server refuses (400, 409: a batch of one too) or fails on (5xx) something in the batch: the events go one by one, and only one it refuses
    /// is set aside, so one bad event never holds back the rest.
    /// </summary>
    private async Task OneByOneAsync(AgentState state, List<AgentEvent> batch, CancellationToken ct)
    {
        foreach (var one in batch)
        {
            try
            {
                await context.Client.SendEventsAsync(state.Credential, [one], ct);
            }
            // 409: an event the server holds as another under this id, or a status for a policy deleted before this agent enrolled.
            catch (AgentException refused) when (refused.StatusCode is 400 or 409)
            {
                context.Log?.Invoke($"Event {one.Id} refused by the server and dropped: {refused.Message}");
            }
        }
    }

    private async Task<Assignments> FetchAssignmentsAsync(AgentState state, CancellationToken ct)
    {
        try
        {
            var result = await context.Client.AssignmentsAsync(state.Credential, _ledger.Assignments is null ? null : _ledger.AssignmentsETag, ct);
            if (!result.NotModified) _ledger = _ledger with { Assignments = result.Assignments, AssignmentsETag = result.ETag };
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or AgentException { StatusCode: >= 500 } && _ledger.Assignments is not null && !ct.IsCancellationRequested)
        {
            context.Log?.Invoke($"Server unreachable ({e.Message}); using the last assignments");
        }
        return _ledger.Assignments ?? throw new AgentException("No assignments from the server yet.");
    }

    private async Task SendInventoryIfChangedAsync(AgentInventory inventory, CancellationToken ct)
    {
        var text = JsonSerializer.Serialize(inventory, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true });
        var hash = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
        // The state is read again here: an enrolment since the cycle began must not be overwritten with an old copy.
        var state = AgentState.Load(context.StateDirectory) ?? throw new AgentException("Not enrolled.");
        if (hash == state.LastInventorySha256) return;
        try
        {
            await context.Client.SendInventoryAsync(state.Credential, inventory, ct);
            (state with { LastInventorySha256 = hash }).Save(context.StateDirectory);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or AgentException && !ct.IsCancellationRequested)
        {
            context.Log?.Invoke($"Inventory not sent ({e.Message}); it goes with the next cycle or the service's next interval");
        }
    }
}
