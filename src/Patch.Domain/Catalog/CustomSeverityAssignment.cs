using Patch.Domain.Settings;

namespace Patch.Domain.Catalog;

/// <summary>Assigning a custom severity level to a bulletin. Vendor severity is never editable.</summary>
public static class CustomSeverityAssignment
{
    public static Outcome Assign(Bulletin? bulletin, string bulletinId, string levelId, CustomSeverityLevels levels)
    {
        if (bulletin is null) return Outcome.Refuse(RejectionKind.NotFound, "Bulletin not found", $"No bulletin '{bulletinId}'.");
        if (levels.Find(levelId) is null)
            return Outcome.Refuse(RejectionKind.Invalid, "Unknown custom severity level", $"No custom severity level '{Users.UserDecisions.Printable(levelId)}'.");
        return bulletin.CustomSeverityId == levelId ? Outcome.Nothing : Outcome.Append(new CustomSeverityAssigned(bulletin.Id, levelId));
    }

    public static Outcome Clear(Bulletin? bulletin, string bulletinId)
    {
        if (bulletin is null) return Outcome.Refuse(RejectionKind.NotFound, "Bulletin not found", $"No bulletin '{bulletinId}'.");
        return bulletin.CustomSeverityId is null ? Outcome.Nothing : Outcome.Append(new CustomSeverityCleared(bulletin.Id, bulletin.CustomSeverityId));
    }
}
