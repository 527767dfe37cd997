using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain.Catalog;
using Patch.Domain.Hierarchy;
using Patch.Domain.Vulnerabilities;

namespace Patch.Application.Hierarchy;

/// <summary>
/// What a parent serves its children (child credential only; every answer signed): their status report (which raises or
/// clears a language alert), its catalog events after a checkpoint, its catalog as it is (Complete runs) and the digests
/// the data verification compares. While a child's language alert is open, the catalog is refused to it with that reason.
/// </summary>
public static class ReplicationFeed
{
    public static void MapReplicationFeed(this IEndpointRouteBuilder app)
    {
        var feed = app.MapGroup(ReplicationProtocol.Prefix).WithTags("Hierarchy").ForChildServer();

        feed.MapPost("status", async (ChildStatusRequest body, HttpContext http, IDocumentStore store, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
            {
                if (ChildServer.InvalidCultures(body.Cultures) is { } invalid) return Problems.Invalid("Invalid status", invalid);
                if (body.Checkpoint is < 0) return Problems.Invalid("Invalid status", "checkpoint: 0 or a sequence number of this server's log");
                if (body.LastRun is { Length: > 32 } || body.LastRun?.Any(char.IsControl) == true) return Problems.Invalid("Invalid status", "lastRun: a run status");
                // A checkpoint past this log's end was taken from a log this server no longer has (restored from an older backup):
                // recorded, it would show the child up to date when it is not. The child re-bases (a Complete run) and reports again.
                if (body.Checkpoint is > 0 and var reported && reported > await HeadAsync(db, ct)) return Diverged(reported);
                var caller = ChildCredentialHandler.Caller(http);
                var now = time.GetUtcNow();
                await using var session = store.OpenSession(new Actor("child-server", caller.Name, http.TraceIdentifier, caller.Id));
                var settings = await Settings.CoreSettingsEndpoints.CurrentAsync(session, ct);
                var stream = await session.Events.FetchForWriting<ChildServer>(caller.Id, ct);
                var cultures = body.Cultures!.Select(c => c.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
                stream.AppendOne(new ChildServerReported(caller.Id, cultures, body.Checkpoint ?? stream.Aggregate!.Checkpoint, body.LastRun, now));
                stream.AppendMany(stream.Aggregate!.DecideAlert(cultures, settings.ManagedCultures, now));
                await session.SaveChangesAsync(ct);
                var answer = new ChildStatusAnswer(await ServerIdentities.GetAsync(store, time, ct), settings.ManagedCultures, ChildServer.Missing(cultures, settings.ManagedCultures));
                return ReplicationProtocol.Signed(http, answer, caller.CredentialSha256);
            })
            .WithName("ReportChildStatus").WithSummary("A child reports its managed cultures, checkpoint and last run; the answer names the cultures the parent does not manage (a language alert).")
            .Produces<ChildStatusAnswer>().ProducesProblem(400);

        feed.MapGet("catalog/events", async (long? after, int? limit, Guid? lastEvent, long? lastEventSequence, Guid? checkpointEvent, HttpContext http, IDocumentStore store, NpgsqlDataSource db, TimeProvider time,
                CancellationToken ct) =>
            {
                var caller = ChildCredentialHandler.Caller(http);
                if (Alert(caller) is { } refused) return refused;
                if (after is < 0) return Problems.Invalid("Invalid checkpoint", "after: 0 or a sequence number of this server's log");
                if (limit is < 1 or > 5000) return Problems.Invalid("Invalid limit", "limit: 1 to 5000");
                if (lastEvent.HasValue != lastEventSequence.HasValue)
                    return Problems.Invalid("Invalid checkpoint", "lastEvent and lastEventSequence: both (the last catalog event applied and its sequence number) or neither");
                if (lastEvent is { } id && (lastEventSequence > after || !await HoldsEventAsync(db, id, lastEventSequence!.Value, ct))) return Diverged(after ?? 0);
                // The event at the checkpoint's place: a log restored from an older backup and grown again past the checkpoint
                // holds another there (the catalog events between the backup and the checkpoint would never be sent).
                if (checkpointEvent is { } anchor && (after is not > 0 || !await HoldsEventAsync(db, anchor, after.Value, ct))) return Diverged(after ?? 0);
                var (events, next, head, nextId) = await CatalogLog.ReadAsync(db, after ?? 0, limit ?? 500, ct);
                // A checkpoint past the end of this log: it was restored from an older backup.
                if (after > head) return Diverged(after.Value);
                return ReplicationProtocol.Signed(http, new FeedPage(ReplicationProtocol.Version, await ServerIdentities.GetAsync(store, time, ct), after ?? 0, next, head, events, nextId),
                    caller.CredentialSha256);
            })
            .WithName("ReadCatalogEvents")
            .WithSummary("The parent's catalog events (vendor facts) after a checkpoint, oldest first, and the checkpoint to store once they are applied with the id of the event at its place (nextId, sent back as checkpointEvent). 409 when the checkpoint is not in this server's log (restored from an older backup): run Complete.")
            .Produces<FeedPage>().ProducesProblem(400).ProducesProblem(409);

        feed.MapGet("catalog/snapshot", async (string? kind, string? after, int? limit, HttpContext http, IDocumentStore store, NpgsqlDataSource db, TimeProvider time,
                CancellationToken ct) =>
            {
                var caller = ChildCredentialHandler.Caller(http);
                if (Alert(caller) is { } refused) return refused;
                if (kind is null || !ReplicationProtocol.SnapshotKinds.Contains(kind))
                    return Problems.Invalid("Invalid kind", $"kind: one of {string.Join(", ", ReplicationProtocol.SnapshotKinds)}");
                if (limit is < 1 or > 5000) return Problems.Invalid("Invalid limit", "limit: 1 to 5000");
                var (head, headId) = await CatalogLog.SettledHeadAsync(db, ct);
                await using var session = store.QuerySession();
                var take = limit ?? 500;
                var from = after ?? "";
                IReadOnlyList<SnapshotStream> streams = kind switch
                {
                    "bulletin" => (await Page<Bulletin>(session, from, take, ct)).Select(b => Stream(b.Id, b.Source, new { b.Facts, b.Updates })).ToList(),
                    "known-exploited" => (await Page<KnownExploitedVulnerability>(session, from, take, ct)).Select(k => Stream(k.Id, "kev", k.Facts)).ToList(),
                    _ => (await Page<ProductVulnerability>(session, from, take, ct)).Select(v => Stream(v.Id, v.Source, v.Facts)).ToList(),
                };
                var next = streams.Count == take ? streams[^1].Id : null;
                return ReplicationProtocol.Signed(http, new SnapshotPage(ReplicationProtocol.Version, await ServerIdentities.GetAsync(store, time, ct), kind, head, next, streams, headId),
                    caller.CredentialSha256);
            })
            .WithName("ReadCatalogSnapshot")
            .WithSummary("The parent's catalog as it is now, one kind of stream at a time (bulletin, known-exploited, product-vulnerability) in id order after 'after': a Complete run's pages, with the log's head to re-base on.")
            .Produces<SnapshotPage>().ProducesProblem(400).ProducesProblem(409);

        feed.MapPost("catalog/digests", async (DigestRequest body, HttpContext http, IQuerySession session, CancellationToken ct) =>
            {
                var caller = ChildCredentialHandler.Caller(http);
                if (body.Ids is null || body.Ids.Count > 5000 || body.Ids.Any(i => string.IsNullOrEmpty(i) || i.Length > 200))
                    return Problems.Invalid("Invalid digest request", body.Ids switch
                    {
                        null => "ids: required (the bulletin ids to compare)",
                        { Count: > 5000 } => $"ids: at most 5000 bulletin ids ({body.Ids.Count} here)",
                        _ => $"ids[{body.Ids.ToList().FindIndex(i => string.IsNullOrEmpty(i) || i.Length > 200)}]: a bulletin id of 1 to 200 characters (null or empty here, or longer)",
                    });
                var bulletins = (await session.LoadManyAsync<Bulletin>(ct, body.Ids.Distinct().ToArray())).ToDictionary(b => b.Id);
                var digests = body.Ids.Distinct().ToDictionary(id => id,
                    id => bulletins.TryGetValue(id, out var b) ? CatalogReplication.Digest(b.Facts, b.Updates, caller.Cultures) : null);
                return ReplicationProtocol.Signed(http, new DigestAnswer(digests), caller.CredentialSha256);
            })
            .WithName("DigestBulletins").WithSummary("The data verification: the parent's digest of each bulletin named (its facts and its updates of the child's cultures).")
            .Produces<DigestAnswer>().ProducesProblem(400);
    }

    /// <summary>Documents in id order (byte order: the same on every server) after <paramref name="after"/>.</summary>
    private static Task<IReadOnlyList<T>> Page<T>(IQuerySession session, string after, int take, CancellationToken ct) =>
        session.QueryAsync<T>("where id collate \"C\" > ? order by id collate \"C\" limit ?", ct, after, take);

    private static SnapshotStream Stream(string id, string source, object state) =>
        new(id, source, System.Text.Json.JsonSerializer.SerializeToElement(state, ReplicationProtocol.Json));

    internal static IResult? Alert(ChildServer child) => child.MissingCultures.Count == 0 ? null : Results.Problem(title: "Language alert",
        detail: $"This parent does not manage {string.Join(", ", child.MissingCultures)}, which the child '{child.Name}' manages: replication is refused until an administrator of the parent manages them (core settings) and the child reports again.",
        statusCode: StatusCodes.Status409Conflict);

    internal static IResult Diverged(long after) => Results.Problem(title: "Checkpoint not in this log",
        detail: $"Checkpoint {after} is not in this server's event log (it was restored from an older backup, or its store was replaced): a Complete replication must re-base the child.",
        statusCode: StatusCodes.Status409Conflict, extensions: new Dictionary<string, object?> { ["code"] = "checkpoint-diverged" });

    internal static async Task<long> HeadAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await CatalogLog.HeadAsync(conn, null, ct);
    }

    /// <summary>Whether the event the child applied last is still at its place in this log (by the log's primary key).</summary>
    private static async Task<bool> HoldsEventAsync(NpgsqlDataSource db, Guid id, long sequence, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"select exists(select 1 from {PatchStore.Schema}.mt_events where seq_id = $2 and id = $1)");
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(sequence);
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
