namespace Patch.Domain;

/// <summary>Why a command was refused. <see cref="Kind"/> maps to an HTTP status at the edge.</summary>
public sealed record Rejection(RejectionKind Kind, string Title, string Detail);

public enum RejectionKind { Invalid, NotFound, Conflict }

/// <summary>The result of a pure decision: the events to append, or the reason it was refused.</summary>
public sealed record Outcome(IReadOnlyList<object> Events, Rejection? Rejection)
{
    public static readonly Outcome Nothing = new([], null);

    public static Outcome Append(params object[] events) => new(events, null);

    public static Outcome Refuse(RejectionKind kind, string title, string detail) => new([], new Rejection(kind, title, detail));

    public bool IsRejected => Rejection is not null;
}
