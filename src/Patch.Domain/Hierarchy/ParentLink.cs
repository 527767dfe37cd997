namespace Patch.Domain.Hierarchy;

/// <summary>This server became a child of a parent: where it is, who it is, the child's own credential (protected at rest).</summary>
public sealed record ParentServerLinked(string ParentUrl, string ParentId, string ParentName, string ChildId, string ProtectedCredential, DateTimeOffset At);

/// <summary>
/// This server is about to register with the parent at <c>ParentUrl</c> using this registration token: the secret it
/// chose for its own credential (protected at rest), kept so that registering again at the same URL with the same token
/// after a lost answer sends the same secret and gets the same registration (stream <see cref="StreamId"/>). Another URL
/// gets another secret: a server that was sent the token by mistake never learns the secret the real parent will keep.
/// </summary>
public sealed record ParentLinkAttempted(string TokenId, string ProtectedSecret, DateTimeOffset At, string? ParentUrl = null)
{
    public static string StreamId(string tokenId) => $"hierarchy:link-attempt:{tokenId}";
}

/// <summary>The parent is reached at another URL (moved to https, a new host name); the same parent, as its signed answer there proved.</summary>
public sealed record ParentUrlChanged(string ParentUrl, DateTimeOffset At);

/// <summary>
/// One page of the parent's catalog events applied, with the checkpoint it moves to (committed in the same transaction
/// as the page's events: a page is applied whole or not at all).
/// </summary>
public sealed record CatalogPageReplicated(string RunId, long From, long To, Guid? LastEventId, int Events, int Applied, int Skipped, IReadOnlyList<string> UnknownTypes, DateTimeOffset At,
    long? LastEventSequence = null, IReadOnlyList<string>? Cultures = null, Guid? CheckpointEventId = null);

/// <summary>One page of a Complete run (the parent's catalog as it is, stream by stream); <c>Head</c>: the parent's log when the run began.</summary>
public sealed record CatalogSnapshotPageReplicated(string RunId, string Kind, string? Last, long Head, int Streams, int Applied, DateTimeOffset At, Guid? HeadId = null);

/// <summary>A Complete run ended: the checkpoint is re-based on the parent's log as it stood when the run began.</summary>
public sealed record CatalogRebased(string RunId, long Checkpoint, DateTimeOffset At, IReadOnlyList<string>? Cultures = null, Guid? CheckpointEventId = null);

/// <summary>What the data verification after a run found: how many records it compared with the parent, and which differ.</summary>
public sealed record CatalogVerified(string RunId, int Compared, IReadOnlyList<string> Mismatched, DateTimeOffset At);

/// <summary>Where a Complete run is: the kind of stream and the last stream id applied (the next page starts after it).</summary>
public sealed record SnapshotCursor(string RunId, string Kind, string? Last, long Head, Guid? HeadId = null);

/// <summary>
/// The child's side of the hierarchy: its parent, its replication checkpoint (with the id of the last catalog event it
/// applied, which the parent must still hold: a parent restored from an older backup does not) and where an unfinished
/// Complete run stopped.
/// </summary>
public sealed record ParentLink(string Id, string ParentUrl, string ParentId, string ParentName, string ChildId, string ProtectedCredential, DateTimeOffset Linked,
    long Checkpoint, Guid? LastEventId, SnapshotCursor? Snapshot, DateTimeOffset? LastReplicated, CatalogVerified? LastVerification)
{
    public const string StreamId = "hierarchy:parent";

    /// <summary>Where the last catalog event applied is in the parent's log (with <c>LastEventId</c>, what the parent must still hold).</summary>
    public long? LastEventSequence { get; init; }

    /// <summary>
    /// The id of the parent's event at the checkpoint's place (any event, not only a catalog one): a parent restored from an
    /// older backup whose log grew past the checkpoint again holds another one there. Null from a parent that gives none.
    /// </summary>
    public Guid? CheckpointEventId { get; init; }

    /// <summary>
    /// The cultures whose updates every event up to the checkpoint was applied with (those of the last Complete run, less
    /// any a later page went without); null before it is known. A culture managed since is missing before the checkpoint:
    /// the next run is a Complete one.
    /// </summary>
    public IReadOnlyList<string>? ReplicatedCultures { get; init; }

    /// <summary>Whether the child now manages a culture some replicated event was applied without.</summary>
    public bool LacksCultures(IReadOnlyList<string> cultures) =>
        ReplicatedCultures is { } had && cultures.Any(c => !had.Contains(c, StringComparer.OrdinalIgnoreCase));

    public static ParentLink Create(ParentServerLinked e) => new(StreamId, e.ParentUrl, e.ParentId, e.ParentName, e.ChildId, e.ProtectedCredential, e.At, 0, null, null, null, null);

    public static ParentLink Apply(CatalogPageReplicated e, ParentLink p) => (e.LastEventId is null ? p with { Checkpoint = e.To, LastReplicated = e.At }
        : p with { Checkpoint = e.To, LastEventId = e.LastEventId, LastEventSequence = e.LastEventSequence, LastReplicated = e.At }) with
    {
        ReplicatedCultures = p.ReplicatedCultures is { } had && e.Cultures is { } now ? had.Intersect(now, StringComparer.OrdinalIgnoreCase).ToList() : e.Cultures ?? p.ReplicatedCultures,
        CheckpointEventId = e.CheckpointEventId,
    };

    public static ParentLink Apply(CatalogSnapshotPageReplicated e, ParentLink p) => p with { Snapshot = new SnapshotCursor(e.RunId, e.Kind, e.Last, e.Head, e.HeadId), LastReplicated = e.At };

    public static ParentLink Apply(CatalogRebased e, ParentLink p) => p with
    {
        Checkpoint = e.Checkpoint, LastEventId = null, LastEventSequence = null, Snapshot = null, LastReplicated = e.At, ReplicatedCultures = e.Cultures ?? p.ReplicatedCultures,
        CheckpointEventId = e.CheckpointEventId,
    };

    public static ParentLink Apply(CatalogVerified e, ParentLink p) => p with { LastVerification = e };

    public static ParentLink Apply(ParentUrlChanged e, ParentLink p) => p with { ParentUrl = e.ParentUrl };
}
