using System.Text.Json;
using System.Text.Json.Nodes;

namespace Patch.Domain.Rules;

/// <summary>
/// The applicability / installed rule language of Patch's catalog format (docs/catalog-formats.md). A rule is a
/// JSON object with exactly one key: <c>all</c>/<c>any</c> (arrays of rules), <c>not</c> (a rule), or a test:
/// <c>product</c>, <c>kbInstalled</c>, <c>osBuildAtLeast</c>, <c>osBuildBelow</c>, <c>architecture</c>, <c>culture</c>.
/// Rules are stored canonically (compact JSON) so a re-import of the same rule compares equal.
/// </summary>
public static class RuleSyntax
{
    private static readonly HashSet<string> Tests = ["product", "kbInstalled", "osBuildAtLeast", "osBuildBelow", "architecture", "culture"];

    /// <summary>Checks a rule; returns the canonical text, or throws <see cref="FormatException"/> naming the JSON path.</summary>
    public static string Canonical(JsonElement rule, string path)
    {
        try
        {
            Check(rule, path, depth: 0);
            return JsonNode.Parse(rule.GetRawText())!.ToJsonString();
        }
        catch (InvalidOperationException e) when (e.InnerException is System.Text.DecoderFallbackException)
        {
            // A JSON text read without UTF-8 validation: its names and strings are decoded only here.
            throw new FormatException($"{path}: text that is not valid UTF-8");
        }
    }

    private static void Check(JsonElement rule, string path, int depth)
    {
        if (depth > 32) throw new FormatException($"{path}: rule nested deeper than 32 levels");
        if (rule.ValueKind != JsonValueKind.Object) throw new FormatException($"{path}: a rule must be an object");
        var props = rule.EnumerateObject().ToList();
        if (props.Count != 1) throw new FormatException($"{path}: a rule must have exactly one key, found {props.Count}");
        var p = props[0];
        var here = $"{path}.{p.Name}";
        switch (p.Name)
        {
            case "all" or "any":
                if (p.Value.ValueKind != JsonValueKind.Array || p.Value.GetArrayLength() == 0)
                    throw new FormatException($"{here}: must be a non-empty array of rules");
                var i = 0;
                foreach (var child in p.Value.EnumerateArray()) Check(child, $"{here}[{i++}]", depth + 1);
                break;
            case "not":
                Check(p.Value, here, depth + 1);
                break;
            case var t when Tests.Contains(t):
                if (p.Value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(p.Value.GetString()))
                    throw new FormatException($"{here}: must be a non-empty string");
                if (p.Value.GetString()!.Any(char.IsControl))
                    throw new FormatException($"{here}: a control character (U+{(int)p.Value.GetString()!.First(char.IsControl):X4}) in a rule's text");
                if (t is "osBuildAtLeast" or "osBuildBelow" && !Version.TryParse(p.Value.GetString(), out _))
                    throw new FormatException($"{here}: '{p.Value.GetString()}' is not a build number like 10.0.19045.3803");
                break;
            default:
                throw new FormatException($"{here}: unknown rule '{p.Name}' (known: all, any, not, {string.Join(", ", Tests)})");
        }
    }
}
