using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Components;

namespace Patch.Api.Ui;

/// <summary>A server task run's counts, parameters and trigger as the console shows them: in words, a run it names linked.</summary>
public static partial class RunText
{
    /// <summary>A count's or parameter's key in words: "updatesAdded" → "updates added", "sha256" stays.</summary>
    public static string Words(string key) => Capitals().Replace(key, m => " " + m.Value.ToLowerInvariant());

    /// <summary>The counts that are not zero, in words ("updates added: 2, bulletins added: 1"), or "—".</summary>
    public static string Counts(IReadOnlyDictionary<string, int> counts)
    {
        var shown = counts.Where(c => c.Value != 0).Select(c => $"{Words(c.Key)}: {c.Value:N0}").ToList();
        return shown.Count == 0 ? "—" : string.Join(", ", shown);
    }

    /// <summary>The trigger, the run it names ("after catalog import task-run:…") as a link to that run.</summary>
    public static MarkupString Trigger(string trigger)
    {
        var m = RunId().Match(trigger);
        if (!m.Success) return new MarkupString(System.Net.WebUtility.HtmlEncode(trigger));
        var before = System.Net.WebUtility.HtmlEncode(trigger[..m.Index].TrimEnd());
        var after = System.Net.WebUtility.HtmlEncode(trigger[(m.Index + m.Length)..]);
        return new MarkupString($"""{before} <a href="/server-tasks/runs/{ConsoleUrl.Segment(m.Value)}" title="{m.Value}">(that run)</a>{after}""");
    }

    [GeneratedRegex("(?<=[a-z0-9])[A-Z]")]
    private static partial Regex Capitals();

    [GeneratedRegex("task-run:[0-9a-f]{32}")]
    private static partial Regex RunId();
}
