using BenchmarkDotNet.Running;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Benchmarks of the lease engine against the targets in docs/benchmarks.md. bench/run-engine-benchmarks.sh runs every
/// mode, each in its own process, then <c>summary</c>.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: Leasehold.Engine.Benchmarks MODE [--quick] [--results DIR]
          bdn         BenchmarkDotNet: targets 1-4 (kernel baseline, conflict check, break round trip, fan-out)
          bdn -- ARGS BenchmarkDotNet's own command line (e.g. -- --filter '*Conflict*'); writes no result rows
          roundtrip   target 3: per-operation median of an awaited break answered from OnBreak
          fanout      target 4: a writer breaks 10,000 read delegations
          scaling     target 6: grant+release throughput, one thread against two
          memory      target 5: heap of 1,000,000 delegations (run it in a fresh process)
          summary     print the table of every result row written so far
          --quick     fewer iterations, for checking that the modes work; not for numbers
          --results   where result rows go (default BenchmarkDotNet.Artifacts/engine-results)
        """;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        string mode = args[0];
        int passThrough = Array.IndexOf(args, "--");
        var own = passThrough < 0 ? args[1..] : args[1..passThrough];
        bool quick = own.Contains("--quick");
        int resultsAt = Array.IndexOf(own, "--results");
        string resultsDir = resultsAt >= 0 && resultsAt + 1 < own.Length
            ? own[resultsAt + 1]
            : Path.Combine("BenchmarkDotNet.Artifacts", "engine-results");
        var store = new ResultStore(resultsDir);

        switch (mode)
        {
            case "bdn" when passThrough >= 0:
                BenchmarkSwitcher.FromTypes([.. BdnRun.Classes, .. BdnRun.Diagnostics]).Run(args[(passThrough + 1)..], BdnRun.Config("BenchmarkDotNet.Artifacts", quick));
                return 0;
            case "bdn":
                store.Write(mode, BdnRun.Run("BenchmarkDotNet.Artifacts", quick));
                return 0;
            case "roundtrip":
                store.Write(mode, await RoundTripMeasurement.RunAsync(quick ? 2_000 : 50_000, quick ? 5_000 : 200_000));
                return 0;
            case "fanout":
                store.Write(mode, await FanOutMeasurement.RunAsync(quick ? 1 : 3, quick ? 3 : 30));
                return 0;
            case "scaling":
                store.Write(mode, ScalingMeasurement.Run(TimeSpan.FromSeconds(quick ? 0.3 : 0.5), quick ? 2 : 10));
                return 0;
            case "memory":
                store.Write(mode, HeapMeasurement.Run(quick ? 100_000 : 1_000_000));
                return 0;
            case "summary":
                Console.WriteLine(store.Summarize());
                return 0;
            default:
                Console.Error.WriteLine($"Unknown mode '{mode}'.");
                Console.Error.WriteLine(Usage);
                return 2;
        }
    }
}
