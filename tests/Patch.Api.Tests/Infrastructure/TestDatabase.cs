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
