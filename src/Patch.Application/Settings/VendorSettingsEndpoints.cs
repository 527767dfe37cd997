using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Patch.Application.Common;
using Patch.Application.Security;
using Patch.Domain;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Settings;
using Patch.Domain.Targets;

namespace Patch.Application.Settings;

/// <summary>Vendor settings (C9, the seed's Microsoft settings): defaults for new packages and policies.</summary>
public static class VendorSettingsEndpoints
{
    /// <summary>A vendor's settings: the seed's defaults until an administrator changes them.</summary>
    public static async Task<VendorSettingsValues> ValuesAsync(IQuerySession session, string vendor, CancellationToken ct, DateTimeOffset? asOf = null) =>
        (await Historical.LoadAsync<VendorSettings>(session, VendorSettings.StreamId(vendor), asOf, ct))?.Values ?? VendorSettingsValues.Defaults;

    public static void MapVendorSettings(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/settings/vendors/{vendor}").WithTags("Settings");

        group.MapGet("", async (string vendor, HttpContext http, IQuerySession session, CancellationToken ct) =>
                InvalidVendor(vendor) ?? await UnknownVendorAsync(session, vendor, ct) ?? await ConditionalRequests.ReadAsync(http, session, VendorSettings.StreamId(vendor),
                    async () => await ValuesAsync(session, vendor, ct, AsOf.Of(http)), v => Results.Ok(v), () => Results.NotFound()))
            .ForAuditor().WithAsOf().EvaluatesPreconditions().WithName("GetVendorSettings")
            .WithSummary("A vendor's settings (e.g. 'microsoft'), now or as they stood at asOf; the seed's defaults until changed: verify authenticity on, target 'builtin:requiring-updates', delete unused packages after 7 days, run as System whether or not a user is logged on, terminate after 60 minutes, agent events on.")
            .Produces<VendorSettingsValues>().ProducesProblem(400).ProducesProblem(404);

        group.MapPut("", async (string vendor, VendorSettingsValues? body, HttpContext http, IDocumentStore store, CancellationToken ct) =>
            {
                if (InvalidVendor(vendor) is { } invalid) return invalid;
                await using var session = store.OpenSession(Actor.From(http));
                if (await UnknownVendorAsync(session, vendor, ct) is { } unknown) return unknown;
                if (body?.DefaultMaintenanceWindowId is { } windowId && await session.LoadAsync<MaintenanceWindow>(windowId, ct) is not { Deleted: false })
                    return Problems.Invalid("Invalid vendor settings", $"defaultMaintenanceWindowId: no maintenance window '{windowId}'");
                if (body?.DefaultTargetId is { } targetId && !Patch.Domain.Targets.Targets.IsBuiltIn(targetId) && await session.LoadAsync<Target>(targetId, ct) is not { Deleted: false })
                    return Problems.Invalid("Invalid vendor settings", $"defaultTargetId: no target '{targetId}'");
                if (await Targets.TargetEndpoints.UnknownUpdateTargetAsync(session, [body?.DefaultTargetId], ct) is { } unknownUpdate) return unknownUpdate;
                var stream = await session.Events.FetchForWriting<VendorSettings>(VendorSettings.StreamId(vendor), ct);
                var version = stream.CurrentVersion ?? 0;
                var outcome = VendorSettings.Decide(stream.Aggregate, vendor, body);
                if (outcome.Rejection is { } rejection) return Problems.From(rejection);
                if (ConditionalRequests.IfMatchFails(http.Request, version) is { } failed) return failed;
                stream.AppendMany(outcome.Events);
                await session.SaveChangesAsync(ct);
                ConditionalRequests.Tag(http, version, outcome.Events.Count);
                return Results.Ok(body);
            })
            .ForAdministrator().EvaluatesIfMatch().WithName("ChangeVendorSettings")
            .WithSummary("Replace a vendor's settings. New packages and policies take them; existing policies keep the values they were created with. A vendor other than Microsoft is known once a catalog imported one of its bulletins (404 before).")
            .Produces<VendorSettingsValues>().ProducesProblem(400).ProducesProblem(404);
    }

    /// <summary>
    /// A 404 for a vendor no catalog brought a bulletin of (by its slug, as bulletins' ids begin: "microsoft:KB…") and that has
    /// no settings yet; null for a known vendor — and for Microsoft, always. Settings made for a name no catalog knows would
    /// apply to nothing.
    /// </summary>
    private static async Task<IResult?> UnknownVendorAsync(IQuerySession session, string vendor, CancellationToken ct) =>
        await KnownAsync(session, vendor, ct) ? null : Problems.NotFound($"No vendor '{Domain.Users.UserDecisions.Printable(vendor)}': no imported catalog has a bulletin of it.");

    /// <summary>Whether <paramref name="vendor"/> has settings to show: Microsoft always, another once a catalog brought one of its bulletins (or it has settings).</summary>
    public static async Task<bool> KnownAsync(IQuerySession session, string vendor, CancellationToken ct)
    {
        var slug = StreamIds.Slug(vendor);
        // Microsoft's settings are the seed's own screen: set before any catalog is imported, as a fresh server is set up.
        if (slug == "microsoft") return true;
        var known = await session.AdvancedSql.QueryAsync<bool>(
            $"select exists (select 1 from {Projections.ReadModels.Schema}.{Projections.Catalog.BulletinList.Table} where starts_with(id, ?)) " +
            $"or exists (select 1 from {PatchStore.Schema}.mt_streams where id = ?)", ct, slug + ":", VendorSettings.StreamId(vendor));
        return known.Single();
    }

    /// <summary>A vendor's name as catalogs give it ("Microsoft", "Adobe Systems"): 1 to 64 characters, no path separators, something left when slugged.</summary>
    private static IResult? InvalidVendor(string vendor) =>
        string.IsNullOrWhiteSpace(vendor) || vendor.Length > 64 || vendor.IndexOfAny(['/', '\\', '%']) >= 0 || StreamIds.Slug(vendor).Length == 0
            ? Problems.Invalid("Invalid vendor", $"'{Domain.Users.UserDecisions.Printable(vendor)}' is not a vendor name: 1 to 64 characters with a letter or digit, no '/', '\\' or '%'.")
            : null;
}
