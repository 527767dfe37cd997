using Patch.Bench;

// Benchmarks, run by command (never by the test suite):
//   dotnet run -c Release --project bench/Patch.Bench                     catalog import (ImportBench)
//   dotnet run -c Release --project bench/Patch.Bench -- fleet [--computers 10000,100000] [--http 2000] [--cycles 500] [--delivery-rows 3000000]
//   dotnet run -c Release --project bench/Patch.Bench -- console [--computers 100000] [--runs 20]
//   dotnet run -c Release --project bench/Patch.Bench -- store [--events 100000,1000000]
//   dotnet run -c Release --project bench/Patch.Bench -- catalog [--runs 40] [--hold seconds]
//   dotnet run -c Release --project bench/Patch.Bench -- density [--computers 100000]
//   dotnet run -c Release --project bench/Patch.Bench -- nodes [--agents 2000]
return args.FirstOrDefault() switch
{
    "fleet" => await FleetBench.RunAsync(args[1..]),
    "console" => await ConsoleBench.RunAsync(args[1..]),
    "store" => await StoreBench.RunAsync(args[1..]),
    "catalog" => await CatalogBench.RunAsync(args[1..]),
    "density" => DensityBench.Run(args[1..]),
    "nodes" => await NodesBench.RunAsync(args[1..]),
    _ => await ImportBench.RunAsync(args),
};

namespace Patch.Bench
{
    public static class Bench
    {
        public static string FindShared()
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Patch.slnx"))) return Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "data"));
            throw new DirectoryNotFoundException("pass the path of shared/data as the first argument");
        }
    }
}
