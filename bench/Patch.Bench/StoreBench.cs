using System.Diagnostics;
using System.Runtime.InteropServices;
using Marten;
using Npgsql;
using Patch.Api.Hosting;
using Patch.Domain.Computers;

namespace Patch.Bench;

/// <summary>
/// Export and import of the whole store (issue 13 §5): a store of N agent status events (1,000 streams), exported to
/// an archive and imported into an empty database (with every read model rebuilt), next to a raw binary COPY of the
/// same event rows out of PostgreSQL; the process's working set sampled during each, so its peak can be compared from
/// 100,000 to 1,000,000 events.
/// </summary>
public static class StoreBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var sizes = (args.SkipWhile(a => a != "--events").Skip(1).FirstOrDefault() ?? "100000,1000000").Split(',').Select(int.Parse).Order().ToList();
        var dir = Path.Combine(Path.GetTempPath(), $"patch-bench-{Guid.NewGuid():N}");
        Bench.CreateDirectory(dir);
        var pg = await EmbeddedPostgres.StartAsync(new EmbeddedPostgresOptions { DataDirectory = dir, Database = "patch_bench" });
        try
        {
            await using var store = new DocumentStore(PatchServices.ConfigureStore(pg.ConnectionString));
            await using var db = NpgsqlDataSource.Create(pg.ConnectionString);
            await Patch.Projections.ReadModelSchema.EnsureAsync(db, store, CancellationToken.None);
            Console.WriteLine(await Bench.MachineAsync(db, $"fsync on"));
            Console.WriteLine($"{"events",10} {"archive MB",11} {"export s",9} {"export ev/s",12} {"COPY out rows/s",16} {"export peak MB",15} {"import s",9} {"import ev/s",12} {"import peak MB",15}");
            var seeded = 0;
            foreach (var size in sizes)
            {
                seeded = await SeedAsync(store, seeded, size);
                var file = Path.Combine(dir, $"store-{size}.patch.gz");
                var (export, exportPeak) = await MeasureAsync(() => StoreArchive.ExportAsync(db, file, true, null, CancellationToken.None));
                // The baseline: PostgreSQL's own binary COPY of the same rows out to the client (no JSON, no compression, no hashing).
                var copy = Stopwatch.StartNew();
                long rows;
                await using (var conn = await db.OpenConnectionAsync())
                {
                    await using (var raw = await conn.BeginRawBinaryCopyAsync("copy patch.mt_events to stdout (format binary)"))
                        await raw.CopyToAsync(Stream.Null);
                    await using var count = new NpgsqlCommand("select count(*) from patch.mt_events", conn);
                    rows = (long)(await count.ExecuteScalarAsync())!;
                }
                var copySeconds = copy.Elapsed.TotalSeconds;
                var target = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { Database = $"patch_import_{size}" }.ConnectionString;
                await using (var admin = db.CreateCommand($"create database patch_import_{size}")) await admin.ExecuteNonQueryAsync();
                await using var targetStore = new DocumentStore(PatchServices.ConfigureStore(target));
                await using var targetDb = NpgsqlDataSource.Create(target);
                var (import, importPeak) = await MeasureAsync(() => StoreImport.ImportAsync(targetDb, targetStore, file, null, CancellationToken.None));
                Console.WriteLine($"{size,10} {new FileInfo(file).Length / 1048576.0,11:F1} {export,9:F1} {size / export,12:F0} {rows / copySeconds,16:F0} {exportPeak,15:F0} {import,9:F1} {size / import,12:F0} {importPeak,15:F0}");
                File.Delete(file);
            }
            return 0;
        }
        finally
        {
            await pg.StopAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Appends status events up to <paramref name="to"/>: 1,000 streams, 10,000 events per transaction.</summary>
    private static async Task<int> SeedAsync(DocumentStore store, int from, int to)
    {
        var now = DateTimeOffset.UtcNow;
        for (var n = from; n < to;)
        {
            await using var session = store.LightweightSession();
            for (var i = 0; i < 10_000 && n < to; i++, n++)
            {
                var computer = $"bench-{n % 1000:D4}";
                session.Events.Append(AgentStatusReported.StreamId(computer),
                    new AgentStatusReported(Computer.StreamId(computer), Guid.NewGuid(), now.AddSeconds(-n), "Installed", "KB5034441", "u-1", $"event {n}", null, null));
            }
            await session.SaveChangesAsync();
        }
        return to;
    }

    /// <summary>The work's seconds and the process's peak working set above where it started (MB), sampled every 20 ms.</summary>
    private static async Task<(double Seconds, double PeakMb)> MeasureAsync(Func<Task> work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var start = process.WorkingSet64;
        var peak = start;
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                process.Refresh();
                peak = Math.Max(peak, process.WorkingSet64);
                await Task.Delay(20);
            }
        });
        var clock = Stopwatch.StartNew();
        await work();
        var seconds = clock.Elapsed.TotalSeconds;
        done.Cancel();
        await sampler;
        return (seconds, (peak - start) / 1048576.0);
    }
}
