using JasperFx.Events.Projections;
using Marten;
using Patch.Domain.Agents;
using Patch.Domain.Catalog;
using Patch.Domain.Computers;
using Patch.Domain.MaintenanceWindows;
using Patch.Domain.Policies;
using Patch.Domain.Targets;
using Patch.Domain.ServerTasks;
using Patch.Domain.Settings;
using Patch.Domain.Vulnerabilities;
using Patch.Projections.Catalog;

namespace Patch.Projections;

/// <summary>Registers every read model. Table names are stable aliases because report SQL names them.</summary>
public static class PatchProjections
{
    public const string BulletinRowTable = "mt_doc_bulletin_row";
    public const string BulletinTable = "mt_doc_bulletin";
    public const string KnownExploitedTable = "mt_doc_known_exploited";
    public const string ProductVulnerabilityTable = "mt_doc_product_vulnerability";
    public const string ServerTaskRunTable = "mt_doc_server_task_run";
    public const string PolicyTable = "mt_doc_software_update_policy";
    public const string ComputerRowTable = "mt_doc_computer_row";
    public const string ComputerTable = "mt_doc_computer";
    public const string TargetTable = "mt_doc_target";
    public const string CustomSeverityLevelsTable = "mt_doc_custom_severity_levels";
    public const string MaintenanceWindowTable = "mt_doc_maintenance_window";
    public const string AgentConfigurationTable = "mt_doc_agent_configuration";

    /// <summary>Every inline projection (by the document it writes, or its own type): what a rebuild of the documents replays.</summary>
    public static readonly Type[] Documents =
    [
        typeof(Bulletin), typeof(BulletinRow), typeof(KnownExploitedVulnerability), typeof(ProductVulnerability), typeof(CustomSeverityLevels), typeof(CoreSettings),
        typeof(VendorSettings), typeof(Computer), typeof(Computers.ComputerRow), typeof(Target), typeof(MaintenanceWindow), typeof(SoftwareUpdatePolicy),
        typeof(EnrolmentToken), typeof(ServerTaskRun), typeof(Domain.Users.User), typeof(Security.AccessTokenProjection), typeof(Domain.AgentConfigurations.AgentConfiguration),
        typeof(ServerTaskSchedule), typeof(Domain.Notifications.WebhookSubscription), typeof(Domain.Notifications.WebhookDelivery),
        typeof(Domain.Hierarchy.ChildRegistrationToken), typeof(Domain.Hierarchy.ChildServer), typeof(Domain.Hierarchy.ParentLink), typeof(Domain.Hierarchy.ServerIdentity),
    ];

    /// <summary>
    /// The documents a rebuild may replay while the server answers: all but those every request authenticates with
    /// (computers for agents, users and tokens for people), the server task runs (the rebuild's own run is polled
    /// while it works) and the webhooks (deliveries in flight read them), which a daemon rebuild would empty for its duration.
    /// </summary>
    public static readonly Type[] OnlineDocuments =
        Documents.Except([typeof(Computer), typeof(Domain.Users.User), typeof(Security.AccessTokenProjection), typeof(EnrolmentToken), typeof(ServerTaskRun),
            typeof(Domain.Notifications.WebhookSubscription), typeof(Domain.Notifications.WebhookDelivery), typeof(Domain.Hierarchy.ChildServer)]).ToArray();

