using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.Settings;

namespace Patch.Application.Settings;

public sealed record CoreSettingsView(IReadOnlyList<string> ManagedCultures, IReadOnlyList<string> ExcludedSoftwareReleases);

public sealed record CoreSettingsRequest(IReadOnlyList<string>? ManagedCultures, IReadOnlyList<string>? ExcludedSoftwareReleases);

/// <summary>Core settings: managed languages and excluded software releases; they apply to the next import.</summary>
public static class CoreSettingsEndpoints
{
    /// <summary>The core settings: the defaults (en-US, nothing excluded) until an administrator changes them.</summary>
    public static async Task<CoreSettings> CurrentAsync(IQuerySession session, CancellationToken ct, DateTimeOffset? asOf = null) =>
        await Historical.LoadAsync<CoreSettings>(session, StreamIds.CoreSettings, asOf, ct) ?? CoreSettings.Default;

    public static void MapCoreSettings(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/settings/core").WithTags("Settings");

        group.MapGet("", (HttpContext http, IQuerySession session, CancellationToken ct) =>
                ConditionalRequests.ReadAsync(http, session, StreamIds.CoreSettings, async () => await CurrentAsync(session, ct, AsOf.Of(http)),
                    s => Results.Ok(new CoreSettingsView(s.ManagedCultures, s.ExcludedSoftwareReleases)), () => Results.NotFound()))
            .ForAuditor().WithAsOf().EvaluatesPreconditions().WithName("GetCoreSettings").WithSummary("Managed cultures (languages; 'neutral' updates are always managed) and excluded software releases, now or as they stood at asOf.")
            .Produces<CoreSettingsView>();

        group.MapPut("", async (CoreSettingsRequest body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                await using var session = store.OpenSession(Actor.From(http));
                var stream = await session.Events.FetchForWriting<CoreSettings>(StreamIds.CoreSettings, ct);
                var version = stream.CurrentVersion ?? 0;
                var outcome = CoreSettings.Decide(stream.Aggregate, body.ManagedCultures, body.ExcludedSoftwareReleases);
                if (outcome.Rejection is { } rejection) return Problems.From(rejection);
                if (ConditionalRequests.IfMatchFails(http.Request, version) is { } failed) return failed;
                stream.AppendMany(outcome.Events);
                await session.SaveChangesAsync(ct);
                ConditionalRequests.Tag(http, version, outcome.Events.Count);
                var s = await session.LoadAsync<CoreSettings>(StreamIds.CoreSettings, ct) ?? CoreSettings.Default;
                return Results.Ok(new CoreSettingsView(s.ManagedCultures, s.ExcludedSoftwareReleases));
            })
            .ForAdministrator().EvaluatesIfMatch().WithName("ChangeCoreSettings").WithSummary("Replace the managed cultures and excluded software releases. Updates they exclude are imported marked excluded, not dropped.")
            .Produces<CoreSettingsView>().ProducesProblem(400);
    }
}
