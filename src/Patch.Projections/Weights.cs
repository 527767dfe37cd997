namespace Patch.Projections;

/// <summary>
/// What each row of a shape weighs in a report: the <c>n</c> of its shape in <see cref="Relation"/> (columns shape, n; a
/// row a shape), one for each shape in the text array parameter <see cref="ShapesParameter"/>, or one for each shape
/// <see cref="Matching"/> accepts (a SQL condition on the shape expression it is given).
/// </summary>
public sealed record Weights(string? Relation, string? ShapesParameter, Func<string, string>? Matching = null)
{
    public static Weights Of(string relation) => new(relation, null);
    public static Weights OneEach(string shapesParameter) => new(null, shapesParameter);
    public static Weights OneWhere(Func<string, string> condition) => new(null, null, condition);

    /// <summary>Every row one: the table's rows.</summary>
    public static readonly Weights Every = OneWhere(_ => "true");
}
