using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Patch.Api.Hosting;

public sealed class EmbeddedPostgresOptions
{
    /// <summary>The cluster lives in <c>{DataDirectory}/postgres</c>.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Folder with initdb/pg_ctl/postgres; found automatically when null.</summary>
    public string? BinDirectory { get; init; }

    public string Database { get; init; } = "patch";

    /// <summary>Only for throwaway test clusters: never for a user's data.</summary>
    public bool FsyncOff { get; init; }
}

/// <summary>
/// A private PostgreSQL cluster that Patch starts itself when no connection string is configured (ADR 0006).
/// It survives the app being killed: a cluster already running on its recorded port is reused.
/// </summary>
public sealed class EmbeddedPostgres : IAsyncDisposable
{
    private readonly EmbeddedPostgresOptions _options;
    private readonly string _bin;
    private readonly string _clusterDir;
    private readonly bool _asPostgresUser;
    private int _port;

    /// <summary>
    /// True when this process started the cluster, or adopted one whose owner is gone (Patch was killed with -9);
    /// false when another live Patch process owns it (the CLI beside a running server). Only the owner stops it.
    /// </summary>
    public bool OwnsCluster { get; private set; }

    private EmbeddedPostgres(EmbeddedPostgresOptions options, string bin)
    {
        _options = options;
        _bin = bin;
        _clusterDir = Path.Combine(Path.GetFullPath(options.DataDirectory), "postgres");
        _asPostgresUser = OperatingSystem.IsLinux() && Environment.UserName == "root";
    }

    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = _port, Username = "postgres", Database = _options.Database, Pooling = true, MaxPoolSize = 50,
    }.ConnectionString;

    public string ClusterDirectory => _clusterDir;

    public static async Task<EmbeddedPostgres> StartAsync(EmbeddedPostgresOptions options, Action<string>? log = null)
    {
        var bin = FindBinaries(options.BinDirectory) ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install the PostgreSQL server " +
            "(Debian/Ubuntu: apt-get install postgresql; the binaries land in /usr/lib/postgresql/<version>/bin), set " +
            "Patch:PostgresBinDirectory to the folder that holds them, or point ConnectionStrings:Patch at an existing PostgreSQL database.");
        var pg = new EmbeddedPostgres(options, bin);
        await pg.StartClusterAsync(log ?? (_ => { }));
        return pg;
    }

    public static string? FindBinaries(string? configured)
    {
        static bool Has(string dir) => File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "initdb"));
        if (!string.IsNullOrWhiteSpace(configured)) return Has(configured) ? configured : null;
        var candidates = new List<string>();
        if (Directory.Exists("/usr/lib/postgresql"))
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).Select(d => Path.Combine(d, "bin")));
        candidates.AddRange(Directory.Exists("/usr/pgsql") ? ["/usr/pgsql/bin"] : []);
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        return candidates.FirstOrDefault(Has);
    }

    private async Task StartClusterAsync(Action<string> log)
    {
        var portFile = Path.Combine(_clusterDir, "patch.port");
        if (!File.Exists(Path.Combine(_clusterDir, "PG_VERSION")))
        {
            Directory.CreateDirectory(_clusterDir);
            EnsureAccessible(_clusterDir);
            log($"Creating a PostgreSQL cluster in {_clusterDir}");
            await RunAsync("initdb", $"-D \"{_clusterDir}\" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8");
        }

        _port = File.Exists(portFile) && int.TryParse(File.ReadAllText(portFile).Trim(), out var p) ? p : 0;
        var ownerFile = Path.Combine(_clusterDir, "patch.owner");
        if (_port > 0 && await IsRunningAsync() && await CanConnectAsync())
        {
            var owner = File.Exists(ownerFile) && int.TryParse(File.ReadAllText(ownerFile).Trim(), out var pid) ? pid : 0;
            OwnsCluster = owner == 0 || owner == Environment.ProcessId || !IsAlive(owner);
            log(OwnsCluster
                ? $"Reusing the PostgreSQL cluster already running on port {_port} (its previous owner is gone; this process stops it on shutdown)"
                : $"Reusing the PostgreSQL cluster running on port {_port}, owned by the running Patch process {owner}");
        }
        else
        {
            if (_port == 0 || !IsPortFree(_port)) _port = FreePort();
            await WriteOwnedAsync(portFile, _port.ToString());
            var settings = $"-p {_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{_clusterDir}'" + (_options.FsyncOff ? " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" : "");
            log($"Starting PostgreSQL on 127.0.0.1:{_port}");
            await RunAsync("pg_ctl", $"-D \"{_clusterDir}\" -l \"{Path.Combine(_clusterDir, "server.log")}\" -o \"{settings}\" -w -t 60 start");
            OwnsCluster = true;
        }

        if (OwnsCluster)
        {
            await WriteOwnedAsync(ownerFile, Environment.ProcessId.ToString());
            Owned[this] = 0;
        }

        await EnsureDatabaseAsync();
    }

    private async Task<bool> IsRunningAsync()
    {
        var (code, _) = await RunAsync("pg_ctl", $"-D \"{_clusterDir}\" status", throwOnError: false);
        return code == 0;
    }

    private async Task<bool> CanConnectAsync()
    {
        try
        {
            await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = _port, Username = "postgres", Database = "postgres", Timeout = 5, Pooling = false }.ConnectionString);
            await conn.OpenAsync();
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private async Task EnsureDatabaseAsync()
    {
        await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = _port, Username = "postgres", Database = "postgres", Pooling = false }.ConnectionString);
        await conn.OpenAsync();
        // No JIT compilation of plans (ADR 0050): Patch's statements take milliseconds; a plan past jit_above_cost spent ≈ 10 ms
        // compiling. Kept in the cluster's own configuration, so a cluster started by an earlier version and adopted has it too.
        await using (var jit = new NpgsqlCommand("show jit", conn))
            if (await jit.ExecuteScalarAsync() is not "off")
            {
                await using var off = new NpgsqlCommand("alter system set jit = off", conn);
                await off.ExecuteNonQueryAsync();
                await using var reload = new NpgsqlCommand("select pg_reload_conf()", conn);
                await reload.ExecuteScalarAsync();
            }
        await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @name", conn);
        exists.Parameters.AddWithValue("name", _options.Database);
        if (await exists.ExecuteScalarAsync() is null)
        {
            await using var create = new NpgsqlCommand($"create database \"{_options.Database.Replace("\"", "")}\"", conn);
            await create.ExecuteNonQueryAsync();
        }
    }

    /// <summary>Stops the cluster (fast shutdown). Data stays for the next start.</summary>
    public async Task StopAsync()
    {
        Owned.TryRemove(this, out _);
        await RunAsync("pg_ctl", $"-D \"{_clusterDir}\" -m fast -w stop", throwOnError: false);
    }

    /// <summary>The clusters this process started and has not stopped.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<EmbeddedPostgres, byte> Owned = new();

    /// <summary>
    /// A process that exits without stopping a cluster it started (a command or a benchmark leaving by an exception past
    /// its disposal) would leave it running, owned by no one, in a folder nothing reuses: its clusters are stopped at the
    /// process's exit. A signal raises no exit event since .NET 10: see <see cref="StopOwnedClustersOnSignals"/>.
    /// </summary>
    static EmbeddedPostgres() => AppDomain.CurrentDomain.ProcessExit += (_, _) => StopOwned();

    private static void StopOwned()
    {
        foreach (var pg in Owned.Keys) pg.StopAsync().GetAwaiter().GetResult();
    }

    /// <summary>
    /// For a process that no host stops on a signal (a benchmark, a tool): when it is sent SIGTERM or SIGINT, the clusters
    /// it started are stopped (after <paramref name="first"/>: its own children that use them; before
    /// <paramref name="then"/>: what it leaves behind, such as their folders), then the signal ends it as before. Since
    /// .NET 10 a SIGTERM raises no <see cref="AppDomain.ProcessExit"/>, so the exit event covers only a normal exit. A
    /// server leaves this to its host, which shuts down gracefully and stops its cluster then.
    /// </summary>
    public static IDisposable StopOwnedClustersOnSignals(Action? first = null, Action? then = null)
    {
        void Stop(System.Runtime.InteropServices.PosixSignalContext _)
        {
            first?.Invoke();
            StopOwned();
            then?.Invoke();
        }
        return new Registrations([System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Stop),
            System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Stop)]);
    }

    private sealed class Registrations(IReadOnlyList<IDisposable> all) : IDisposable
    {
        public void Dispose()
        {
            foreach (var registration in all) registration.Dispose();
        }
    }

    /// <summary>Stops the cluster only if this process owns it: a reused cluster may serve another Patch process.</summary>
    public async ValueTask DisposeAsync()
    {
        if (OwnsCluster) await StopAsync();
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private async Task<(int Code, string Output)> RunAsync(string tool, string arguments, bool throwOnError = true)
    {
        var exe = Path.Combine(_bin, tool);
        var psi = _asPostgresUser
            ? new ProcessStartInfo("runuser", $"-u postgres -- \"{exe}\" {arguments}")
            : new ProcessStartInfo(exe, arguments);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.WorkingDirectory = "/";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {exe}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = (await stdout) + (await stderr);
        if (throwOnError && process.ExitCode != 0)
            throw new InvalidOperationException($"{tool} failed with exit code {process.ExitCode}: {output.Trim()}");
        return (process.ExitCode, output);
    }

    /// <summary>As root, the cluster folder must belong to the postgres user, and every folder above it must let that user through.</summary>
    private void EnsureAccessible(string dir)
    {
        if (!_asPostgresUser || !OperatingSystem.IsLinux()) return;
        for (var d = Path.GetDirectoryName(dir); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
        {
            var mode = File.GetUnixFileMode(d);
            if ((mode & UnixFileMode.OtherExecute) == 0)
                throw new InvalidOperationException(
                    $"The postgres user cannot reach {dir}: {d} is not searchable by other users (mode {Convert.ToString((int)mode, 8)}). " +
                    "Set Patch:DataDirectory to a folder outside it (the default when running as root is /var/lib/patch).");
        }
        Chown(dir);
    }

    private async Task WriteOwnedAsync(string file, string content)
    {
        await File.WriteAllTextAsync(file, content);
        if (_asPostgresUser) Chown(file);
    }

    private static void Chown(string path)
    {
        using var chown = Process.Start(new ProcessStartInfo("chown", $"-R postgres:postgres \"{path}\"") { UseShellExecute = false })!;
        chown.WaitForExit();
        if (chown.ExitCode != 0) throw new InvalidOperationException($"chown postgres {path} failed.");
    }

    private static bool IsPortFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The default data folder: /var/lib/patch as root (the postgres user cannot enter /root), else ~/.local/share/patch.</summary>
    public static string DefaultDataDirectory()
    {
        if (OperatingSystem.IsLinux() && Environment.UserName == "root") return "/var/lib/patch";
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var baseDir = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share") : xdg;
        return Path.Combine(baseDir, "patch");
    }
}
