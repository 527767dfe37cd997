using Patch.Api.Hosting;
using Patch.Application.Hosting;

namespace Patch.Api.Tests.Infrastructure;

/// <summary>
/// One throwaway PostgreSQL cluster per test run: a temp folder, a free port, fsync off. A machine without the
/// PostgreSQL server binaries fails every database test; nothing is skipped.
/// </summary>
public static class TestDatabase
{
    private static readonly Lazy<Task<EmbeddedPostgres>> Cluster = new(StartAsync);

    public static async Task<string> ConnectionStringAsync() => (await Cluster.Value).ConnectionString;

    /// <summary>Another database on the same cluster, created when missing: for a host that must not share the main one's data.</summary>
    public static async Task<string> ConnectionStringAsync(string database)
    {
        var main = new Npgsql.NpgsqlConnectionStringBuilder(await ConnectionStringAsync());
        await using (var conn = new Npgsql.NpgsqlConnection(main.ConnectionString))
        {
            await conn.OpenAsync();
            await using var exists = new Npgsql.NpgsqlCommand("select count(*) from pg_database where datname = $1", conn) { Parameters = { new() { Value = database } } };
            if ((long)(await exists.ExecuteScalarAsync())! == 0)
            {
                await using var create = new Npgsql.NpgsqlCommand($"create database \"{database}\"", conn);
                await create.ExecuteNonQueryAsync();
            }
        }
        return new Npgsql.NpgsqlConnectionStringBuilder(main.ConnectionString) { Database = database }.ConnectionString;
    }

    private static async Task<EmbeddedPostgres> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"patch-tests-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(dir);
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_tests", FsyncOff = true });
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            pg.StopAsync().GetAwaiter().GetResult();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return pg;
    }
}
