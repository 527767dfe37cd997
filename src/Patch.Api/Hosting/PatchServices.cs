using Patch.Projections.Compliance;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.Events;
using JasperFx.Events.Daemon;
using Marten;
using Npgsql;
using Patch.Application.Bulletins;
using Patch.Application.Catalog;
using Patch.Application.Common;
using Patch.Application.Compliance;
using Patch.Application.Hosting;
using Patch.Application.ServerTasks;
using Patch.Application.Staging;
using Patch.Projections;
using Weasel.Core;
using Wolverine;
using Wolverine.Marten;

namespace Patch.Api.Hosting;

/// <summary>The composition root: Marten, Wolverine and the application services (ADR 0001–0005).</summary>
public static class PatchServices
{
    public static WebApplicationBuilder AddPatch(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => PatchDatabase.Open(sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("Patch.Database")));
        services.AddSingleton(sp => NpgsqlDataSource.Create(sp.GetRequiredService<PatchDatabase>().ConnectionString));
        // The store's and the read models' schema first (hosted services start in the order they were added): a service
        // that queries the store at start (the server tasks' recovery) would otherwise have Marten create a table on
        // demand, racing another node's migration ("relation … already exists", the node exits).
        services.AddHostedService<ComplianceSchema>();
        services.AddSingleton(sp =>
        {
            var options = new CatalogImportOptions();
            sp.GetRequiredService<IConfiguration>().GetSection("Patch:Import").Bind(options);
            return options;
        });
        services.AddSingleton(sp =>
        {
            var options = new CatalogScheduleOptions();
            var config = sp.GetRequiredService<IConfiguration>();
            foreach (var gone in new[] { "Interval", "RunOnStart" })
                if (config[$"Patch:CatalogImport:{gone}"] is not null)
                    throw new InvalidOperationException($"Patch:CatalogImport:{gone} is no longer read: the catalog-sources task runs on a cron schedule " +
                                                        "(Patch:ServerTasks:catalog-sources:Cron, or PUT /api/server-tasks/catalog-sources/schedule).");
            config.GetSection("Patch:CatalogImport").Bind(options);
            options.Validate();
            return options;
        });
        services.AddSingleton(sp =>
        {
            var config = sp.GetRequiredService<IConfiguration>();
            var options = new MicrosoftFeedOptions();
            config.GetSection("Patch:Microsoft").Bind(options);
            if (config["Patch:Cisa:KevUrl"] is { Length: > 0 } kev) options.KevUrl = kev;
            options.Validate();
            return options;
        });
        services.AddSingleton(sp =>
        {
            var options = new Patch.Application.Hierarchy.HierarchyOptions();
            sp.GetRequiredService<IConfiguration>().GetSection("Patch:Hierarchy").Bind(options);
            if (options.Problems() is { Count: > 0 } problems) throw new InvalidOperationException($"Invalid configuration: {string.Join("; ", problems)}");
            return options;
        });
        services.AddHttpClient(Patch.Application.Hierarchy.ParentClient.HttpClientName, c => c.Timeout = TimeSpan.FromMinutes(5));
        services.AddSingleton<Patch.Application.Hierarchy.ParentClient>();
        services.AddTransient<Patch.Application.Hierarchy.CatalogReplicator>();
        services.AddTransient<Patch.Application.Hierarchy.BundleImporter>();
        services.AddTransient<Patch.Application.Hierarchy.PolicyReplicator>();
        services.AddHttpClient("catalog-sources", c => c.Timeout = TimeSpan.FromMinutes(10));
        services.AddTransient<CatalogSourcePoller>();
        services.AddTransient<MicrosoftCvrfFeed>();
        services.AddTransient<UpdateFileResolver>();
        services.AddHttpClient("update-catalog", c =>
        {
            c.Timeout = TimeSpan.FromMinutes(2);
            c.DefaultRequestHeaders.UserAgent.ParseAdd($"Patch/{Program.Version.Split('+')[0]}");
        });
        services.AddServerTasks();
        services.AddSingleton<Patch.Application.Notifications.Notifier>();
        services.AddHttpClient("webhooks", c => c.Timeout = TimeSpan.FromSeconds(30))
            .ConfigurePrimaryHttpMessageHandler(sp => Patch.Application.Notifications.WebhookAddresses.Handler(
                Patch.Application.Notifications.WebhookAddresses.Allowed(sp.GetRequiredService<IConfiguration>())));
        services.AddTransient<CatalogImporter>();
        services.AddSingleton(sp =>
        {
            var config = sp.GetRequiredService<IConfiguration>();
            var options = new StagingOptions();
            config.GetSection("Patch:Staging").Bind(options);
            var data = config["Patch:DataDirectory"] is { Length: > 0 } d ? d : EmbeddedPostgres.DefaultDataDirectory();
            options.PackageDirectory ??= Path.Combine(data, "packages");
            // The demo stages from a mirror of placeholder packages it writes itself (nothing is downloaded from the internet).
            if (config.GetValue<bool>("Patch:Demo")) options.StagingLocation ??= Path.Combine(data, "demo-mirror");
            return options;
        });
        services.AddSingleton(sp => new PackageStore(sp.GetRequiredService<StagingOptions>().PackageDirectory!));
        services.AddSingleton<StagingProgress>();
        services.AddSingleton<PackageDownloader>();
        services.AddSingleton<BulletinStager>();
        services.AddTransient<Patch.Application.Policies.PolicyMaintenanceTasks>();
        services.AddTransient<PackageCleanup>();
        services.AddTransient<Patch.Application.ServerTasks.NameBucketCheckpoints>();
        services.AddSingleton<CatalogCache>();
        services.AddTransient<VulnerabilityAnalysis>();
        services.AddTransient<FleetAnalysisTask>();
        services.AddSingleton<Patch.Application.ServerTasks.RebuildProgressBoard>();
        services.AddTransient<Patch.Application.ServerTasks.ReadModelRebuilder>();
        services.AddHostedService<ReadModelBackfill>();
        services.AddSingleton(sp =>
        {
            var ingest = ActivatorUtilities.CreateInstance<Patch.Application.Agents.AgentEventIngest>(sp);
            PatchTelemetry.ObserveQueue("patch.agent.ingest.queue", "Agents' event batches waiting to be stored.", () => ingest.Waiting);
            return ingest;
        });
        services.AddHostedService(sp => sp.GetRequiredService<Patch.Application.Agents.AgentEventIngest>());
        services.AddSingleton(sp =>
        {
            var ingest = ActivatorUtilities.CreateInstance<Patch.Application.Agents.InventoryIngest>(sp);
            PatchTelemetry.ObserveQueue("patch.inventory.ingest.queue", "Agents' inventory reports waiting to be stored and analysed.", () => ingest.Waiting);
            return ingest;
        });
        services.AddHostedService(sp => sp.GetRequiredService<Patch.Application.Agents.InventoryIngest>());
        services.AddSingleton<Patch.Application.Delivery.WakeOnLanTask>();
        services.AddSingleton<Patch.Application.Delivery.ScheduledWakeOnLan>();
        services.AddHostedService(sp => sp.GetRequiredService<Patch.Application.Delivery.ScheduledWakeOnLan>());
        services.AddHttpClient("staging", c => c.Timeout = TimeSpan.FromHours(2));
        services.AddTransient<ListBulletins>();
        services.AddTransient<GetBulletin>();

