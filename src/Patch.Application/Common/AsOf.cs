using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Patch.Projections.History;

namespace Patch.Application.Common;

/// <summary>
/// <c>asOf</c>: a report as it stood at a past instant — from every event recorded at or before it (ADR 0019). An
/// operation that answers it declares it with <see cref="WithAsOf{TBuilder}"/>; the value is checked before the handler
/// runs (an ISO 8601 date or instant, not in the future, not before the store's first event or before its read models'
/// history began) and read with <see cref="Of"/>. An operation that does not declare it refuses it like any parameter
/// it does not take.
/// </summary>
public static partial class AsOf
{
    private const string Key = "patch.asOf";

    public static QueryParameter Parameter => QueryParameters.DateTime("asOf",
        "The report as it stood at this instant (ISO 8601, e.g. 2026-10-01T12:00:00Z; a date alone is its midnight UTC): from every event recorded at or before it.");

    /// <summary>The instant asked for, or null for now.</summary>
    public static DateTimeOffset? Of(HttpContext http) => http.Items.TryGetValue(Key, out var at) ? (DateTimeOffset?)at : null;

    public static TBuilder WithAsOf<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithQuery(Parameter).AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (!http.Request.Query.TryGetValue("asOf", out var values)) return await next(context);
            var (at, problem) = await CheckAsync(values, http.RequestServices.GetRequiredService<NpgsqlDataSource>(), http.RequestAborted);
            if (problem is not null) return Results.Problem(title: "Invalid asOf", detail: problem, statusCode: StatusCodes.Status400BadRequest);
            http.Items[Key] = at;
            return await next(context);
        });

    /// <summary>Parses and bounds one <c>asOf</c> value against the database's clock and the store's first event.</summary>
    public static async Task<(DateTimeOffset? At, string? Problem)> CheckAsync(Microsoft.Extensions.Primitives.StringValues values, NpgsqlDataSource db, CancellationToken ct)
    {
        if (values.Count != 1) return (null, "asOf: give one instant, not several");
        var text = values[0] ?? "";
        if (!IsoInstant.TryParse(text, out var at))
            return (null, $"asOf: '{Domain.Users.UserDecisions.Printable(text)}' is not an ISO 8601 date or instant with its offset (e.g. 2026-10-01 or 2026-10-01T12:00:00Z)");
        await using var conn = await db.OpenConnectionAsync(ct);
        // One query: the database's clock, the store's first event, and when the read models' history began.
        DateTimeOffset now;
        DateTimeOffset? first, since;
        await using (var cmd = new NpgsqlCommand($"""
            select now(), (select timestamp from {PatchStore.Schema}.mt_events order by seq_id limit 1),
                   (select max(kept_since) from {PatchStore.Schema}.{ReadModelHistory.KeptSinceTable})
            """, conn))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            now = reader.GetFieldValue<DateTimeOffset>(0);
            first = reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1);
            since = reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2);
        }
        var shown = at.ToString("O", CultureInfo.InvariantCulture);
        if (at > now) return (null, $"asOf: {shown} is in the future (the server's time is {now.ToUniversalTime():O})");
        if (first is null) return (null, $"asOf: the store has no events yet, so there is no past to ask about");
        if (at < first) return (null, $"asOf: {shown} is before the store began (its first event was recorded at {first.Value.ToUniversalTime():O})");
        if (since is { } kept && at < kept)
            return (null, $"asOf: {shown} is before this server kept the history of its reports (from {kept:O}, when it was upgraded or its store imported)");
        return (at, null);
    }
}
