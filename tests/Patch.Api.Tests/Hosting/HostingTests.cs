using Patch.Api.Hosting;
using System.Diagnostics;
using System.Text.Json;
using Patch.Api.Tests.Infrastructure;
using Patch.Application.Hosting;

namespace Patch.Api.Tests.Hosting;

public class when_the_server_runs(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task health_endpoints_answer()
    {
        using var client = App.Client();
        Assert.Equal("Healthy", await client.GetStringAsync("/health/live"));
        Assert.Equal("Healthy", await client.GetStringAsync("/health/ready"));
    }

    /// <summary>
    /// docs/openapi.json is the committed document (.ci/run lints it with Redocly): the served one must equal it.
    /// PATCH_UPDATE_OPENAPI=1 rewrites the file after a reviewed change of the API.
    /// </summary>
    [Fact]
    public async Task the_openapi_document_matches_the_committed_one()
    {
        using var client = App.AnonymousClient();
        var json = await client.GetStringAsync("/swagger/v1/swagger.json");
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("3.0.4", doc.RootElement.GetProperty("openapi").GetString());
        var served = JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
        var committed = SharedData.RepoFile("docs/openapi.json");
        if (Environment.GetEnvironmentVariable("PATCH_UPDATE_OPENAPI") == "1") await File.WriteAllTextAsync(committed, served, TestContext.Current.CancellationToken);
        Assert.True(File.Exists(committed), "docs/openapi.json is missing: run the tests once with PATCH_UPDATE_OPENAPI=1");
        var expected = await File.ReadAllTextAsync(committed, TestContext.Current.CancellationToken);
        Assert.True(expected == served, "The served OpenAPI document differs from docs/openapi.json: review the change, then run the tests with PATCH_UPDATE_OPENAPI=1.");
    }
}

public class when_patch_runs_its_own_postgresql
{
    [Fact]
    public async Task a_running_cluster_is_reused_and_only_its_owner_stops_it()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"patch-embedded-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        var options = new EmbeddedPostgresOptions { DataDirectory = dir, FsyncOff = true };
        var first = await EmbeddedPostgres.StartAsync(options);
        try
        {
            Assert.True(first.OwnsCluster);
            var ownerFile = Path.Combine(first.ClusterDirectory, "patch.owner");
            Assert.Equal(Environment.ProcessId.ToString(), File.ReadAllText(ownerFile));

            // Another live Patch process owns the cluster (the CLI beside a running server): reuse it, never stop it.
            using var other = Process.Start(new ProcessStartInfo("sleep", "30"))!;
            File.WriteAllText(ownerFile, other.Id.ToString());
            var beside = await EmbeddedPostgres.StartAsync(options);
            Assert.False(beside.OwnsCluster);
            Assert.Equal(first.ConnectionString, beside.ConnectionString);
            await beside.DisposeAsync();
            await using (var conn = new Npgsql.NpgsqlConnection(first.ConnectionString))
                await conn.OpenAsync(TestContext.Current.CancellationToken);

            // The cluster runs with JIT off (ADR 0050); one an earlier version started with it on is turned off when adopted.
            Assert.Equal("off", await ShowJitAsync(first.ConnectionString, "off"));
            await using (var on = new Npgsql.NpgsqlConnection(first.ConnectionString))
            {
                await on.OpenAsync(TestContext.Current.CancellationToken);
                await using var set = new Npgsql.NpgsqlCommand("alter system set jit = on; select pg_reload_conf();", on);
                await set.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            }
            Assert.Equal("on", await ShowJitAsync(first.ConnectionString, "on"));

            // The owner was killed with -9: the cluster still runs; the next start adopts it and stops it on shutdown.
            other.Kill();
            await other.WaitForExitAsync(TestContext.Current.CancellationToken);
            var adopter = await EmbeddedPostgres.StartAsync(options);
            Assert.True(adopter.OwnsCluster);
            Assert.Equal(first.ConnectionString, adopter.ConnectionString);
            Assert.Equal("off", await ShowJitAsync(first.ConnectionString, "off"));
            await adopter.DisposeAsync();
            await using var stopped = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(first.ConnectionString) { Pooling = false }.ConnectionString);
            await Assert.ThrowsAnyAsync<Exception>(() => stopped.OpenAsync(TestContext.Current.CancellationToken));

            // And a stopped cluster is started again on the same port with its data.
            var again = await EmbeddedPostgres.StartAsync(options);
            Assert.True(again.OwnsCluster);
            Assert.Equal(first.ConnectionString, again.ConnectionString);
        }
        finally
        {
            await first.StopAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The jit setting a new session of the cluster gets (not a pooled one, which may predate a reload), asked again for up to
    /// five seconds until it is <paramref name="expected"/>: the postmaster reads its configuration again a moment after
    /// pg_reload_conf() returns.
    /// </summary>
    private static async Task<string?> ShowJitAsync(string connectionString, string expected)
    {
        string? value = null;
        for (var attempt = 0; attempt < 50 && value != expected; attempt++)
        {
            if (attempt > 0) await Task.Delay(100, TestContext.Current.CancellationToken);
            await using var conn = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
            await conn.OpenAsync(TestContext.Current.CancellationToken);
            await using var show = new Npgsql.NpgsqlCommand("show jit", conn);
            value = (string?)await show.ExecuteScalarAsync(TestContext.Current.CancellationToken);
        }
        return value;
    }

    [Fact]
    public async Task missing_binaries_give_a_message_saying_what_to_install()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = Path.GetTempPath(), BinDirectory = "/nonexistent/bin" }));
        Assert.Contains("apt-get install postgresql", e.Message);
        Assert.Contains("ConnectionStrings:Patch", e.Message);
    }
}

public class when_importing_from_the_command_line(AppFixture app) : AppTest(app)
{
    [Fact]
    public async Task the_import_verb_imports_a_file_and_prints_the_result()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Patch.Api.dll");
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" import \"{SharedData.PathOf(SharedData.Cvrf2024)}\" --format cvrf")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.Environment["ConnectionStrings__Patch"] = await TestDatabase.ConnectionStringAsync();
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {error}\n{output}");
        using var result = JsonDocument.Parse(output);
        Assert.Equal("completed", result.RootElement.GetProperty("status").GetString());
        Assert.Equal(37, result.RootElement.GetProperty("bulletinsAdded").GetInt32());
        Assert.Equal(125, result.RootElement.GetProperty("updatesAdded").GetInt32());
        Assert.Equal(37, (await GetJsonAsync("/api/bulletins")).GetProperty("total").GetInt32());
    }
}
