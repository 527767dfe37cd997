using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Application.Security;
using Patch.Domain.Catalog;

namespace Patch.Application.Audit;

/// <summary>
/// One event of the log as an auditor reads it: when, which stream, what, who (actor, kind) and why (correlation,
/// causation), what changed (before → after), the event's data with stored secret hashes redacted, and the stream's
/// history to open.
/// </summary>
public sealed record AuditRow(long Sequence, DateTimeOffset Timestamp, string StreamId, long Version, string Type, string? Actor, string? ActorKind, string? CorrelationId,
    string? CausationId, string Changed, IReadOnlyList<FieldChange> Changes, JsonNode? Data, string History);

/// <summary>
/// The audit (C12): every event of every stream, newest first, filtered by actor, actor kind, time range, stream,
/// event type and correlation id; paged; CSV. What changed is the event's own list of changes where it carries one
/// (bulletin and vendor settings revisions), else — for settings, policies, targets, maintenance windows and agent
/// configurations, whose events carry the new state — each field the event sets against the value the stream's earlier
/// events last gave it.
/// </summary>
public static class AuditLog
{
    private const string S = PatchStore.Schema;

    public static readonly Dictionary<string, string> Sort = new() { ["sequence"] = "seq_id", ["timestamp"] = "timestamp" };

    private static readonly string[] StateStreams = ["settings:", "policy:", "target:", "window:", "agent-config:"];

    /// <summary>
    /// Streams of several entities, and the field that tells them apart: an event there changes only its own entity, so its
    /// changes are against the earlier events of that entity (a new custom severity level is no rename of the one before).
    /// </summary>
    private static readonly Dictionary<string, string> EntityKeys = new(StringComparer.Ordinal) { [Domain.StreamIds.CustomSeverityLevels] = "levelId" };

    /// <summary>
    /// Streams only administrators read (webhook subscriptions and their deliveries: a Slack or Teams URL carries its
    /// secret), as their routes are: passed over for everyone else, in the audit and in a stream's history.
    /// </summary>
    public static bool AdministratorsOnly(string streamId) => streamId.StartsWith(AdministratorsOnlyPrefix, StringComparison.Ordinal);

    /// <summary>What those streams' ids begin with (<c>webhook:</c>, <c>webhook-delivery:</c>).</summary>
    private const string AdministratorsOnlyPrefix = "webhook";

    /// <summary>
    /// The names an event type may have, as the type filter compares them (without '_', lower case), so that a misspelt
    /// one is refused rather than answered empty. Marten learns a type when a projection reads it or an event of it is
    /// first appended, so every type of the assemblies its events come from counts (a type not yet appended in this
    /// process may be in the store): a name no type has is the error.
    /// </summary>
    public static IReadOnlySet<string> KnownTypes(Marten.IDocumentStore store) =>
        store.Options.Events.AllKnownEventTypes().Select(t => t.EventTypeName).Concat(TypeNames.Value).Select(Normal).ToHashSet(StringComparer.Ordinal);

    /// <summary>Every type of the assemblies Patch's events are declared in (the domain's and the application's).</summary>
    private static readonly Lazy<string[]> TypeNames = new(() =>
        [.. new[] { typeof(Domain.StreamIds).Assembly, typeof(AuditLog).Assembly }.SelectMany(a => a.GetExportedTypes()).Select(t => t.Name)]);

    private static string Normal(string typeName) => typeName.Replace("_", "").ToLowerInvariant();

    public static async Task<QueryAnswer<ReportPage<AuditRow>>> ListAsync(NpgsqlDataSource db, IQueryCollection query, bool csv, string? actor, string? actorKind,
        string? from, string? to, string? stream, string? type, string? correlationId, CancellationToken ct, bool administrator = false,
        IReadOnlySet<string>? knownTypes = null)
    {
        var (paging, problem) = ReportQuery.Parse(query, csv, Sort, "-sequence");
        var (fromAt, fromProblem) = Instant("from", from);
        var (toAt, toProblem) = Instant("to", to);
        problem ??= fromProblem ?? toProblem;
        if (problem is null && fromAt > toAt) problem = $"from ({from}) is after to ({to})";
        if (problem is null && type is not null && knownTypes is not null && !knownTypes.Contains(type.Replace("_", "").ToLowerInvariant()))
            problem = $"type: '{Domain.Users.UserDecisions.Printable(type)}' is no event type of this server (such as bulletin_imported or BulletinImported; the audit lists each entry's type)";
        if (problem is null && actorKind is not null && !Actor.Kinds.Contains(actorKind, StringComparer.Ordinal))
            problem = $"actorKind: '{Domain.Users.UserDecisions.Printable(actorKind)}' is not one of {string.Join(", ", Actor.Kinds)}";
        if (problem is not null) return QueryAnswer<ReportPage<AuditRow>>.Invalid(problem);

        var where = new List<string> { administrator ? "true" : $"stream_id not like '{AdministratorsOnlyPrefix}%'" };
        var ps = new List<NpgsqlParameter>();
        void Add(string clause, string name, object value) { where.Add(clause); ps.Add(new NpgsqlParameter(name, value)); }
        if (actor is not null) Add("user_name = @actor", "actor", actor);
        if (actorKind is not null) Add("headers->>'actorKind' = @kind", "kind", actorKind);
        if (fromAt is { } f) Add("timestamp >= @from", "from", f);
        if (toAt is { } t) Add("timestamp <= @to", "to", t);
        if (stream is not null)
        {
            // "policy:*" lists every stream of a kind; anything else is one stream.
            if (stream.EndsWith('*')) Add("stream_id like @stream", "stream", stream[..^1].Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%");
            else Add("stream_id = @stream", "stream", stream);
        }
        if (type is not null) Add("replace(type, '_', '') = @type", "type", type.Replace("_", "").ToLowerInvariant());
        if (correlationId is not null) Add("correlation_id = @correlation", "correlation", correlationId);
        var filter = string.Join(" and ", where);
        var sql = $"""
            select seq_id, timestamp, stream_id, version, type, user_name, headers->>'actorKind', correlation_id, causation_id, data::text
            from {S}.mt_events where {filter} order by {paging!.OrderBy(Sort, "seq_id desc")} limit {paging.PageSize} offset {paging.Offset}
            """;
        var page = await ReportSql.PageAsync(db, $"select count(*) from {S}.mt_events where {filter}", sql, ps, r => new AuditRow(r.GetInt64(0),
            r.GetFieldValue<DateTimeOffset>(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6),
            r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8), "", [], JsonNode.Parse(r.GetString(9)),
            $"/api/history/{Uri.EscapeDataString(r.GetString(2))}"), paging, ct);
        var rows = new List<AuditRow>(page.Items.Count);
        foreach (var row in page.Items)
        {
            var changes = await ChangesAsync(db, row, ct);
            rows.Add(row with
            {
                Changes = changes, Changed = string.Join("; ", changes.Select(c => $"{c.Field}: {c.Before ?? "(none)"} → {c.After ?? "(none)"}")),
                Data = StreamHistory.Redacted(row.Data),
            });
        }
        return page with { Items = rows };
    }

