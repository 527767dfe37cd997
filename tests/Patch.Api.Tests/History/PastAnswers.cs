using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.History;

/// <summary>A report's answers at instants, and the checks that asOf gives them back: live, after a rebuild, row for row.</summary>
public sealed record Snapshot(string At, Dictionary<string, string> Answers);

public static class PastAnswers
{
    public static async Task<string> NowAsync(AppFixture app)
    {
        await using var cmd = app.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand("select now()");
        return new DateTimeOffset(DateTime.SpecifyKind((DateTime)(await cmd.ExecuteScalarAsync())!, DateTimeKind.Utc)).ToString("O");
    }

    /// <summary>A report's answer; the home page's delivery window is counted back from the moment asked (now live, the instant asOf), so it is left out.</summary>
    public static async Task<string> RawAsync(AppFixture app, string url, int status = 200)
    {
        using var client = app.Client();
        var response = await client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"GET {url}: expected {status}, got {(int)response.StatusCode}: {text}");
        if (status != 200 || !url.StartsWith("/api/home", StringComparison.Ordinal)) return text;
        var home = JsonNode.Parse(text)!;
        home["delivery"]!.AsObject().Remove("from");
        home["delivery"]!.AsObject().Remove("to");
        return home.ToJsonString();
    }

    public static string WithAsOf(string url, string at) => url + (url.Contains('?') ? '&' : '?') + "asOf=" + Uri.EscapeDataString(at);

    /// <summary>Every report live, then the instant just after (nothing is written in between).</summary>
    public static async Task<Snapshot> TakeAsync(AppFixture app, IEnumerable<string> reports)
    {
        var answers = new Dictionary<string, string>();
        foreach (var url in reports) answers[url] = await RawAsync(app, url);
        await Task.Delay(20, TestContext.Current.CancellationToken);
        var at = await NowAsync(app);
        await Task.Delay(20, TestContext.Current.CancellationToken);
        return new Snapshot(at, answers);
    }

    public static async Task AssertSameAsync(AppFixture app, IEnumerable<Snapshot> snapshots, string when)
    {
        foreach (var (at, answers) in snapshots)
            foreach (var (url, live) in answers)
            {
                var past = await RawAsync(app, WithAsOf(url, at));
                Assert.True(live == past, $"{url} as of {at}{when}:\nlive: {live}\nasOf: {past}");
            }
    }

    /// <summary>
    /// Every row of the compliance, delivery and reboot read models and of their histories (delivery_latest's sequence
    /// number aside: a rebuild renumbers it), and every document the reports read.
    /// </summary>
    public static async Task<Dictionary<string, string>> DumpAsync(AppFixture app)
    {
        var tables = new[] { "compliance_member", "compliance_shape", "compliance_shape_state", "compliance_shape_family", "compliance_shape_vulnerability",
            "compliance_bulletin", "compliance_update",
            "delivery_latest", "delivery_counts", "restart_state", "catalog_stamp" };
        var dump = new Dictionary<string, string>();
        foreach (var table in tables.Concat(tables.Where(t => t != "catalog_stamp").Select(t => t + "_history")))
        {
            await using var cmd = app.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
                $"select coalesce(jsonb_agg(r order by r::text), '[]')::text from (select to_jsonb(t) - 'seq' r from patch.{table} t) x");
            dump[table] = (string)(await cmd.ExecuteScalarAsync())!;
        }
        // The documents the projections rebuilt: their content (Marten's version and modification time are bookkeeping).
        foreach (var table in new[] { "mt_doc_bulletin", "mt_doc_bulletin_row", "mt_doc_known_exploited", "mt_doc_computer", "mt_doc_computer_row", "mt_doc_software_update_policy",
                     "mt_doc_target", "mt_doc_maintenance_window", "mt_doc_agent_configuration", "mt_doc_custom_severity_levels", "mt_doc_server_task_run" })
        {
            await using var cmd = app.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
                $"select coalesce(jsonb_agg(jsonb_build_object('id', id, 'data', data) order by id), '[]')::text from patch.{table}" +
                // The rebuild's own run is the one document it adds.
                (table == "mt_doc_server_task_run" ? " where data->>'task' <> 'read-model-rebuild'" : ""));
            dump[table] = (string)(await cmd.ExecuteScalarAsync())!;
        }
        return dump;
    }

    /// <summary>
    /// The read models once the work the test set off has ended: no task run in progress and nothing changed for a
    /// moment. An import queues an analysis of its own that starts when the one running ends (once in CI the live rows
    /// were taken while it ran, and the rebuild then held it ended).
    /// </summary>
    private static async Task<Dictionary<string, string>> SettledAsync(AppFixture app)
    {
        var dump = await DumpAsync(app);
        for (var i = 0; i < 300; i++)
        {
            await Task.Delay(200, TestContext.Current.CancellationToken);
            await using var running = app.Host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateCommand(
                "select count(*) from patch.mt_doc_server_task_run where data->>'status' = 'running'");
            var busy = (long)(await running.ExecuteScalarAsync())! > 0;
            var again = await DumpAsync(app);
            if (!busy && again.SequenceEqual(dump)) return again;
            dump = again;
        }
        throw new TimeoutException("the read models did not settle in a minute");
    }

    /// <summary>Rebuilds every read model from the events as the server task does it, and checks the rows and versions came out the same.</summary>
    public static async Task RebuildAndCompareAsync(AppFixture app)
    {
        var before = await SettledAsync(app);
        using var client = app.Client();
        var response = await client.PostAsync("/api/server-tasks/read-model-rebuild/run?model=all", null);
        var started = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, started.ToString());
        JsonElement run = default;
        for (var i = 0; i < 1200; i++)
        {
            run = JsonDocument.Parse(await client.GetStringAsync(started.GetProperty("statusUrl").GetString())).RootElement.Clone();
            if (run.GetProperty("status").GetString() != "running") break;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.True(run.GetProperty("counts").GetProperty("events").GetInt32() > 0, run.ToString());
        var after = await DumpAsync(app);
        foreach (var table in before.Keys) Assert.True(before[table] == after[table], $"{table} after the rebuild:\nlive:    {before[table]}\nrebuilt: {after[table]}");
    }
}
