namespace Patch.Application.Compliance;

/// <summary>
/// Keyset paging of the drill-downs (a bulletin's or an update's computers, a computer's updates) in name order
/// (<see cref="Common.NameCursor"/>; a deep <c>page=</c> starts from its name bucket, <see cref="Common.NamePages"/>). The
/// cursor's keys are the last row's name, computer and update.
/// </summary>
public static class DrillDownCursor
{
    public const int Keys = 3;

    /// <summary>The report the drill-downs' cursors name.</summary>
    public const string Report = "drill-down";

    /// <summary>The report a drill-down's cursor names: the drill-downs', for this question (<see cref="Common.NameCursor.Question"/>).</summary>
    public static string For(Microsoft.AspNetCore.Http.IQueryCollection paging, string subject) => $"{Report}@{Common.NameCursor.Question(paging, subject)}";

    public static Common.NameCursor Next(string report, int pageSize, int page, string name, string computerId, string updateKey) => new(report, pageSize, page, [name, computerId, updateKey]);

    /// <summary>The cursor's keys as the parameters of <see cref="Condition"/>.</summary>
    public static Npgsql.NpgsqlParameter[] Parameters(Common.NameCursor cursor) =>
        [new("after_name", cursor.Keys[0]), new("after_computer", cursor.Keys[1]), new("after_update", cursor.Keys[2])];

    /// <summary>
    /// The rows after the cursor's in the drill-down's order (name, then computer and update ascending; the name
    /// descending with sort=-name), as a condition the name index can start from.
    /// </summary>
    public static string Condition(bool descending) => descending
        ? "c.name <= @after_name and (c.name < @after_name or (c.computer_id, s.update_key) > (@after_computer, @after_update))"
        : "c.name >= @after_name and (c.name > @after_name or (c.computer_id, s.update_key) > (@after_computer, @after_update))";
}
