using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Application.Delivery;
using Patch.Application.Policies;
using Patch.Application.Staging;
using Patch.Domain.ServerTasks;

namespace Patch.Application.ServerTasks;

/// <summary>The catalog-sources task: the configured vendor catalogs (Patch:CatalogImport:Sources), each fetched only if modified.</summary>
public static class CatalogSourcesTask
{
    public const string TaskName = "catalog-sources";
}

/// <summary>Every task the runner knows, with its default schedule (ADR 0023).</summary>
public static class BuiltInTasks
{
    public static IServiceCollection AddServerTasks(this IServiceCollection services)
    {
        // Read when asked, from the server's final configuration (command line, environment, settings files).
        static bool Demo(IConfiguration c) => c.GetValue<bool>("Patch:Demo");

        services.AddSingleton(new ServerTaskDefinition(CatalogSourcesTask.TaskName,
            "Fetches each configured vendor catalog (Patch:CatalogImport:Sources) with its ETag / Last-Modified and imports it when its content changed; each source is its own catalog-import run.",
            "0 2 * * *", false, async (run, ct) =>
            {
                var sources = run.Services.GetRequiredService<CatalogScheduleOptions>().Sources;
                var results = await run.Services.GetRequiredService<CatalogSourcePoller>().RunAsync(sources, ct, run.RunId);
                return ImportCounts(results.Select(r => r.Status).ToList());
            }) { EnabledFrom = c => c.GetSection("Patch:CatalogImport:Sources").GetChildren().Any() });

        services.AddSingleton(new ServerTaskDefinition(MicrosoftCvrfFeed.TaskName,
            "The Security Update Guide: reads the MSRC CVRF API's updates index and imports, oldest first, every document new or revised since its last import (Patch:Microsoft:*).",
            "30 18 * * *", false,
            async (run, ct) =>
            {
                var outcome = await run.Services.GetRequiredService<MicrosoftCvrfFeed>().RunAsync(run.RunId, ct);
                // New or revised Microsoft updates come without files: find them in the Update Catalog next.
                if (outcome.Counts.GetValueOrDefault("imported") > 0)
                    await run.Services.GetRequiredService<ServerTaskRunner>().StartAfterChangeAsync(UpdateFileResolver.TaskName, $"after {run.RunId}", Actor.ServerTask(UpdateFileResolver.TaskName),
                        new Dictionary<string, string>(), ct);
                return outcome;
            }) { RunWhenNeverRun = true, EnabledFrom = c => c.GetValue("Patch:Microsoft:CvrfImport:Enabled", !Demo(c)) });

        services.AddSingleton(new ServerTaskDefinition(UpdateFileResolver.TaskName,
            "Finds the files of Microsoft updates that came without one (CVRF) in the Microsoft Update Catalog: the one row for the update's product and architecture, its files in install order with their digests; runs after each Microsoft feed import that brought something.",
            "0 21 * * *", false,
            (run, ct) => run.Services.GetRequiredService<UpdateFileResolver>().RunAsync(run.Actor, run.RunId, ct))
        { EnabledFrom = c => c.GetValue("Patch:Microsoft:CvrfImport:Enabled", !Demo(c)) });

        services.AddSingleton(new ServerTaskDefinition(KevFeed.TaskName,
            "The CISA Known Exploited Vulnerabilities catalog (Patch:Cisa:KevUrl), imported when it changed.",
            "0 19 * * *", false, async (run, ct) =>
            {
                var url = run.Services.GetRequiredService<MicrosoftFeedOptions>().KevUrl;
                var result = await run.Services.GetRequiredService<CatalogSourcePoller>().RunOneAsync(new CatalogSource { Url = url, Format = "kev" }, KevFeed.TaskName, ct, run.RunId);
                return ImportCounts([result.Status]);
            }) { RunWhenNeverRun = true, EnabledFrom = c => c.GetValue("Patch:Cisa:KevImport:Enabled", !Demo(c)) });

        services.AddSingleton(new ServerTaskDefinition(FleetAnalysisTask.TaskName,
            "Recomputes every computer's applicable, installed, missing and superseded updates (it also runs after every catalog import that changed the catalog).",
            null, false, (run, ct) => Resolve<FleetAnalysisTask>(run).WorkAsync(run.Parameters, ct)));

        services.AddSingleton(new ServerTaskDefinition(NameBucketCheckpoints.TaskName,
            "Keeps checkpoints of the report pages' positions, so that a deep page of a report asked about a past instant (asOf) counts only the changes since the nearest checkpoint instead of every row before it (ADR 0040; kept Patch:Reports:CheckpointDays).",
            "*/5 * * * *", true, (run, ct) => Resolve<NameBucketCheckpoints>(run).WorkAsync(ct)));

        services.AddSingleton(new ServerTaskDefinition(PackageCleanup.TaskName,
            "Removes staged packages that no enabled policy needs, older than the vendor's package deletion interval.",
            "0 1 * * *", true, (run, ct) => Resolve<PackageCleanup>(run).WorkAsync(run.RunId, run.Actor, ct)));

        services.AddSingleton(new ServerTaskDefinition(ReadModelRebuilder.TaskName,
            "Rebuilds read models (and their history) from the event log: model=all, compliance, delivery (delivery summary and reboot status) or documents.",
            null, false, (run, ct) => Resolve<ReadModelRebuilder>(run).WorkAsync(run.RunId, run.Parameters.GetValueOrDefault("model") ?? "all", ct))
        {
            Role = Domain.Users.Roles.Administrator,
            Parameters = new Dictionary<string, string> { ["model"] = "all (default), compliance, delivery or documents" },
            Validate = p => p.GetValueOrDefault("model") is { } m && !ReadModelRebuilder.Models.Contains(m) ? $"model: '{m}' is not one of {string.Join(", ", ReadModelRebuilder.Models)}" : null,
        });

        services.AddSingleton(new ServerTaskDefinition(WakeOnLanTask.TaskName,
            "Sends the Wake-on-LAN magic packet to the computers of a policy (before each run of policies that ask for it, or on demand).",
            null, false, (run, ct) => Resolve<WakeOnLanTask>(run).WorkAsync(run.Parameters, ct))
        {
            Parameters = new Dictionary<string, string> { ["policy"] = "the policy whose member computers are woken (required)" },
            Validate = p => p.ContainsKey("policy") ? null : "policy: required (the policy whose computers are woken).",
            Missing = async (p, session, ct) => await session.LoadAsync<Domain.Policies.SoftwareUpdatePolicy>(p["policy"], ct) is { Status: Domain.Policies.PolicyStatus.Active }
                ? null : $"No active policy '{Domain.Users.UserDecisions.Printable(p["policy"])}'.",
        });

        services.AddSingleton(new ServerTaskDefinition(PolicyMaintenanceTasks.Revise,
            "Revise Software Updates: applies new catalog data to policies — revised packages and command lines, and newly added updates of their bulletins where the policy enables them. Runs after each catalog import and staging run (Patch:Policies:ReviseAfterImport).",
            null, false, (run, ct) => Resolve<PolicyMaintenanceTasks>(run).ReviseAsync(Info(run), alignProgram: false, ct)));

        services.AddSingleton(new ServerTaskDefinition(PolicyMaintenanceTasks.DisableSuperseded,
            "Disable Superseded Software Update Advertisements: where an enabled policy distributes the superseding update to the same targets, the superseded update's advertisement is disabled. After each catalog import when Patch:Policies:DisableSupersededAfterImport is on.",
            "0 3 * * *", false, (run, ct) => Resolve<PolicyMaintenanceTasks>(run).DisableSupersededAsync(Info(run), ct)));

        services.AddSingleton(new ServerTaskDefinition(PolicyMaintenanceTasks.Integrity,
            "Check Software Update Package Integrity: re-hashes every staged package, stages missing or corrupt ones again, and brings policies' programs in line with the vendor settings.",
            "0 4 * * 0", true, (run, ct) => Resolve<PolicyMaintenanceTasks>(run).CheckIntegrityAsync(Info(run), ct)));

        services.AddSingleton(new ServerTaskDefinition(Hierarchy.CatalogReplicator.TaskName,
            "Catalog replication from this server's parent (Data Import Replication): Differential follows the parent's catalog events from the checkpoint, Complete takes the parent's catalog as it is and re-bases; then a share of the bulletins is verified against the parent (verify, default Patch:Hierarchy:VerifyPercent).",
            "0 * * * *", false, (run, ct) => Resolve<Hierarchy.CatalogReplicator>(run).RunAsync(run, ct))
        {
            Parameters = new Dictionary<string, string>
            {
                ["mode"] = "differential (default: what changed since the checkpoint) or complete (everything, re-based)",
                ["verify"] = "percentage of replicated bulletins compared with the parent after the run (0 to 100)",
            },
            Validate = Hierarchy.CatalogReplicator.Validate,
        });

        services.AddSingleton(new ServerTaskDefinition(Hierarchy.PolicyReplicator.TaskName,
            "Software Update policy replication from this server's parent: the policies the parent chose for this server, read-only here, their packages fetched from the parent and verified, their targets resolved against this server's computers; mode=differential (changed policies) or complete.",
            "30 * * * *", false, (run, ct) => Resolve<Hierarchy.PolicyReplicator>(run).RunAsync(run, ct))
        {
            Parameters = new Dictionary<string, string> { ["mode"] = "differential (default: policies changed on the parent) or complete (all of them again)" },
            Validate = p => p.GetValueOrDefault("mode") is { } m && !Hierarchy.CatalogReplicator.Modes.Contains(m) ? $"mode: '{m}' is not differential or complete" : null,
        });

        services.AddSingleton(new ServerTaskDefinition(Hierarchy.HierarchyRollup.TaskName,
            "Sends this server's compliance and delivery figures (its own, and with its children's) to its parent, for the parent's roll-up; catalog replication does it after each run too.",
            "*/15 * * * *", false, async (run, ct) =>
            {
                var store = run.Services.GetRequiredService<Marten.IDocumentStore>();
                var link = await Hierarchy.ParentLinks.RequireAsync(store, ct);
                await Hierarchy.HierarchyRollup.SendAsync(store, run.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), run.Services.GetRequiredService<Hierarchy.ParentClient>(),
                    run.Services.GetRequiredService<TimeProvider>(), link, ct);
                return new TaskOutcome(new Dictionary<string, int> { ["reported"] = 1 });
            }));

        services.AddSingleton<ServerTaskRunner>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerTaskRunner>());
        services.AddHostedService<ServerTaskScheduler>();
        return services;
    }

    private static T Resolve<T>(TaskContext run) where T : notnull => run.Services.GetRequiredService<T>();

    private static TaskContextInfo Info(TaskContext run) => new(run.RunId, run.Trigger, run.Actor);

    /// <summary>A feed's counts from its documents' import results.</summary>
    private static TaskOutcome ImportCounts(IReadOnlyList<string> statuses)
    {
        var counts = new Dictionary<string, int>
        {
            ["documents"] = statuses.Count,
            ["imported"] = statuses.Count(s => s == ServerTaskStatus.Completed),
            ["unchanged"] = statuses.Count(s => s == ServerTaskStatus.Unchanged),
            ["failed"] = statuses.Count(s => s == ServerTaskStatus.Failed),
        };
        return new TaskOutcome(counts, counts["imported"] == 0 && counts["failed"] == 0 ? ServerTaskStatus.Unchanged : ServerTaskStatus.Completed);
    }
}

/// <summary>The cisa-kev-import task's name.</summary>
public static class KevFeed
{
    public const string TaskName = "cisa-kev-import";
}
