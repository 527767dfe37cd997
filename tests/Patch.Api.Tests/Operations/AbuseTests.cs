using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Operations;

/// <summary>Hostile names and paths on every route that takes one (a 4xx, never served, never a 5xx), and spreadsheet formulas in every CSV export.</summary>
public class when_names_and_cells_are_hostile(AppFixture app) : AppTest(app)
{
    private static readonly string[] Traversals =
    [
        "..%2F..%2F..%2Fetc%2Fpasswd", "..%5C..%5C..%5Cwindows%5Cwin.ini", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "....%2F%2F....%2F%2Fetc%2Fpasswd",
        "%252e%252e%252fetc%252fpasswd", "%2Fetc%2Fpasswd", "C%3A%5CWindows%5Csystem.ini", "..%2F", "%2E%2E%2F%2E%2E%2Fetc",
    ];

    [Fact]
    public async Task path_traversal_on_every_route_that_takes_a_name_or_a_path_is_refused_or_not_found()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(SharedData.RepoFile("docs/openapi.json")));
        var routes = doc.RootElement.GetProperty("paths").EnumerateObject().Where(p => p.Name.Contains('{'))
            .SelectMany(p => p.Value.EnumerateObject().Select(m => (Method: m.Name.ToUpperInvariant(), Path: p.Name))).ToList();
        Assert.True(routes.Count >= 40, $"{routes.Count} routes with a name or a path");
        using var admin = App.Client();
        var (_, issued) = await SendAsync(HttpMethod.Post, "/api/enrolment-tokens", new { name = "traversal" });
        using var agent = App.AnonymousClient();
        var enrolled = await agent.PostAsync("/agent/v1/enrol", new StringContent(JsonSerializer.Serialize(new { token = issued.GetProperty("token").GetString(), computerName = "TRAVERSE-1", agentVersion = "0.1.0" }),
            Encoding.UTF8, "application/json"));
        agent.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            JsonDocument.Parse(await enrolled.Content.ReadAsStringAsync()).RootElement.GetProperty("credential").GetString());
        var tried = 0;
        foreach (var (method, path) in routes)
            foreach (var value in Traversals)
            {
                var url = Regex.Replace(path, "{[^}]+}", value);
                var request = new HttpRequestMessage(new HttpMethod(method), url);
                if (method is "POST" or "PUT") request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
                var response = await (path.StartsWith("/agent/", StringComparison.Ordinal) ? agent : admin).SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                tried++;
                // Refused (bad name, not found, not allowed, not this method) — never served, never a failure.
                Assert.True(status is >= 400 and < 500, $"{method} {url}: HTTP {status}: {body[..Math.Min(body.Length, 300)]}");
                Assert.DoesNotContain("root:x:0:0", body);
                Assert.DoesNotContain("[boot loader]", body);
            }
        Assert.True(tried >= 400);
    }

    [Fact]
    public async Task json_is_utf8_whatever_a_client_declares_and_a_byte_order_mark_is_no_fault()
    {
        using var client = App.Client();
        // A lone surrogate escape is no character: a 400 naming where, not a failure of the server.
        var surrogate = await client.PostAsync("/api/maintenance-windows", new StringContent("""{"name":"x\uD800y"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, surrogate.StatusCode);
        Assert.StartsWith("$.name: a \\u escape that is not a character",
            JsonDocument.Parse(await surrogate.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString());
        // A body declared in another charset would be transcoded past the door's check: refused.
        var utf16 = new ByteArrayContent(Encoding.Unicode.GetBytes("""{"name":"x\u0000"}"""));
        utf16.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("application/json; charset=utf-16");
        var declared = await client.PostAsync("/api/maintenance-windows", utf16);
        Assert.Equal(System.Net.HttpStatusCode.UnsupportedMediaType, declared.StatusCode);
        Assert.Contains("charset=utf-16", await declared.Content.ReadAsStringAsync());
        // A Patch catalog saved with a UTF-8 byte order mark (Windows editors) imports.
        var catalog = File.ReadAllBytes(SharedData.RepoFile("demo/patch-demo-catalog.json"));
        var imported = await App.ImportAsync("patch", [.. Encoding.UTF8.GetPreamble(), .. catalog]);
        Assert.Equal("completed", imported.GetProperty("status").GetString());
    }

    [Fact]
    public async Task a_formula_in_any_text_is_neutralised_in_every_csv_export()
    {
        // Texts an attacker controls: a catalog's bulletin title and product, a computer's name parts, a user's name.
        var formulas = new[] { "=HYPERLINK(\"http://evil/\",\"x\")", "+SUM(1+1)", "-2+3", "@cmd|' /C calc'!A0" };
        var catalog = new
        {
            schemaVersion = "1.0", catalogId = "formulas",
            vendors = new[] { new { id = "ms", name = "Microsoft" } },
            products = new[] { new { id = "w10", name = "Windows 10 Version 22H2 for x64-based Systems", vendor = "ms" } },
            bulletins = formulas.Select((f, i) => new
            {
                id = $"KB99000{i}", vendor = "ms", title = f, severity = "Critical", description = f,
                updates = new[] { new { id = $"u-formula-{i}", product = "w10", fileName = "x.msu", restart = "notRequired" } },
            }).ToArray(),
        };
        await App.ImportAsync("patch", JsonSerializer.SerializeToUtf8Bytes(catalog));
        using (var client = App.Client())
        {
            var csv = "name,domain,os\n" + string.Join("\n", formulas.Select((f, i) => $"PC-{i},corp,\"{f.Replace("\"", "\"\"")}\""));
            var imported = await client.PostAsync("/api/computers/import", new StringContent(csv, Encoding.UTF8, "text/csv"));
            Assert.True(imported.IsSuccessStatusCode, await imported.Content.ReadAsStringAsync());
        }

        string[] exports =
        [
            "/api/bulletins?format=csv", "/api/computers?format=csv", "/api/reports/compliance/bulletins?format=csv", "/api/reports/compliance/computers?format=csv",
            "/api/reports/compliance/updates?format=csv", "/api/audit?format=csv", "/api/server-tasks/runs?format=csv", "/api/reports/agent-versions?format=csv",
            "/api/reports/computers-not-reporting?format=csv", "/api/reports/seat-usage?format=csv",
        ];
        var cellsSeen = 0;
        using var admin = App.Client();
        foreach (var url in exports)
        {
            var response = await admin.GetAsync(url);
            Assert.True(response.IsSuccessStatusCode, $"{url}: {(int)response.StatusCode}");
            using var reader = Sylvan.Data.Csv.CsvDataReader.Create(new StringReader(await response.Content.ReadAsStringAsync()));
            while (await reader.ReadAsync())
                for (var i = 0; i < reader.RowFieldCount; i++)
                {
                    var cell = reader.GetString(i);
                    cellsSeen++;
                    Assert.False(cell.Length > 0 && cell[0] is '=' or '+' or '-' or '@', $"{url}: a cell begins with a formula character: {cell}");
                }
        }
        Assert.True(cellsSeen > 50);
        // The neutralised text is still there, behind an apostrophe.
        Assert.Contains("'=HYPERLINK", await admin.GetStringAsync("/api/bulletins?format=csv"));
    }
}
