using System.Diagnostics;
using Patch.Domain.Agents;
using Patch.Domain.Applicability;

namespace Patch.Bench;

/// <summary>
/// How dense the realistic estate is (issue 16 §1): <see cref="RealisticFleet"/>'s computers analysed in process by the
/// server's own rule engine against the 24 real months of 2024–2025 — applicable rows per computer (the compliance
/// rows the analysis writes: installed, missing, superseded), their distribution, by release and by patch level.
/// </summary>
public static class DensityBench
{
    public static int Run(string[] args)
    {
        var computers = int.Parse(FleetBench.Option(args, "--computers", "100000"));
        var shared = FleetBench.Option(args, "--shared", Bench.FindShared());
        var clock = Stopwatch.StartNew();
        var fleet = new RealisticFleet(RealisticFleet.LoadCatalog(shared));
        Console.WriteLine($"catalog: 2024-Jan … 2025-Dec, {fleet.Catalog.Updates.Count:N0} updates, read in {clock.Elapsed.TotalSeconds:F1} s");
        clock.Restart();
        var rows = new (string Release, int Behind, int Installed, int Missing, int Superseded, int Kbs)[computers];
        Parallel.For(0, computers, i =>
        {
            var (inventory, release, behind) = fleet.Computer(i);
            int installed = 0, missing = 0, superseded = 0;
            foreach (var (_, state) in UpdateStates.Applicable(fleet.Catalog, InventoryFacts.Of(inventory)))
            {
                if (state == UpdateState.Installed) installed++;
                else if (state == UpdateState.Missing) missing++;
                else if (state == UpdateState.Superseded) superseded++;
            }
            rows[i] = (release.Name, behind, installed, missing, superseded, inventory.InstalledKbs.Count);
        });
        Console.WriteLine($"{computers:N0} computers generated and analysed in {clock.Elapsed.TotalSeconds:F1} s");

        static string Spread(IEnumerable<int> values)
        {
            var v = values.Order().ToArray();
            double P(double p) => v[Math.Min(v.Length - 1, (int)Math.Ceiling(p * v.Length) - 1)];
            return $"mean {v.Average(),6:F1}  min {v[0],3}  p10 {P(0.10),3}  p50 {P(0.50),3}  p90 {P(0.90),3}  p99 {P(0.99),3}  max {v[^1],3}";
        }

        var total = rows.Select(r => r.Installed + r.Missing + r.Superseded).ToList();
        Console.WriteLine($"applicable rows per computer: {Spread(total)}");
        Console.WriteLine($"  installed {rows.Sum(r => (long)r.Installed) / (double)computers:F1}, missing {rows.Sum(r => (long)r.Missing) / (double)computers:F1}, " +
                          $"superseded {rows.Sum(r => (long)r.Superseded) / (double)computers:F1} per computer; installed KBs {rows.Average(r => r.Kbs):F1}");
        Console.WriteLine($"  at 1,000,000 computers: ≈ {total.Average() * 1_000_000 / 1e6:F1} million compliance rows");
        Console.WriteLine("by release:");
        foreach (var g in rows.GroupBy(r => r.Release).OrderByDescending(g => g.Count()))
            Console.WriteLine($"  {g.Key,-24} {g.Count() * 100.0 / computers,5:F1} %  rows {Spread(g.Select(r => r.Installed + r.Missing + r.Superseded))}  missing {g.Average(r => r.Missing):F1}");
        Console.WriteLine("by patch level (months behind 2025-Dec; -1 = never patched):");
        foreach (var g in rows.GroupBy(r => r.Behind < 0 ? "never" : r.Behind <= 2 ? r.Behind.ToString() : r.Behind <= 11 ? "3-11" : "12-23").OrderBy(g => g.Min(r => r.Behind)))
            Console.WriteLine($"  {g.Key,-6} {g.Count() * 100.0 / computers,5:F1} %  rows {g.Average(r => r.Installed + r.Missing + r.Superseded),5:F1}  missing {g.Average(r => r.Missing),5:F1}");
        // A few computers in full, to see what "missing" means for them.
        var show = int.Parse(FleetBench.Option(args, "--show", "0"));
        for (var i = 0; i < show; i++)
        {
            var (inventory, release, behind) = fleet.Computer(i);
            Console.WriteLine($"computer {i}: {release.Name} {inventory.Architecture} {inventory.OsVersion} {behind} months behind, KBs {string.Join(' ', inventory.InstalledKbs)}");
            foreach (var (u, state) in UpdateStates.Applicable(fleet.Catalog, InventoryFacts.Of(inventory)).Where(s => s.State == UpdateState.Missing))
                Console.WriteLine($"  missing {u.BulletinNumber} {u.Released:yyyy-MM-dd} {u.Update.Product} {u.Update.FixedBuild}");
        }
        return total.Average() >= 30 ? 0 : 1;
    }
}
