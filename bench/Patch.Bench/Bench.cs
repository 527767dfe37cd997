using Patch.Bench;

// Benchmarks, run by command (never by the test suite):
//   dotnet run -c Release --project bench/Patch.Bench [-- import]         catalog import (ImportBench); -- import --hashed [--calls 300]: recognitions only, percentiles
//   dotnet run -c Release --project bench/Patch.Bench -- fleet [--computers 10000,100000] [--http 2000] [--cycles 500] [--delivery-rows 3000000]
//   dotnet run -c Release --project bench/Patch.Bench -- console [--computers 100000] [--runs 20]
//   dotnet run -c Release --project bench/Patch.Bench -- store [--events 100000,1000000]
//   dotnet run -c Release --project bench/Patch.Bench -- catalog [--runs 40] [--hold seconds]
//   dotnet run -c Release --project bench/Patch.Bench -- density [--computers 100000]
//   dotnet run -c Release --project bench/Patch.Bench -- nodes [--agents 2000]
//   dotnet run -c Release --project bench/Patch.Bench -- ingest [--agents 200] [--batches 25] [--runs 3] [--server-env "NAME=value;…"]
//   dotnet run -c Release --project bench/Patch.Bench -- storm [--computers 5000] [--window 60] [--rate 0] [--concurrency 64]
//   dotnet run -c Release --project bench/Patch.Bench -- million build|analyse|month|storm|reports|catalog|footprint [--dir /var/tmp/patch-million] [--computers 1000000] [--http 100000] [--window 600] [--rate 280]
// A benchmark stopped by a signal stops the servers it started and their PostgreSQL (it would leave them running), then
// deletes its temporary folders.
using var signals = Patch.Api.Hosting.EmbeddedPostgres.StopOwnedClustersOnSignals(FleetBench.KillServers, Bench.DeleteTemporaryFolders);
return args.FirstOrDefault() switch
{
    "fleet" => await FleetBench.RunAsync(args[1..]),
    "console" => await ConsoleBench.RunAsync(args[1..]),
    "store" => await StoreBench.RunAsync(args[1..]),
    "catalog" => await CatalogBench.RunAsync(args[1..]),
    "density" => DensityBench.Run(args[1..]),
    "nodes" => await NodesBench.RunAsync(args[1..]),
    "storm" => await StormBench.RunAsync(args[1..]),
    "ingest" => await IngestBench.RunAsync(args[1..]),
    "import" => await ImportBench.RunAsync(args[1..]),
    "million" => await MillionBench.RunAsync(args[1..]),
    _ => await ImportBench.RunAsync(args),
};

namespace Patch.Bench
{
    public static class Bench
    {
        /// <summary>
        /// Every real CVRF document of shared/data/msrc-cvrf — the archive's .xml.gz and the two kept raw beside it, each in
        /// its month's place — oldest first, optionally only the years given.
        /// </summary>
        public static IReadOnlyList<string> CvrfFiles(string shared, int fromYear = 1, int toYear = 9999) =>
            Directory.GetFiles(Path.Combine(shared, "msrc-cvrf", "archive"), "*.xml.gz").Concat(Directory.GetFiles(Path.Combine(shared, "msrc-cvrf"), "*.xml"))
                .Where(f => CvrfMonth(f).Year >= fromYear && CvrfMonth(f).Year <= toYear)
                .OrderBy(CvrfMonth).ThenBy(Path.GetFileName, StringComparer.Ordinal).ToList();

        /// <summary>Documents are named by their month: 2024-Jan.xml, 2025-Jun.xml.gz, 2017-May-B.xml.gz.</summary>
        public static DateTime CvrfMonth(string path) =>
            DateTime.ParseExact(Path.GetFileName(path)[..8], "yyyy-MMM", System.Globalization.CultureInfo.InvariantCulture);

        /// <summary>A CVRF document's XML, decompressed when it is an archive's .xml.gz.</summary>
        public static byte[] ReadCvrf(string path)
        {
            if (!path.EndsWith(".gz", StringComparison.Ordinal)) return File.ReadAllBytes(path);
            using var input = new System.IO.Compression.GZipStream(File.OpenRead(path), System.IO.Compression.CompressionMode.Decompress);
            using var output = new MemoryStream();
            input.CopyTo(output);
            return output.ToArray();
        }

        /// <summary>A folder the embedded PostgreSQL (running as another user) may enter; one in the temporary folder is deleted if a signal stops the bench.</summary>
        public static string CreateDirectory(string path)
        {
            Directory.CreateDirectory(path);
            if (Path.GetFullPath(path).StartsWith(Path.GetTempPath(), StringComparison.Ordinal)) Temporary.Add(path);
            if (OperatingSystem.IsLinux()) File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32("755", 8));
            return path;
        }

        private static readonly System.Collections.Concurrent.ConcurrentBag<string> Temporary = [];

        /// <summary>The temporary folders this bench created and has not deleted (a signal stopped it: its clusters are stopped first).</summary>
        public static void DeleteTemporaryFolders()
        {
            foreach (var path in Temporary.Where(Directory.Exists))
            {
                try
                {
                    Directory.Delete(path, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"could not delete {path}: {e.Message}");
                }
            }
        }

        /// <summary>The figures' machine line: cores, OS, .NET and PostgreSQL versions, then what the bench adds.</summary>
        public static async Task<string> MachineAsync(Npgsql.NpgsqlDataSource db, string more)
        {
            await using var version = db.CreateCommand("show server_version");
            return $"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, " +
                   $"PostgreSQL {await version.ExecuteScalarAsync()}, {more}";
        }

        /// <summary>CVRF documents through the server's import route, in order.</summary>
        public static async Task ImportCvrfAsync(HttpClient http, IEnumerable<string> files)
        {
            foreach (var file in files)
                (await http.PostAsync("api/catalog/imports?format=cvrf", new ByteArrayContent(ReadCvrf(file)))).EnsureSuccessStatusCode();
        }

        public static string FindShared()
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Patch.slnx"))) return Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "data"));
            throw new DirectoryNotFoundException("pass the path of shared/data as the first argument");
        }
    }
}
