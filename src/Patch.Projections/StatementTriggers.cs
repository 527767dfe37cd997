namespace Patch.Projections;

/// <summary>
/// The statement triggers that keep a derived table with its source (histories, counts, name buckets): after every
/// insert, update, delete and truncate of <c>table</c>, once per statement, with the rows it inserted (<c>new_rows</c>)
/// and removed (<c>old_rows</c>) as transition tables — one set-based write however many rows the statement touched.
/// </summary>
public static class StatementTriggers
{
    /// <summary>The DDL (re)creating triggers <c>{name}_insert/_update/_delete/_truncate</c> on <paramref name="table"/> (schema-qualified) that run <paramref name="function"/>.</summary>
    public static string Ddl(string name, string table, string function) => $"""
        drop trigger if exists {name}_insert on {table};
        create trigger {name}_insert after insert on {table} referencing new table as new_rows for each statement execute function {function}();
        drop trigger if exists {name}_update on {table};
        create trigger {name}_update after update on {table} referencing old table as old_rows new table as new_rows for each statement execute function {function}();
        drop trigger if exists {name}_delete on {table};
        create trigger {name}_delete after delete on {table} referencing old table as old_rows for each statement execute function {function}();
        drop trigger if exists {name}_truncate on {table};
        create trigger {name}_truncate after truncate on {table} for each statement execute function {function}();
        """;
}
