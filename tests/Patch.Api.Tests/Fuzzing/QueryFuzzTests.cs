using System.Text.Json;
using CsCheck;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Fuzzing;

/// <summary>
/// Every query string every read operation accepts (from the OpenAPI document), with valid, hostile and unknown values, on a
/// store holding a real catalog and an enrolled computer: every answer is 200, 400 or 404 — never a 5xx — a 400 names its
/// problem, and a parameter the operation does not take is always refused (never silently ignored).
/// </summary>
public class when_report_query_strings_are_fuzzed(AppFixture app) : AppTest(app)
{
    private sealed record Operation(string Path, IReadOnlyList<Parameter> Parameters);

    private sealed record Parameter(string Name, string? Type, string? Format, IReadOnlyList<string> Enum);

    private static readonly Lazy<IReadOnlyList<Operation>> Operations = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(SharedData.RepoFile("docs/openapi.json")));
        var list = new List<Operation>();
        foreach (var path in doc.RootElement.GetProperty("paths").EnumerateObject())
        {
            // The agent's and child servers' routes take their own credentials (their tests call them).
            if (!path.Value.TryGetProperty("get", out var get) || path.Name.StartsWith("/agent/", StringComparison.Ordinal)
                || path.Name.StartsWith("/replication/", StringComparison.Ordinal)) continue;
            var parameters = get.TryGetProperty("parameters", out var ps)
                ? ps.EnumerateArray().Where(p => p.GetProperty("in").GetString() == "query").Select(p =>
                {
                    var schema = p.TryGetProperty("schema", out var s) ? s : default;
                    string? Str(string name) => schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                    var values = schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("enum", out var e) ? e.EnumerateArray().Select(x => x.ToString()).ToList() : [];
                    return new Parameter(p.GetProperty("name").GetString()!, Str("type"), Str("format"), values);
                }).ToList()
                : [];
            list.Add(new Operation(path.Name, parameters));
        }
        return list;
    });

    // Values a parameter may get: well-formed ones of its type, and hostile ones of every kind.
    private static readonly string[] Hostile =
    [
        "", " ", "%00", "a%00b", "%01", "%1F", "%FF%FE", "%C3%28", "%ED%A0%80", "99999999999999999999999", "-1", "0", "-2147483649", "1e309", "NaN",
        "2026-13-45", "2026-02-30T25:61:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "yesterday", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd",
        "%3Dcmd%7C'%20%2FC%20calc'!A0", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "'%3B%20drop%20table%20patch.mt_events%3B--", "%25", "%2B", "true", "csv", "json",
        new string('x', 5000), "KB5034127", "microsoft:KB5034127", "SRV-2019", "windows", "Missing", "-released",
    ];

    private static Gen<string> ValueFor(Parameter p)
    {
        var typed = p.Enum.Count > 0 ? Gen.OneOf([.. p.Enum])
            : p.Format == "date-time" ? Gen.Int[-400, 40].Select(d => Uri.EscapeDataString(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).AddDays(d).ToString("O")))
            : p.Type is "integer" or "number" ? Gen.Int[-5, 2000].Select(i => i.ToString())
            : p.Type == "boolean" ? Gen.OneOf("true", "false")
            : Gen.OneOf("KB5034127", "SRV", "windows", "Windows Server 2019", "CVE-2024-21338", "a b");
        return Gen.Frequency((3, (IGen<string>)typed), (2, Gen.OneOf(Hostile)));
    }

    private static readonly Gen<(Operation Op, (string Name, string Value)[] Query, string Path)> Cases =
        Gen.Int[0, 1000].SelectMany(i =>
        {
            var op = Operations.Value[i % Operations.Value.Count];
            var known = op.Parameters.Count == 0 ? Gen.Const(Array.Empty<(string, string)>())
                : Gen.Int[0, op.Parameters.Count - 1].SelectMany(k => ValueFor(op.Parameters[k]).Select(v => (op.Parameters[k].Name, v))).Array[0, 4];
            // Now and then a parameter the operation does not take, or a known one with its name's case or spelling off.
            var unknown = Gen.Frequency((8, (IGen<(string, string)[]>)Gen.Const(Array.Empty<(string, string)>())),
                (1, Gen.OneOf("bogus", "as_of", "pagesize2", "asOf%00", "%FF", "limit").Select(n => new[] { (n, "1") })));
            var path = Gen.OneOf("SRV-2019", "KB5034127", "microsoft%3AKB5034127", "nope", "x%01y", "..%2F..%2Fetc", "%FF", new string('n', 3000));
            return Gen.Select(known, unknown, path, (k, u, p) => (op, k.Concat(u).ToArray(), p));
        });

    [Fact]
    public async Task every_read_operation_answers_every_query_string()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var (_, token) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "fuzz", maxUses = 5 });
        using (var agent = App.AnonymousClient())
            await agent.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token = token.GetProperty("token").GetString(), computerName = "SRV-2019", agentVersion = "0.1.0" }),
                System.Text.Encoding.UTF8, "application/json"));

        var operations = Operations.Value.Count;
        var cases = Math.Max(Fuzz.Cases, 10 * operations);
        var tally = await Fuzz.RunAsync("report query strings", Cases, async c =>
        {
            var path = System.Text.RegularExpressions.Regex.Replace(c.Op.Path, "{[^}]+}", c.Path);
            var url = path + (c.Query.Length == 0 ? "" : "?" + string.Join("&", c.Query.Select(q => $"{q.Name}={q.Value}")));
            using var client = App.Client();
            using var response = await client.GetAsync(url);
            var status = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(status is 200 or 400 or 404, $"GET {url[..Math.Min(url.Length, 400)]}: HTTP {status}: {text[..Math.Min(text.Length, 2000)]}");
            var takes = c.Op.Parameters.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
            if (c.Query.Any(q => !takes.Contains(Uri.UnescapeDataString(q.Name))))
                Assert.True(status == 400, $"GET {url[..Math.Min(url.Length, 400)]}: a parameter the operation does not take was not refused (HTTP {status})");
            if (status == 200) return "accepted";
            var problem = JsonDocument.Parse(text).RootElement;
            Fuzz.Names(problem.TryGetProperty("detail", out var d) ? d.GetString() : problem.GetProperty("title").GetString(), url);
            return $"refused {status}";
        }, c => $"{c.Op.Path} with {c.Path}?{string.Join("&", c.Query.Select(q => $"{q.Name}={q.Value[..Math.Min(q.Value.Length, 60)]}"))}", cases);
        // The slice reaches every operation.
        Assert.True(tally.Total >= 10 * operations);
    }
}
