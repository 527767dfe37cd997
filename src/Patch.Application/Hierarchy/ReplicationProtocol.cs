using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Patch.Domain.Catalog;

namespace Patch.Application.Hierarchy;

/// <summary>The registration request a child sends its parent with the parent's registration token.</summary>
/// <summary><c>Credential</c>: the secret the child chose for its credential; sent again after a lost answer, it gets the same registration.</summary>
/// <summary>
/// A child's registration; <c>ServerId</c> is the child's own server id and <c>Subtree</c> the server ids below it (its
/// children's last roll-ups), so that a server is never registered as its own parent, its parent's or an ancestor's.
/// </summary>
public sealed record RegisterChildRequest(string? Token, string? Name, string? Url, IReadOnlyList<string>? Cultures, string? Credential = null, string? ServerId = null,
    IReadOnlyList<string>? Subtree = null);

/// <summary>The parent's answer: the child's own credential ("child-….secret", shown once) and who the parent is.</summary>
public sealed record ChildRegistered(string ChildId, string Credential, string ParentId, string ParentName, IReadOnlyList<string> MissingCultures);

/// <summary>What a child reports at the start and the end of a run.</summary>
public sealed record ChildStatusRequest(IReadOnlyList<string>? Cultures, long? Checkpoint, string? LastRun);

public sealed record ChildStatusAnswer(string ParentId, IReadOnlyList<string> ParentCultures, IReadOnlyList<string> MissingCultures);

/// <summary>One catalog event of the parent's log as the feed sends it (envelope version 1).</summary>
public sealed record FeedEvent(long Sequence, Guid Id, string Stream, string Type, DateTimeOffset Timestamp, JsonElement Data);

/// <summary>A page of the feed: the events after <c>After</c>, and the checkpoint the child stores once it applied them (<c>Next</c>).</summary>
public sealed record FeedPage(int Version, string ParentId, long After, long Next, long Head, IReadOnlyList<FeedEvent> Events, Guid? NextId = null);

/// <summary>One stream of the parent's catalog as it is now (a Complete run's page): a bulletin, a known-exploited CVE or a product vulnerability.</summary>
public sealed record SnapshotStream(string Id, string Source, JsonElement State);

public sealed record SnapshotPage(int Version, string ParentId, string Kind, long Head, string? Next, IReadOnlyList<SnapshotStream> Streams, Guid? HeadId = null);

public sealed record DigestRequest(IReadOnlyList<string>? Ids);

/// <summary>The parent's digest of each bulletin asked for (null: the parent has no such bulletin).</summary>
public sealed record DigestAnswer(IReadOnlyDictionary<string, string?> Digests);

/// <summary>The wire format's constants and the signature every parent answer carries (the child checks it on every call).</summary>
public static class ReplicationProtocol
{
    public const int Version = 1;
    public const string Prefix = "/replication/v1";
    public const string SignatureHeader = "X-Patch-Signature";
    public const string CredentialPrefix = "child-";

    /// <summary>The snapshot kinds of a Complete run, in the order it takes them.</summary>
    public static readonly string[] SnapshotKinds = ["bulletin", "known-exploited", "product-vulnerability"];

    /// <summary>
    /// The parent's catalog event types: vendor facts only (downloads, custom severities and resolutions stay on each
    /// server). Marten's type names, which the feed's <c>type</c> carries.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, Type> EventTypes = new Dictionary<string, Type>
    {
        ["bulletin_imported"] = typeof(BulletinImported),
        ["bulletin_revised"] = typeof(BulletinRevised),
        ["software_update_added"] = typeof(SoftwareUpdateAdded),
        ["software_update_revised"] = typeof(SoftwareUpdateRevised),
        ["known_exploited_vulnerability_listed"] = typeof(Domain.Vulnerabilities.KnownExploitedVulnerabilityListed),
        ["known_exploited_vulnerability_revised"] = typeof(Domain.Vulnerabilities.KnownExploitedVulnerabilityRevised),
        ["product_vulnerability_published"] = typeof(Domain.Vulnerabilities.ProductVulnerabilityPublished),
        ["product_vulnerability_revised"] = typeof(Domain.Vulnerabilities.ProductVulnerabilityRevised),
    };

    /// <summary>Marten's JSON of events and documents (camelCase, enums as text).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    /// <summary>Refuses an envelope of another version (a newer parent: its meaning is not this server's to guess), or from another server than the parent.</summary>
    public static void CheckEnvelope(int version, string parentId, Domain.Hierarchy.ParentLink link)
    {
        if (version != Version) throw new InvalidOperationException($"The parent's feed is version {version}; this server reads version {Version}.");
        CheckParent(parentId, link);
    }

    public static void CheckParent(string parentId, Domain.Hierarchy.ParentLink link)
    {
        if (parentId != link.ParentId) throw new InvalidOperationException($"The answer comes from server {parentId}, not from this server's parent {link.ParentId}.");
    }

    /// <summary>HMAC-SHA256 of the body, keyed by the SHA-256 of the shared secret (the parent stores only that; the child computes it).</summary>
    public static string Sign(string secretSha256, ReadOnlySpan<byte> body) => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Convert.FromHexString(secretSha256), body));

    public static bool Verify(string secretSha256, ReadOnlySpan<byte> body, string? signature) =>
        signature is not null && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(Sign(secretSha256, body)), System.Text.Encoding.ASCII.GetBytes(signature));

    /// <summary>A signed JSON answer of the parent.</summary>
    public static IResult Signed<T>(HttpContext http, T body, string secretSha256, int status = StatusCodes.Status200OK)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body, Json);
        http.Response.Headers[SignatureHeader] = Sign(secretSha256, bytes);
        return Results.Text(bytes, "application/json", status);
    }
}
