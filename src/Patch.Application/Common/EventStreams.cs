using JasperFx.Events;
using Marten;

namespace Patch.Application.Common;

public static class EventStreams
{
    /// <summary>
    /// Many streams fetched for writing in batched queries (a thousand streams a round trip, not one each): each stream's
    /// version is still checked when the session commits.
    /// </summary>
    public static async Task<Dictionary<string, IEventStream<T>>> FetchManyForWritingAsync<T>(this IDocumentSession session, IEnumerable<string> ids,
        CancellationToken ct) where T : class
    {
        var streams = new Dictionary<string, IEventStream<T>>(StringComparer.Ordinal);
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(1000))
        {
            var batch = session.CreateBatchQuery();
            var pending = chunk.Select(id => (Id: id, Stream: batch.Events.FetchForWriting<T>(id))).ToList();
            await batch.Execute(ct);
            foreach (var (id, stream) in pending) streams[id] = await stream;
        }
        return streams;
    }

    /// <summary>An event carrying its own actor (the one a session would stamp on all of its events), for sessions that append for many actors at once.</summary>
    public static IEvent For(this IEvent e, Actor actor)
    {
        e.UserName = actor.Name;
        e.CorrelationId = actor.CorrelationId;
        e.CausationId = actor.CorrelationId;
        e.SetHeader("actorKind", actor.Kind);
        if (actor.Id is not null) e.SetHeader("actorId", actor.Id);
        return e;
    }
}
