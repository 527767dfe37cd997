namespace Patch.Application.Common;

/// <summary>
/// Another writer saved the same stream first: a version that moved under a write, a stream started twice (Marten names
/// some of these, and reports others as the primary key of <c>mt_streams</c> violated). A retry decided again against
/// what was saved succeeds; an answer to a request is a 409, never a 500.
/// </summary>
public static class StoreConflict
{
    public static bool Is(Exception e) =>
        e is JasperFx.ConcurrencyException or JasperFx.Events.EventStreamUnexpectedMaxEventIdException
            or JasperFx.Events.ExistingStreamIdCollisionException or Marten.Exceptions.ExistingStreamIdCollisionException
            or Marten.Exceptions.MartenCommandException { InnerException: Npgsql.PostgresException { SqlState: "23505", ConstraintName: "pkey_mt_streams_id" } }
            // Patch's own appends of many streams (ADR 0046): a stream moved since it was read, or started by another writer meanwhile.
            or Catalog.CatalogStreamsMoved or Npgsql.PostgresException { SqlState: "23505", ConstraintName: "pkey_mt_streams_id" };
}
