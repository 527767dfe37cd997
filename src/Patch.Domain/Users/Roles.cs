namespace Patch.Domain.Users;

/// <summary>
/// The three fixed roles (C14), from least to most: an auditor reads everything and changes nothing, an operator does
/// the day-to-day patch work, an administrator does everything. docs/security.md has the table of routes per role.
/// </summary>
public static class Roles
{
    public const string Auditor = "auditor";
    public const string Operator = "operator";
    public const string Administrator = "administrator";

    public static readonly IReadOnlyList<string> All = [Auditor, Operator, Administrator];

    /// <summary>1 for auditor, 2 for operator, 3 for administrator; 0 for anything else.</summary>
    public static int Rank(string? role) => role switch
    {
        Auditor => 1,
        Operator => 2,
        Administrator => 3,
        _ => 0,
    };

    /// <summary>The role names that include <paramref name="role"/>: an operator is also allowed what an auditor may.</summary>
    public static IReadOnlyList<string> AtLeast(string role) => All.Where(r => Rank(r) >= Rank(role)).ToList();

    /// <summary>A role name in any case, or null when it is not one of the three.</summary>
    public static string? Parse(string? text) => All.FirstOrDefault(r => string.Equals(r, text?.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The lower of two roles (a token never grants more than its user has now).</summary>
    public static string Lower(string a, string b) => Rank(a) <= Rank(b) ? a : b;
}
