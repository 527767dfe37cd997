using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Patch.Api.Tests.Infrastructure;

namespace Patch.Api.Tests.Operations;

/// <summary>The database refuses work (out of disk, injected as SQLSTATE 53100): a clear 503 with Retry-After, nothing half-written, and the next request works without a restart.</summary>
public class when_the_database_runs_out_of_space(AppFixture app) : AppTest(app)
{
    private async Task ExecuteAsync(string sql)
    {
        await using var cmd = App.Host.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    private async Task<long> FactsAsync()
    {
        await using var cmd = App.Host.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand(
            "select count(*) from patch.mt_events where stream_id not like 'task-run:%' and stream_id not like 'user:%' and stream_id not like 'token-use:%' and stream_id <> 'mt_tombstone'");
        return (long)(await cmd.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    [Fact]
    public async Task a_write_is_refused_with_503_and_retry_after_and_the_server_recovers_by_itself()
    {
        var events = await FactsAsync();
        var before = (await GetJsonAsync("/api/custom-severities")).GetRawText();
        await ExecuteAsync("""
            create or replace function patch.test_disk_full() returns trigger language plpgsql as $$
            begin raise exception 'could not extend file: No space left on device' using errcode = '53100'; end $$;
            create trigger test_disk_full before insert or update on patch.mt_doc_custom_severity_levels for each row execute function patch.test_disk_full();
            """);
        try
        {
            using var client = App.Client();
            var response = await client.PostAsync("/api/custom-severities", new StringContent("""{"name":"Patch Tuesday"}""", System.Text.Encoding.UTF8, "application/json"),
                TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("30", response.Headers.RetryAfter?.ToString());
            var problem = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
            Assert.Equal("Database unavailable", problem.GetProperty("title").GetString());
            Assert.Contains("out of disk space", problem.GetProperty("detail").GetString());
            // Marten records a tombstone for the sequence numbers the failed transaction had taken: bookkeeping, not a fact.
            Assert.Equal(events, await FactsAsync());
            Assert.Equal(before, (await GetJsonAsync("/api/custom-severities")).GetRawText());
        }
        finally
        {
            await ExecuteAsync("drop trigger if exists test_disk_full on patch.mt_doc_custom_severity_levels; drop function if exists patch.test_disk_full();");
        }

        // Space is back: the same request works, no restart needed.
        var (status, levels) = await SendAsync(HttpMethod.Post, "/api/custom-severities", new { name = "Patch Tuesday" });
        Assert.True(status is HttpStatusCode.OK or HttpStatusCode.Created, levels.ToString());
        Assert.Contains("Patch Tuesday", (await GetJsonAsync("/api/custom-severities")).GetRawText());
    }

    [Fact]
    public void the_errors_that_mean_the_database_is_away_are_told_apart_from_faults()
    {
        Assert.NotNull(Patch.Api.Hosting.ProblemExceptionHandler.DatabaseUnavailable(new NpgsqlException("Failed to connect", new System.Net.Sockets.SocketException(111))));
        Assert.NotNull(Patch.Api.Hosting.ProblemExceptionHandler.DatabaseUnavailable(new InvalidOperationException("wrapped", new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01"))));
        Assert.Null(Patch.Api.Hosting.ProblemExceptionHandler.DatabaseUnavailable(new PostgresException("deadlock detected", "ERROR", "ERROR", "40P01")));
        Assert.Null(Patch.Api.Hosting.ProblemExceptionHandler.DatabaseUnavailable(new PostgresException("duplicate key", "ERROR", "ERROR", "23505")));
        Assert.Null(Patch.Api.Hosting.ProblemExceptionHandler.DatabaseUnavailable(new InvalidOperationException("a bug")));
    }
}