        // One API node per database (default), or several sharing it (ADR 0030): then durable messages belong to the node
        // that queued them and move to another only once that node has stopped reporting, and one node runs the daemon.
        var cluster = builder.Configuration.GetValue("Patch:Cluster:Enabled", false);
        if (cluster && string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("Patch")))
            throw new InvalidOperationException("Patch:Cluster:Enabled needs ConnectionStrings:Patch: API nodes share one PostgreSQL, never each its embedded one.");
        services.AddMarten(sp =>
            {
                var options = ConfigureStore(sp.GetRequiredService<PatchDatabase>().ConnectionString);
                options.Listeners.Add(new ChangesSaved());
                return options;
            })
            .UseLightweightSessions()
            // The store's schema is applied at start by ReadModelSchema (ComplianceSchema), without the requests' command timeout.
            .AddAsyncDaemon(cluster ? DaemonMode.HotCold : DaemonMode.Solo)
            .IntegrateWithWolverine();

        builder.Host.UseWolverine(opts =>
        {
            // Under a test host Wolverine would adopt the test assembly and find no handlers (DESIGN.md trap 3).
            opts.ApplicationAssembly = typeof(Program).Assembly;
            opts.Discovery.IncludeAssembly(typeof(ImportCatalog).Assembly);
            opts.CodeGeneration.TypeLoadMode = TypeLoadMode.Dynamic;
            opts.UseRuntimeCompilation();
            // Staging jobs and other server tasks survive a restart: queued messages are kept in PostgreSQL.
            opts.Policies.UseDurableLocalQueues();
            // One node (like the projection daemon's Solo mode): at start this node takes over every message a killed
            // process left in the inbox, at once, instead of waiting for that process to be declared dead.
            opts.Durability.Mode = cluster ? DurabilityMode.Balanced : DurabilityMode.Solo;
            if (cluster)
            {
                // A node that stops (killed, rebooted) hands its queued work over within about half a minute.
                opts.Durability.HealthCheckPollingTime = TimeSpan.FromSeconds(5);
                opts.Durability.StaleNodeTimeout = TimeSpan.FromSeconds(20);
                opts.Durability.NodeReassignmentPollingTime = TimeSpan.FromSeconds(5);
            }
            // Server tasks (a staging job downloading gigabytes) run far longer than a message's default 60 s.
            opts.DefaultExecutionTimeout = TimeSpan.FromHours(12);
        });
        return builder;
    }

    public static StoreOptions ConfigureStore(string connectionString)
    {
        var opts = new StoreOptions();
        opts.Connection(connectionString);
        opts.DatabaseSchemaName = PatchStore.Schema;
        opts.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
        opts.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase);
        opts.Events.StreamIdentity = StreamIdentity.AsString;
        opts.Events.MetadataConfig.HeadersEnabled = true;
        opts.Events.MetadataConfig.CausationIdEnabled = true;
        opts.Events.MetadataConfig.CorrelationIdEnabled = true;
        opts.Events.MetadataConfig.UserNameEnabled = true;
        // Event ids are unique in the store: an agent's event appended is its own receipt (ADR 0034, amended).
        opts.Events.EnableUniqueIndexOnEventId = true;
        PatchProjections.Configure(opts);
        return opts;
    }
}
