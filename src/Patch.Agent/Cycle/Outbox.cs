namespace Patch.Agent.Cycle;

/// <summary>
/// The events waiting for the server, kept bounded and in order while the server is away (issue 15 §7):
/// <list type="bullet">
/// <item>at most <see cref="DefaultCap"/> events on disk; past it the oldest status changes that a later status of the same
/// update replaces are compacted away first, then the oldest cycle reports — never the last status of an update, nor a
/// restart event;</item>
/// <item>each keeps the id the agent gave it, so a resend after a lost acknowledgement is dropped by the server;</item>
/// <item>before sending, times are made to follow one another and never run ahead of the server's clock (learnt from its
/// Date header), so a clock set back or forward reorders nothing and has nothing refused as "in the future".</item>
/// </list>
/// </summary>
public static class Outbox
{
    public const int DefaultCap = 5000;

    /// <summary>Compacts the outbox (in place, order kept) down to <paramref name="cap"/> if it can; returns how many events were removed.</summary>
    public static int Compact(List<AgentEvent> outbox, int cap)
    {
        if (outbox.Count <= cap) return 0;
        var before = outbox.Count;
        // The index of each update's last status under each policy (a delivery is per policy and update): those stay.
        var last = new Dictionary<(string?, string), int>();
        for (var i = 0; i < outbox.Count; i++)
            if (IsStatus(outbox[i]) && outbox[i].UpdateId is { } u) last[(outbox[i].PolicyId, u)] = i;
        var remove = new HashSet<int>();
        var excess = outbox.Count - cap;
        for (var i = 0; i < outbox.Count && remove.Count < excess; i++)
            if (IsStatus(outbox[i]) && outbox[i].UpdateId is { } u && last[(outbox[i].PolicyId, u)] != i) remove.Add(i);
        for (var i = 0; i < outbox.Count && remove.Count < excess; i++)
            if (outbox[i].Kind is { } kind && kind.StartsWith("cycle", StringComparison.Ordinal)) remove.Add(i);
        var kept = outbox.Where((_, i) => !remove.Contains(i)).ToList();
        outbox.Clear();
        outbox.AddRange(kept);
        return before - outbox.Count;
    }

    private static bool IsStatus(AgentEvent e) => e.Kind is null or "status";

    /// <summary>
    /// The batch as it is sent: each event after the previous one (and after the last event the server acknowledged),
    /// none after the server's time when it is known. Ids never change; an event the server already has is dropped by it.
    /// </summary>
    public static List<AgentEvent> Dated(IReadOnlyList<AgentEvent> batch, DateTimeOffset? lastSent, DateTimeOffset? serverNow)
    {
        var dated = new List<AgentEvent>(batch.Count);
        // A server whose clock was set back is followed: the floor never passes its time (the server refuses the future).
        var floor = serverNow is { } limit && lastSent > limit ? limit : lastSent;
        foreach (var e in batch)
        {
            var at = serverNow is { } now && e.OccurredAt > now ? now : e.OccurredAt;
            if (floor is { } f && at <= f) at = f.AddMilliseconds(1);
            dated.Add(at == e.OccurredAt ? e : e with { OccurredAt = at });
            floor = at;
        }
        return dated;
    }
}
