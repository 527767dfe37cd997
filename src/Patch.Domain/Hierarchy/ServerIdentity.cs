namespace Patch.Domain.Hierarchy;

public sealed record ServerIdentityAssigned(string ServerId, DateTimeOffset At);

/// <summary>This server's own id in a hierarchy: assigned once, the first time a parent or a child needs it; kept by backups and archives.</summary>
public sealed record ServerIdentity(string Id, string ServerId)
{
    public const string StreamId = "server:identity";

    public static ServerIdentity Create(ServerIdentityAssigned e) => new(StreamId, e.ServerId);
}
