using Marten;
using Patch.Application.Common;
using Patch.Domain;
using Patch.Domain.Settings;

namespace Patch.Application.Catalog;

/// <summary>The import's session: opened, locked and its core settings read while the document is read (ADR 0033, amended).</summary>
public sealed partial class CatalogImporter
{
    /// <summary>The import's session, already holding the catalog's lock, and the core settings it read: prepared while the document is read.</summary>
    private sealed record Prepared(IDocumentSession Session, CoreSettings Settings);

    private async Task<Prepared?> PrepareAsync(Task<string?> started, Actor actor, CancellationToken ct) =>
        await started is { } runId ? await OpenAsync(runId, actor, ct) : null;

    /// <summary>A session of the run that holds the catalog's lock, and the core settings it read.</summary>
    private async Task<Prepared> OpenAsync(string runId, Actor actor, CancellationToken ct)
    {
        var session = store.OpenSession(actor, runId);
        try
        {
            await Hierarchy.CatalogLog.LockForAppendAsync(session, ct);
            return new Prepared(session, await session.LoadAsync<CoreSettings>(StreamIds.CoreSettings, ct) ?? CoreSettings.Default);
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    /// <summary>A prepared session the import did not come to use (its document refused, its run failed): closed, its lock released.</summary>
    private static async Task DiscardAsync(Task<Prepared?> preparing)
    {
        try
        {
            if (await preparing is { } unused) await unused.Session.DisposeAsync();
        }
        catch (Exception)
        {
            // Preparing failed too: nothing is open, and the import's own failure is the one recorded.
        }
    }

    /// <summary>The import's session: the prepared one (first attempt), or a new one taking the lock; and the core settings.</summary>
    private async Task<Prepared> SessionAsync(string runId, Actor actor, Prepared? prepared, CancellationToken ct) =>
        prepared ?? await OpenAsync(runId, actor, ct);
}