    public static void Configure(StoreOptions opts)
    {
        opts.Projections.Snapshot<Bulletin>(SnapshotLifecycle.Inline);
        opts.Schema.For<Bulletin>().DocumentAlias("bulletin");

        opts.Projections.Snapshot<BulletinRow>(SnapshotLifecycle.Inline);
        // No GIN over the whole document: every query of the current rows reads the Remediation Center's list (ADR 0029),
        // and each row's keys and values were an import's second cost (ADR 0045).
        opts.Schema.For<BulletinRow>().DocumentAlias("bulletin_row");

        opts.Projections.Snapshot<KnownExploitedVulnerability>(SnapshotLifecycle.Inline);
        opts.Projections.Snapshot<ProductVulnerability>(SnapshotLifecycle.Inline);
        opts.Schema.For<ProductVulnerability>().DocumentAlias("product_vulnerability");
        opts.Schema.For<KnownExploitedVulnerability>().DocumentAlias("known_exploited");

        opts.Projections.Snapshot<CustomSeverityLevels>(SnapshotLifecycle.Inline);
        opts.Schema.For<CustomSeverityLevels>().DocumentAlias("custom_severity_levels");

        opts.Projections.Snapshot<CoreSettings>(SnapshotLifecycle.Inline);
        opts.Schema.For<CoreSettings>().DocumentAlias("core_settings");

        opts.Projections.Snapshot<VendorSettings>(SnapshotLifecycle.Inline);
        opts.Schema.For<VendorSettings>().DocumentAlias("vendor_settings");

        opts.Projections.Snapshot<Computer>(SnapshotLifecycle.Inline);
        opts.Schema.For<Computer>().DocumentAlias("computer").Index(c => c.AgentId);

        // The narrow list row of each computer: indexed columns for what lists sort and filter on.
        opts.Projections.Snapshot<Computers.ComputerRow>(SnapshotLifecycle.Inline);
        var computerRows = opts.Schema.For<Computers.ComputerRow>().DocumentAlias("computer_row")
            .Duplicate(r => r.NameLower, pgType: "text").Duplicate(r => r.LastInventoryAt!, pgType: "timestamptz")
            .Duplicate(r => r.AgentVersion!, pgType: "text").Duplicate(r => r.AgentInstalled, pgType: "boolean")
            .Duplicate(r => r.OperatingSystem!, pgType: "text")
            .Duplicate(r => r.OperatingSystemLower!, pgType: "text")
            // The list by enrolment: the instant's own column (filled on an older store by ComputerCounts.FillBeforeMartenAsync).
            .Duplicate(r => r.EnrolledAt!, pgType: "timestamptz")
            // Patch's own indexes (ComputerCounts): left alone by Marten's schema migrations.
            .IgnoreIndex(Computers.ComputerCounts.StaleIndex).IgnoreIndex(Computers.ComputerCounts.NameSearchIndex);
        foreach (var (index, _) in Computers.ComputerCounts.SortIndexes) computerRows.IgnoreIndex(index);

        opts.Projections.Snapshot<Target>(SnapshotLifecycle.Inline);
        opts.Schema.For<Target>().DocumentAlias("target");

        opts.Projections.Snapshot<MaintenanceWindow>(SnapshotLifecycle.Inline);
        opts.Schema.For<MaintenanceWindow>().DocumentAlias("maintenance_window");

        opts.Projections.Snapshot<SoftwareUpdatePolicy>(SnapshotLifecycle.Inline);
        opts.Schema.For<SoftwareUpdatePolicy>().DocumentAlias("software_update_policy").GinIndexJsonData();

        opts.Projections.Snapshot<EnrolmentToken>(SnapshotLifecycle.Inline);
        opts.Schema.For<EnrolmentToken>().DocumentAlias("enrolment_token");

        opts.Projections.Snapshot<ServerTaskRun>(SnapshotLifecycle.Inline);
        // A task's runs, newest first: the last run, the last import (an unchanged document is recognised against it),
        // the run history — without reading every run ever recorded.
        opts.Schema.For<ServerTaskRun>().DocumentAlias("server_task_run")
            .Index(new List<System.Linq.Expressions.Expression<Func<ServerTaskRun, object>>> { r => r.Task, r => r.Started },
                i => i.SortOrder = Weasel.Postgresql.Tables.SortOrder.Desc);
        opts.Projections.Snapshot<ServerTaskSchedule>(SnapshotLifecycle.Inline);
        opts.Schema.For<ServerTaskSchedule>().DocumentAlias("server_task_schedule");
        opts.Projections.Snapshot<Domain.Notifications.WebhookSubscription>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.Notifications.WebhookSubscription>().DocumentAlias("webhook_subscription");
        opts.Projections.Snapshot<Domain.Notifications.WebhookDelivery>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.Notifications.WebhookDelivery>().DocumentAlias("webhook_delivery").Index(d => d.SubscriptionId);

        // The hierarchy (C10): registration tokens and children on a parent, the parent link on a child, this server's id.
        opts.Projections.Snapshot<Domain.Hierarchy.ChildRegistrationToken>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.Hierarchy.ChildRegistrationToken>().DocumentAlias("child_registration_token");
        opts.Projections.Snapshot<Domain.Hierarchy.ChildServer>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.Hierarchy.ChildServer>().DocumentAlias("child_server");
        opts.Projections.Snapshot<Domain.Hierarchy.ParentLink>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.Hierarchy.ParentLink>().DocumentAlias("parent_link");
        opts.Projections.Snapshot<Domain.Hierarchy.ServerIdentity>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.Hierarchy.ServerIdentity>().DocumentAlias("server_identity");

        opts.Projections.Snapshot<Domain.Users.User>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.Users.User>().DocumentAlias("user");

        opts.Projections.Add<Security.AccessTokenProjection>(ProjectionLifecycle.Inline);
        opts.Schema.For<Security.AccessToken>().DocumentAlias("access_token").UniqueIndex(t => t.SecretSha256);

        opts.Projections.Snapshot<Domain.AgentConfigurations.AgentConfiguration>(SnapshotLifecycle.Inline);
        opts.Schema.For<Domain.AgentConfigurations.AgentConfiguration>().DocumentAlias("agent_configuration");
    }
}
