using Patch.Projections.Compliance;
using Patch.Projections;
using System.Security.Cryptography;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Patch.Application.AgentConfigurations;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Application.Targets;
using Patch.Domain.AgentConfigurations;
using Patch.Domain.Applicability;
using Patch.Domain.Catalog;
using Patch.Domain.Computers;
using Patch.Domain.Cycle;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Policies;
using Patch.Domain.Settings;
using Patch.Domain.Targets;

namespace Patch.Application.Agents;

/// <summary>Which targets one computer is in (the per-computer form of target membership: one computer's facts, its missing updates).</summary>
public sealed class ComputerMembership(Computer computer, IReadOnlyDictionary<string, Target> custom, string agentVersion)
{
    public Computer Computer { get; } = computer;

    public bool IsIn(string targetId, IReadOnlyCollection<string> policyUpdateIds) =>
        Domain.Targets.Targets.Contains(targetId, custom.GetValueOrDefault(targetId), Computer, policyUpdateIds, agentVersion);

    public static async Task<ComputerMembership> ForAsync(IQuerySession session, NpgsqlDataSource db, IConfiguration config, Computer computer, CancellationToken ct)
    {
        var custom = await TargetEndpoints.CustomTargetsAsync(session, ct);
        var missing = new List<string>();
        await using (var cmd = db.CreateCommand($"select update_id from {ComplianceTables.Schema}.{ReadModels.ComplianceState} where computer_id = $1 and state = {VulnerabilityAnalysis.Missing}"))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = computer.Id });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) missing.Add(reader.GetString(0));
        }
        return new ComputerMembership(computer with { RequiredUpdateIds = missing }, custom, FleetQueries.CurrentAgentVersion(config));
    }
}

