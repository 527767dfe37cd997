using Marten;
using Patch.Application.Common;
using Patch.Domain.Hierarchy;

namespace Patch.Application.Hierarchy;

/// <summary>Patch:Hierarchy: this server's name among its parent and children, and how replication runs.</summary>
public sealed class HierarchyOptions
{
    /// <summary>The name this server registers with at its parent (default: the machine's name).</summary>
    public string Name { get; set; } = Environment.MachineName;

    /// <summary>Events (or streams, in a Complete run) a replication page carries: 1 to 5000.</summary>
    public int PageSize { get; set; } = 500;

    /// <summary>The share of replicated bulletins the data verification compares with the parent after each run, 0 to 100.</summary>
    public int VerifyPercent { get; set; } = 10;

    /// <summary>
    /// Whether a parent may be reached over plain http at an address other than this machine's own: its credential (and the
    /// key its answers are signed with, derived from it) would cross the network in clear. Off by default.
    /// </summary>
    public bool AllowInsecureParent { get; set; }

    /// <summary>What is wrong with a parent's URL, or null: absolute http(s), and https unless it is a loopback address or allowed.</summary>
    public string? ParentUrlProblem(string? url) =>
        url is null || url.Length > 2048 || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            ? "url: the parent server's absolute https URL"
        : uri.Scheme == "http" && !uri.IsLoopback && !AllowInsecureParent
            ? $"url: the parent must be reached over https ({url} is plain http: the credential and the key that signs the parent's answers would cross the network in clear); http only at a loopback address, or with Patch:Hierarchy:AllowInsecureParent"
        : null;

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Name) || Name.Length > 128 || Name.Any(char.IsControl)) problems.Add("Patch:Hierarchy:Name: 1 to 128 printable characters");
        if (PageSize is < 1 or > 5000) problems.Add("Patch:Hierarchy:PageSize: 1 to 5000");
        if (VerifyPercent is < 0 or > 100) problems.Add("Patch:Hierarchy:VerifyPercent: 0 to 100");
        return problems;
    }
}

public static class ServerIdentities
{
    /// <summary>This server's id, assigned on first use (two first uses at once: one wins, both read it).</summary>
    public static async Task<string> GetAsync(IDocumentStore store, TimeProvider time, CancellationToken ct)
    {
        await using (var query = store.QuerySession())
            if (await query.LoadAsync<ServerIdentity>(ServerIdentity.StreamId, ct) is { } known) return known.ServerId;
        try
        {
            await using var session = store.OpenSession(Actor.ServerTask("hierarchy"));
            session.Events.StartStream<ServerIdentity>(ServerIdentity.StreamId, new ServerIdentityAssigned($"server-{Guid.NewGuid():N}", time.GetUtcNow()));
            await session.SaveChangesAsync(ct);
        }
        catch (Exception e) when (StoreConflict.Is(e))
        {
            // Another request assigned it first.
        }
        await using var again = store.QuerySession();
        return (await again.LoadAsync<ServerIdentity>(ServerIdentity.StreamId, ct))!.ServerId;
    }
}

public static class ParentLinks
{
    public const string NoParent = "This server has no parent: link it first (POST /api/hierarchy/parent).";

    /// <summary>This server's link to its parent, or null when it has none.</summary>
    public static async Task<ParentLink?> LoadAsync(IDocumentStore store, CancellationToken ct)
    {
        await using var query = store.QuerySession();
        return await query.LoadAsync<ParentLink>(ParentLink.StreamId, ct);
    }

    /// <summary>The cultures this server manages: what it reports to its parent and what it takes from it.</summary>
    public static async Task<IReadOnlyList<string>> CulturesAsync(IDocumentStore store, CancellationToken ct)
    {
        await using var query = store.QuerySession();
        return (await Settings.CoreSettingsEndpoints.CurrentAsync(query, ct)).ManagedCultures;
    }

    /// <summary>The link, for work that cannot run without a parent.</summary>
    public static async Task<ParentLink> RequireAsync(IDocumentStore store, CancellationToken ct) =>
        await LoadAsync(store, ct) ?? throw new InvalidOperationException(NoParent);
}
