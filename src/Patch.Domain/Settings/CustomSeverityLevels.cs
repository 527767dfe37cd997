namespace Patch.Domain.Settings;

public sealed record CustomSeverityLevelCreated(string LevelId, string Name);

public sealed record CustomSeverityLevelRenamed(string LevelId, string Name);

public sealed record CustomSeverityLevelDeleted(string LevelId);

public sealed record CustomSeverityLevelsReordered(IReadOnlyList<string> LevelIds);

public sealed record CustomSeverityLevel(string Id, string Name);

/// <summary>The administrator's own severity levels, in display order (C3).</summary>
public sealed record CustomSeverityLevels(string Id, IReadOnlyList<CustomSeverityLevel> Levels)
{
    public const int MaxNameLength = 64;

    public static readonly CustomSeverityLevels Empty = new(StreamIds.CustomSeverityLevels, []);

    public CustomSeverityLevel? Find(string levelId) => Levels.FirstOrDefault(l => l.Id == levelId);

    public static CustomSeverityLevels Create(CustomSeverityLevelCreated e) => Apply(e, Empty);

    public static CustomSeverityLevels Apply(CustomSeverityLevelCreated e, CustomSeverityLevels s) =>
        s with { Levels = [.. s.Levels, new CustomSeverityLevel(e.LevelId, e.Name)] };

    public static CustomSeverityLevels Apply(CustomSeverityLevelRenamed e, CustomSeverityLevels s) =>
        s with { Levels = s.Levels.Select(l => l.Id == e.LevelId ? l with { Name = e.Name } : l).ToList() };

    public static CustomSeverityLevels Apply(CustomSeverityLevelDeleted e, CustomSeverityLevels s) =>
        s with { Levels = s.Levels.Where(l => l.Id != e.LevelId).ToList() };

    public static CustomSeverityLevels Apply(CustomSeverityLevelsReordered e, CustomSeverityLevels s) =>
        s with { Levels = e.LevelIds.Select(id => s.Levels.First(l => l.Id == id)).ToList() };

    public static Outcome DecideCreate(CustomSeverityLevels? current, string newId, string? name)
    {
        current ??= Empty;
        var problem = CheckName(current, name, exceptId: null);
        return problem ?? Outcome.Append(new CustomSeverityLevelCreated(newId, name!.Trim()));
    }

    public static Outcome DecideRename(CustomSeverityLevels? current, string levelId, string? name)
    {
        current ??= Empty;
        var level = current.Find(levelId);
        if (level is null) return NotFound(levelId);
        if (level.Name == name?.Trim()) return Outcome.Nothing;
        return CheckName(current, name, levelId) ?? Outcome.Append(new CustomSeverityLevelRenamed(levelId, name!.Trim()));
    }

    /// <summary>A level that is still assigned to bulletins cannot be deleted: unassign it first.</summary>
    public static Outcome DecideDelete(CustomSeverityLevels? current, string levelId, int assignedBulletins)
    {
        current ??= Empty;
        if (current.Find(levelId) is null) return NotFound(levelId);
        if (assignedBulletins > 0)
            return Outcome.Refuse(RejectionKind.Conflict, "Custom severity level in use",
                $"Level '{levelId}' is assigned to {assignedBulletins} bulletin(s); unassign it from them before deleting it.");
        return Outcome.Append(new CustomSeverityLevelDeleted(levelId));
    }

    public static Outcome DecideReorder(CustomSeverityLevels? current, IReadOnlyList<string>? levelIds)
    {
        current ??= Empty;
        if (levelIds is null) return Outcome.Refuse(RejectionKind.Invalid, "Missing field", "'levelIds' is required.");
        var known = current.Levels.Select(l => l.Id).ToHashSet();
        if (levelIds.Count != known.Count || levelIds.Distinct().Count() != levelIds.Count || !levelIds.All(known.Contains))
            return Outcome.Refuse(RejectionKind.Invalid, "Invalid order",
                $"'levelIds' must list every existing level exactly once: {string.Join(", ", current.Levels.Select(l => l.Id))}.");
        return levelIds.SequenceEqual(current.Levels.Select(l => l.Id)) ? Outcome.Nothing : Outcome.Append(new CustomSeverityLevelsReordered(levelIds));
    }

    private static Outcome? CheckName(CustomSeverityLevels current, string? name, string? exceptId)
    {
        if (string.IsNullOrWhiteSpace(name)) return Outcome.Refuse(RejectionKind.Invalid, "Missing field", "'name' is required.");
        if (name.Trim().Length > MaxNameLength)
            return Outcome.Refuse(RejectionKind.Invalid, "Name too long", $"'name' must be at most {MaxNameLength} characters.");
        if (name.Any(char.IsControl)) return Outcome.Refuse(RejectionKind.Invalid, "Invalid name", "'name' holds a control character (DEL, U+0080–U+009F and the like).");
        if (current.Levels.Any(l => l.Id != exceptId && string.Equals(l.Name, name.Trim(), StringComparison.OrdinalIgnoreCase)))
            return Outcome.Refuse(RejectionKind.Conflict, "Duplicate name", $"A custom severity level named '{name.Trim()}' already exists.");
        return null;
    }

    private static Outcome NotFound(string levelId) =>
        Outcome.Refuse(RejectionKind.NotFound, "Custom severity level not found", $"No custom severity level '{Users.UserDecisions.Printable(levelId)}'.");
}
