using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Patch.Agent.Inventory;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Agents;

/// <summary>
/// An operator imports computers' inventories in bulk (NDJSON): new computers are registered, each inventory is analysed
/// as an agent's report is, and a file with one bad line writes nothing.
/// </summary>
public class when_an_operator_imports_inventories_in_bulk(AppFixture app) : AppTest(app)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Domain.Agents.AgentInventory Capture(string name) =>
        new FileInventorySource(SharedData.PathOf("windows-inventory/wesng-validation/" + name)).Read();

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private static string Line(string name, Domain.Agents.AgentInventory inventory, string? domain = null) =>
        JsonSerializer.Serialize(new { name, domain, inventory }, Web);

    private async Task<(HttpStatusCode Status, JsonElement Body)> ImportAsync(string ndjson, string role = Domain.Users.Roles.Operator)
    {
        using var client = App.Client("olga", role);
        var response = await client.PostAsync("/api/computers/inventories", new StringContent(ndjson, Encoding.UTF8, "application/x-ndjson"), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task computers_are_registered_analysed_and_recorded_as_the_operators_work()
    {
        await App.ImportAsync("cvrf", SharedData.Bytes(SharedData.Cvrf2024));
        var file = string.Join("\n",
            Line("BULK-W10", Capture("10_22H2_x64_enterprise_en-us_systeminfo.txt"), "corp.example"),
            "",
            Line("BULK-W11", Capture("11_23H2_x64_enterprise_systeminfo.txt")),
            Line("BULK-SRV", Capture("srv_2019_rtm_datacenter_en-us_systeminfo.txt"))) + "\n";

        var (status, result) = await ImportAsync(file);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3, result.GetProperty("computers").GetInt32());
        Assert.Equal(3, result.GetProperty("computersAdded").GetInt32());
        Assert.Equal(3, result.GetProperty("inventoriesChanged").GetInt32());
        Assert.True(result.GetProperty("complianceRows").GetInt64() > 0);

        var w10 = (await GetJsonAsync("/api/computers?q=BULK-W10")).GetProperty("items")[0];
        Assert.Equal("corp.example", w10.GetProperty("domain").GetString());
        Assert.False(w10.GetProperty("agentInstalled").GetBoolean());
        Assert.Contains("Windows 10", w10.GetProperty("operatingSystem").GetString());
        // No agent, so no agent's version: the inventory's is the collecting tool's, and the list's filter agrees with the rollout report.
        Assert.Equal(JsonValueKind.Null, w10.GetProperty("agentVersion").ValueKind);
        var toolVersion = Capture("10_22H2_x64_enterprise_en-us_systeminfo.txt").AgentVersion;
        Assert.Equal(0, (await GetJsonAsync($"/api/computers?q=BULK&agentVersion={toolVersion}")).GetProperty("total").GetInt64());
        Assert.NotEqual(0, (await GetJsonAsync("/api/reports/compliance/computers/BULK-W11/updates?pageSize=500")).GetProperty("items").GetArrayLength());

        // The rows are what a full analysis writes; the events are the operator's.
        var before = await App.ComplianceRowsAsync();
        await SendAsync(HttpMethod.Post, "/api/server-tasks/vulnerability-analysis/run?wait=true");
        Assert.Equal(before, await App.ComplianceRowsAsync());
        Assert.Equal(3, (await GetJsonAsync("/api/audit?type=InventoryReported&actor=olga")).GetProperty("total").GetInt64());

        // The same file again: nothing new, each inventory confirmed.
        (status, result) = await ImportAsync(file);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, result.GetProperty("computersAdded").GetInt32());
        Assert.Equal(3, result.GetProperty("inventoriesConfirmed").GetInt32());
        Assert.Equal("corp.example", (await GetJsonAsync("/api/computers?q=BULK-W10")).GetProperty("items")[0].GetProperty("domain").GetString());
    }

    [Theory]
    [InlineData("nul", "line 2: inventory: osCaption")]
    [InlineData("unknown", "line 2 has a property this operation does not take")]
    [InlineData("duplicate", "line 2: computer 'bulk-a' is already on line 1")]
    [InlineData("name", "line 2: name: 1 to 63")]
    [InlineData("missing", "line 2: inventory: required")]
    public async Task a_bad_line_is_named_and_nothing_is_written(string fault, string expected)
    {
        var inventory = Capture("10_22H2_x64_enterprise_en-us_systeminfo.txt");
        var second = fault switch
        {
            "nul" => Line("BULK-B", inventory with { OsCaption = "Microsoft Windows 10\u0000 Enterprise" }),
            "unknown" => Line("BULK-B", inventory).Replace("{\"name\"", "{\"colour\":\"blue\",\"name\"", StringComparison.Ordinal),
            "duplicate" => Line("bulk-a", inventory),
            "name" => Line("BULK B/with slash", inventory),
            _ => JsonSerializer.Serialize(new { name = "BULK-B" }, Web),
        };
        var (status, problem) = await ImportAsync(Line("BULK-A", inventory) + "\n" + second + "\n" + Line("BULK-C", inventory));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(expected, problem.GetProperty("detail").GetString());
        Assert.Equal(0, (await GetJsonAsync("/api/computers?q=BULK")).GetProperty("total").GetInt64());
    }

    /// <summary>
    /// NDJSON is UTF-8, or UTF-16 with its byte order mark (Windows PowerShell 5's Out-File): a file in a Windows code page,
    /// which carries no mark, is refused by name — never decoded by guess.
    /// </summary>
    [Theory]
    [InlineData("utf-16", HttpStatusCode.OK)]
    [InlineData("latin-1", HttpStatusCode.BadRequest)]
    public async Task a_unicode_file_is_read_and_one_in_a_code_page_refused(string encoding, HttpStatusCode expected)
    {
        var inventory = Capture("10_22H2_x64_enterprise_en-us_systeminfo.txt") with { OsCaption = "Microsoft Windows 10 Entreprise é" };
        // The serializer escapes the accent (\u00E9): written as the character itself, as a text editor would.
        var text = Line($"BULK-{encoding.ToUpperInvariant()}", inventory).Replace("\\u00E9", "é", StringComparison.Ordinal) + "\n";
        Assert.Contains("é", text);
        byte[] bytes = encoding == "utf-16" ? [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(text)] : Encoding.Latin1.GetBytes(text);
        using var client = App.Client("olga", Domain.Users.Roles.Operator);
        var response = await client.PostAsync("/api/computers/inventories", new ByteArrayContent(bytes) { Headers = { ContentType = new("application/x-ndjson") } }, Ct);
        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.BadRequest) Assert.Contains("not UTF-8", await response.Content.ReadAsStringAsync(Ct));
        var found = (await GetJsonAsync($"/api/computers?q=BULK-{encoding.ToUpperInvariant()}")).GetProperty("total").GetInt64();
        Assert.Equal(expected == HttpStatusCode.OK ? 1 : 0, found);
    }

    [Fact]
    public async Task an_auditor_may_not_import_and_an_empty_file_is_refused()
    {
        var inventory = Capture("10_22H2_x64_enterprise_en-us_systeminfo.txt");
        Assert.Equal(HttpStatusCode.Forbidden, (await ImportAsync(Line("BULK-A", inventory), Domain.Users.Roles.Auditor)).Status);
        var (status, problem) = await ImportAsync("\n\n");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("no computer", problem.GetProperty("detail").GetString());
    }

    /// <summary>
    /// The file is stored a thousand computers at a time: a failure after the first thousand committed says how many were
    /// stored (never "nothing was saved"), and the same file sent again finishes the work without adding anyone twice.
    /// </summary>
    [Fact]
    public async Task a_failure_after_the_first_thousand_names_what_was_stored_and_the_same_file_finishes_it()
    {
        var inventory = new Domain.Agents.AgentInventory("Microsoft Windows 11 Enterprise", "10.0.22631.4460", "x64", 0, false, ["en-US"], [], ["KB5046633"], "0.1.0");
        var names = Enumerable.Range(1, Patch.Application.Computers.ImportInventories.Chunk + 1).Select(i => $"BULKFAIL-{i:D4}").ToList();
        var file = string.Join("\n", names.Select(n => Line(n, inventory))) + "\n";
        var last = Domain.Computers.Computer.StreamId(names[^1]);
        var data = App.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>();
        async Task ExecuteAsync(string sql)
        {
            await using var cmd = data.CreateCommand(sql);
            await cmd.ExecuteNonQueryAsync(Ct);
        }
        await ExecuteAsync($$"""
            create or replace function patch.test_bulk_disk_full() returns trigger language plpgsql as $$
            begin if new.id = '{{last}}' then raise exception 'could not extend file: No space left on device' using errcode = '53100'; end if; return new; end $$;
            create trigger test_bulk_disk_full before insert on patch.mt_streams for each row execute function patch.test_bulk_disk_full();
            """);
        try
        {
            var (status, problem) = await ImportAsync(file);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            var detail = problem.GetProperty("detail").GetString()!;
            Assert.StartsWith("The database is out of disk space. The first 1,000 computers of the file were stored and analysed; the others were not.", detail);
            Assert.DoesNotContain("nothing was saved", detail);
            Assert.Equal(1000, (await GetJsonAsync("/api/computers?q=BULKFAIL")).GetProperty("total").GetInt64());
        }
        finally
        {
            await ExecuteAsync("drop trigger if exists test_bulk_disk_full on patch.mt_streams; drop function if exists patch.test_bulk_disk_full();");
        }

        var (again, result) = await ImportAsync(file);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal(1, result.GetProperty("computersAdded").GetInt32());
        Assert.Equal(1000, result.GetProperty("inventoriesConfirmed").GetInt32());
        Assert.Equal(1001, (await GetJsonAsync("/api/computers?q=BULKFAIL")).GetProperty("total").GetInt64());
    }
}
