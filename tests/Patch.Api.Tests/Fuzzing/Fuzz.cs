using System.Diagnostics;
using CsCheck;

namespace Patch.Api.Tests.Fuzzing;

/// <summary>
/// Runs a property over generated cases (ADR 0025). The suite runs a fixed, deterministic slice: case i of a target is
/// generated from PCG stream (target's hash) and seed PATCH_FUZZ_SEED + i, so a failure names the case that reproduces it.
/// PATCH_FUZZ_CASES (default 300) sets the count: scripts/fuzz.sh runs 10,000 per target and PATCH_FUZZ_REPORT appends
/// each target's figures to a file.
/// </summary>
public static class Fuzz
{
    public const int DefaultCases = 300;

    public static int Cases => int.TryParse(Environment.GetEnvironmentVariable("PATCH_FUZZ_CASES"), out var n) && n > 0 ? n : DefaultCases;

    public static ulong BaseSeed => ulong.TryParse(Environment.GetEnvironmentVariable("PATCH_FUZZ_SEED"), out var s) ? s : 20261203;

    /// <summary>
    /// Each case's outcome is a label ("accepted", "refused: Malformed XML"…) the runner counts; a property that is
    /// violated throws, and the runner fails the test naming the target, the case, the seed and the input.
    /// </summary>
    public static async Task<Tally> RunAsync<T>(string target, Gen<T> gen, Func<T, Task<string>> property, Func<T, string>? describe = null, int? cases = null)
    {
        var count = cases ?? Cases;
        var stream = StableHash(target);
        var tally = new Tally(target);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var seed = BaseSeed + (ulong)i;
            var input = gen.Generate(new PCG(stream, seed), null, out _);
            string outcome;
            try
            {
                outcome = await property(input);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException(
                    $"fuzz target '{target}', case {i} (PATCH_FUZZ_SEED={BaseSeed}, seed {seed}): {describe?.Invoke(input) ?? input?.ToString()}\n{e}");
            }
            tally.Count(outcome);
        }
        tally.Elapsed = clock.Elapsed;
        tally.Report();
        return tally;
    }

    public static Task<Tally> Run<T>(string target, Gen<T> gen, Func<T, string> property, Func<T, string>? describe = null, int? cases = null) =>
        RunAsync(target, gen, t => Task.FromResult(property(t)), describe, cases);

    /// <summary>A refusal must say what is wrong: a message of some substance, never a bare type name or a stack trace.</summary>
    public static string Names(string? message, string target)
    {
        if (string.IsNullOrWhiteSpace(message) || message.Length < 8) throw new Xunit.Sdk.XunitException($"{target}: a refusal without a message saying what is wrong ('{message}')");
        if (message.Contains("   at ", StringComparison.Ordinal)) throw new Xunit.Sdk.XunitException($"{target}: a refusal carries a stack trace: {message}");
        return message;
    }

    private static uint StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text) hash = (hash ^ c) * 16777619u;
        return hash;
    }

    public sealed class Tally(string target)
    {
        public string Target { get; } = target;
        public Dictionary<string, int> Outcomes { get; } = new(StringComparer.Ordinal);
        public int Total { get; private set; }
        public TimeSpan Elapsed { get; set; }

        public int Accepted => Outcomes.GetValueOrDefault("accepted");
        public int Refused => Total - Accepted;

        public void Count(string outcome)
        {
            Total++;
            Outcomes[outcome] = Outcomes.GetValueOrDefault(outcome) + 1;
        }

        /// <summary>Writes the target's figures to PATCH_FUZZ_REPORT when it is set (the long run's record).</summary>
        public void Report()
        {
            var file = Environment.GetEnvironmentVariable("PATCH_FUZZ_REPORT");
            if (string.IsNullOrEmpty(file)) return;
            var top = string.Join("; ", Outcomes.Where(o => o.Key != "accepted").OrderByDescending(o => o.Value).Take(4).Select(o => $"{o.Key} ×{o.Value}"));
            lock (typeof(Tally))
                File.AppendAllText(file, $"| {Target} | {Total} | {Accepted} | {Refused} | {Elapsed.TotalSeconds:F0} s | {top} |\n");
        }
    }
}