/// <summary>
/// What one agent is assigned (GET /agent/v1/assignments): the enabled policies whose targets contain its computer (less the
/// vendor's resource exclusions) with their enabled updates, the effective agent configuration, and the maintenance windows
/// that apply (those targeting the computer, and the default window of each distributing vendor).
/// </summary>
public static class AssignmentBuilder
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<Assignments> ForAsync(IQuerySession session, NpgsqlDataSource db, IConfiguration config, CatalogCache catalogCache, Computer computer, CancellationToken ct)
    {
        var membership = await ComputerMembership.ForAsync(session, db, config, computer, ct);
        var configuration = AgentConfiguration.EffectiveFor(await AgentConfigurationEndpoints.AllAsync(session, ct), t => membership.IsIn(t, []));

        var policies = (await session.Query<SoftwareUpdatePolicy>().ToListAsync(ct)).Where(p => p.Distributes).OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ThenBy(p => p.Id).ToList();
        var vendorSettings = new Dictionary<string, VendorSettingsValues>();
        var assigned = new List<AssignedPolicy>();
        var assignedVendors = new HashSet<string>();
        var bulletinIds = policies.SelectMany(p => p.Bulletins).Distinct().ToList();
        var bulletins = bulletinIds.Count == 0 ? new Dictionary<string, Bulletin>() : (await session.LoadManyAsync<Bulletin>(ct, bulletinIds)).ToDictionary(b => b.Id);
        foreach (var policy in policies)
        {
            var vendorSlug = policy.Bulletins.FirstOrDefault()?.Split(':')[0] ?? "";
            if (!vendorSettings.TryGetValue(vendorSlug, out var vendor))
                vendorSettings[vendorSlug] = vendor = (await session.LoadAsync<VendorSettings>(VendorSettings.StreamId(vendorSlug), ct))?.Values ?? VendorSettingsValues.Defaults;
            if (vendor.ResourceExclusions.Contains(computer.Name, StringComparer.OrdinalIgnoreCase)) continue;
            var enabled = policy.Updates.Where(u => u.Enabled).ToList();
            if (enabled.Count == 0 || !policy.Targets.Any(t => membership.IsIn(t, enabled.Select(u => u.UpdateId).ToList()))) continue;
            var updates = enabled.Select(u => Assign(u, bulletins.GetValueOrDefault(u.BulletinId))).ToList();
            assignedVendors.Add(vendorSlug);
            var program = policy.Program;
            assigned.Add(new AssignedPolicy(policy.Id, policy.Name, policy.Options.Schedule, policy.Options.OwnSchedule, policy.Options.OverrideMaintenanceWindows,
                new AssignedProgram(program.RunWith, program.UserName, program.UserDomain, program.CanRun, program.TerminateAfterMinutes), updates, vendor.Package.ClientLocation));
        }

        var windows = (await session.Query<MaintenanceWindow>().ToListAsync(ct)).Where(w => !w.Deleted).ToList();
        // A vendor's default window applies to the computers its policies reach.
        var defaultWindows = assignedVendors.Select(v => vendorSettings[v].DefaultMaintenanceWindowId).OfType<string>().ToHashSet();
        var applying = windows.Where(w => defaultWindows.Contains(w.Id) || w.Targets.Any(t => membership.IsIn(t, [])))
            .OrderBy(w => w.Id, StringComparer.Ordinal).Select(w => new AssignedWindow(w.Id, w.Name, w.Schedule)).ToList();

        var catalog = (await catalogCache.GetAsync(ct)).Updates;
        var superseders = Superseders(catalog, assigned.SelectMany(p => p.Updates).ToList());
        return new Assignments(computer.Id, configuration.Id, configuration.Name, configuration.Settings, applying, assigned, superseders);
    }

    /// <summary>A strong validator of the answer: the same assignments give the same tag, so a poll that changed nothing is a 304.</summary>
    public static string ETag(Assignments assignments) =>
        $"\"{Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(assignments, Json)))[..32]}\"";

    public static bool Matches(HttpRequest request, string etag) =>
        request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() == etag || t.Trim() == "*"));

    private static AssignedUpdate Assign(PolicyUpdate u, Bulletin? bulletin)
    {
        // The catalog's current rules decide applicability; the package and command line are the policy's. A newer
        // revision of the same package (the vendor re-released it) carries its reinstall mark to the agents; a revision
        // with another package reaches them through a policy that distributes that package.
        var facts = bulletin?.Updates.FirstOrDefault(x => x.UpdateId == u.UpdateId);
        var samePackage = facts?.Sha256 is { } sha && string.Equals(sha, u.PackageSha256, StringComparison.OrdinalIgnoreCase) && facts.Revision > u.Revision;
        return new AssignedUpdate(u.BulletinId, bulletin?.Facts.Number ?? u.BulletinId.Split(':').Last(), u.UpdateId, u.Product, u.Culture, facts?.Kb, u.Restart,
            u.PackageSha256, u.PackageSize, u.FileName, $"/agent/v1/packages/{u.PackageSha256}", u.CommandLine, facts?.FixedBuild, facts?.ApplicabilityRule,
            facts?.InstalledRule, facts?.Supersedes ?? [], samePackage ? facts!.Revision : u.Revision, samePackage ? facts!.ReinstallOnRevision : u.ReinstallOnRevision,
            facts?.SubType, bulletin?.Facts.Released,
            u.Prerequisites?.Select(f => new AssignedFile(f.Sha256, f.Size, f.FileName, $"/agent/v1/packages/{f.Sha256}")).ToList());
    }

    /// <summary>Every catalog update that supersedes an assigned one, down the whole chain, or contains it as a later cumulative update of the same product.</summary>
    private static IReadOnlyList<SupersedingUpdate> Superseders(PreparedCatalog catalog, IReadOnlyList<AssignedUpdate> updates)
    {
        var found = new Dictionary<string, CatalogUpdate>();
        foreach (var u in updates)
        {
            var product = u.Product.ToUpperInvariant();
            var queue = new Queue<string>([u.Bulletin.ToUpperInvariant()]);
            var seen = new HashSet<string>(queue);
            while (queue.TryDequeue(out var number))
                foreach (var s in catalog.SupersedersOf[(product, number)])
                {
                    found.TryAdd(s.Update.UpdateId, s);
                    if (seen.Add(s.BulletinNumber.ToUpperInvariant())) queue.Enqueue(s.BulletinNumber.ToUpperInvariant());
                }
            foreach (var s in catalog.ContainersOf(u.ToCatalogUpdate())) found.TryAdd(s.Update.UpdateId, s);
        }
        var assignedIds = updates.Select(u => u.UpdateId).ToHashSet();
        return found.Values.Where(c => !assignedIds.Contains(c.Update.UpdateId)).OrderBy(c => c.Update.UpdateId, StringComparer.Ordinal)
            .Select(c => new SupersedingUpdate(c.BulletinId, c.BulletinNumber, c.Update.UpdateId, c.Update.Product, c.Update.Culture, c.Update.Kb, c.Update.FixedBuild,
                c.Update.ApplicabilityRule, c.Update.InstalledRule, c.Update.Supersedes, c.Update.SubType, c.Released)).ToList();
    }
}
