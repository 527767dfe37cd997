using Marten;
using Npgsql;

namespace Patch.Application.Common;

/// <summary>
/// Documents as they stood at a past instant (ADR 0019): one by its stream folded up to then, or all of one kind from
/// its read model's history — the same JSON the live document holds, read with the store's own serializer.
/// </summary>
public static class Historical
{
    /// <summary>The document now, or (with <paramref name="asOf"/>) its stream's events up to then folded; null if it did not exist.</summary>
    public static Task<T?> LoadAsync<T>(IQuerySession session, string id, DateTimeOffset? asOf, CancellationToken ct) where T : class =>
        asOf is { } at ? session.Events.AggregateStreamAsync<T>(id, timestamp: at, token: ct) : session.LoadAsync<T>(id, ct);

    /// <summary>Every document of a versioned read model (<paramref name="table"/>, ADR 0019) as it stood at <paramref name="asOf"/>.</summary>
    public static async Task<List<T>> AllAsync<T>(IQuerySession session, NpgsqlDataSource db, string table, DateTimeOffset asOf, CancellationToken ct, string orderBy = "id")
    {
        await using var cmd = db.CreateCommand($"select data from {ReadSql.At(table, asOf)} d order by {orderBy}");
        cmd.Parameters.AddRange(ReadSql.AsOfParameters(asOf).ToArray());
        var serializer = session.DocumentStore.Options.Serializer();
        var items = new List<T>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) items.Add(serializer.FromJson<T>(reader, 0));
        return items;
    }
}
