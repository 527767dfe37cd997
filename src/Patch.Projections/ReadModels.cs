namespace Patch.Projections;

/// <summary>
/// Where the read models live: the PostgreSQL schema and the names of the tables Patch keeps itself (the Marten
/// document tables are named in <see cref="PatchProjections"/>). Reports and writers name a table through these.
/// </summary>
public static class ReadModels
{
    /// <summary>The PostgreSQL schema holding Patch's events and read models.</summary>
    public const string Schema = "patch";

    public const string ComplianceState = "compliance_state";
    public const string ComplianceBulletin = "compliance_bulletin";
    public const string ComplianceUpdate = "compliance_update";
    public const string ComplianceComputer = "compliance_computer";
    public const string ComplianceComputerFamily = "compliance_computer_family";
    public const string ComplianceVulnerability = "compliance_vulnerability";
    public const string DeliveryStatus = "delivery_status";
    public const string DeliveryLatest = "delivery_latest";
    public const string DeliveryCounts = "delivery_counts";
    public const string RestartState = "restart_state";
}