    private static (DateTimeOffset? At, string? Problem) Instant(string name, string? text) =>
        text is null ? (null, null)
        : IsoInstant.TryParse(text, out var at) ? (at, null)
        : (null, IsoInstant.Refusal(name, text));

    /// <summary>The changes an event names itself, or those it makes to a state-carrying stream; none for other events.</summary>
    private static async Task<IReadOnlyList<FieldChange>> ChangesAsync(NpgsqlDataSource db, AuditRow row, CancellationToken ct)
    {
        if (row.Data is JsonObject data && data["changes"] is JsonArray listed)
            return listed.OfType<JsonObject>().Select(c => new FieldChange(c["field"]?.GetValue<string>() ?? "?", Redact(c["field"], c["before"]), Redact(c["field"], c["after"]))).ToList();
        if (row.Data is not JsonObject after || !StateStreams.Any(p => row.StreamId.StartsWith(p, StringComparison.Ordinal))) return [];
        var before = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand($"select data::text from {S}.mt_events where stream_id = @s and version < @v order by version"))
        {
            cmd.Parameters.AddWithValue("s", row.StreamId);
            cmd.Parameters.AddWithValue("v", row.Version);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            var key = EntityKeys.GetValueOrDefault(row.StreamId);
            while (await reader.ReadAsync(ct))
                if (JsonNode.Parse(reader.GetString(0)) is JsonObject earlier
                    && (key is null || JsonNode.DeepEquals(earlier[key], after[key])))
                    foreach (var (name, value) in earlier) before[name] = value?.DeepClone();
        }
        var changes = new List<FieldChange>();
        foreach (var (name, value) in after)
        {
            var old = before.GetValueOrDefault(name);
            if (!JsonNode.DeepEquals(old, value)) changes.Add(new FieldChange(name, Text(name, old), Text(name, value)));
        }
        return changes;
    }

    private static string? Redact(JsonNode? field, JsonNode? value) => Text(field?.GetValue<string>() ?? "", value);

    private static string? Text(string field, JsonNode? value) =>
        value is null ? null
        : field.EndsWith("Hash", StringComparison.OrdinalIgnoreCase) || field.EndsWith("Sha256", StringComparison.OrdinalIgnoreCase) ? "redacted"
        : value is JsonValue v && v.TryGetValue<string>(out var s) ? s : StreamHistory.Redacted(value.DeepClone())!.ToJsonString();

    public static void MapAudit(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/audit", async (string? actor, string? actorKind, string? from, string? to, string? stream, string? type, string? correlationId, HttpContext http,
                NpgsqlDataSource db, Marten.IDocumentStore store, CancellationToken ct) =>
                ReportQuery.Answer(await ListAsync(db, http.Request.Query, ReadSql.CsvRequested(http), actor, actorKind, from, to, stream, type, correlationId, ct,
                    http.User.HasRole(Domain.Users.Roles.Administrator), type is null ? null : KnownTypes(store)), http))
            .WithTags("Audit").ForAuditor().WithQuery(QueryParameters.Report(Sort.Keys, "-sequence")).WithName("Audit")
            .WithSummary("Every event of every stream (webhook subscriptions and deliveries for administrators only), newest first: time, stream (with a link to its history), type, actor and actor kind, correlation and causation ids, what changed (before → after) and the data with secret hashes redacted. Filters: actor, actorKind (user, agent, server-task, command-line, child-server, replication, anonymous), from/to (ISO 8601), stream (exact, or a prefix ending in '*'), type (event type, e.g. CoreSettingsChanged), correlationId. Paged; CSV with format=csv.")
            .Produces<ReportPage<AuditRow>>(200, "application/json", "text/csv").ProducesProblem(400);
}
