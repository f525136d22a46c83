using System.Globalization;

namespace Leasehold.LoadGen;

/// <summary>
/// The same meta, read, seqread or seqwrite run against several servers in turn (<see cref="LoadGenOptions.Rounds"/> rounds,
/// the order reversed every other round: A B, B A, A B, ...), so that servers compared share the machine's conditions
/// and none always runs first or right after the same one; prints each run and then the per-server mean, median and
/// ratio to the first server.
/// </summary>
internal sealed class CompareRunner(LoadGenOptions options, TimeProvider time, TextWriter output)
{
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var targets = options.Targets!;
        var results = targets.ToDictionary(t => t.Label, _ => new List<RunSummary>());
        for (int round = 1; round <= options.Rounds; round++)
        {
            foreach (var target in round % 2 == 1 ? targets : targets.AsEnumerable().Reverse())
            {
                output.WriteLine($"--- round {round} of {options.Rounds}: {target.Label}");
                var runner = new Runner(options, target.Server, target.Path, target.Label, time, output, target.Pid);
                results[target.Label].Add(await runner.MeasureAsync(cancellationToken));
                output.WriteLine();
            }
        }

        var ci = CultureInfo.InvariantCulture;
        bool sequential = options.Workload.IsSequential();
        output.WriteLine($"comparison: {options.Workload.Name()}, {options.Sessions}x{options.Depth}, {options.Rounds} rounds, " +
            $"warmup {options.Warmup.TotalSeconds:0.#} s + window {options.Duration.TotalSeconds:0.#} s each, servers alternating (order reversed every other round)");
        output.WriteLine("| server | ops/s per round | mean ops/s | median ops/s | " + (sequential ? "MiB/s per round | median MiB/s | " : "") +
            "median p50 (us) | median p99 (us) | median p99.9 (us) | server CPU per compound (us) | errors | mean vs first |");
        output.WriteLine("|---|---|---|---|" + (sequential ? "---|---|" : "") + "---|---|---|---|---|---|");
        double firstMean = results[targets[0].Label].Average(r => r.OpsPerSecond);
        foreach (var target in targets)
        {
            var runs = results[target.Label];
            double mean = runs.Average(r => r.OpsPerSecond);
            string mib = sequential
                ? string.Create(ci, $"{string.Join(", ", runs.Select(r => (r.MiBPerSecond ?? 0).ToString("0.0", ci)))} | {Median(runs.Select(r => r.MiBPerSecond ?? 0)):0.0} | ")
                : "";
            output.WriteLine(string.Create(ci,
                $"| {target.Label} | {string.Join(", ", runs.Select(r => r.OpsPerSecond.ToString("0", ci)))} | {mean:0} | {Median(runs.Select(r => r.OpsPerSecond)):0} | {mib}" +
                $"{Median(runs.Select(r => r.P50)):0} | {Median(runs.Select(r => r.P99)):0} | {Median(runs.Select(r => r.P999)):0} | " +
                $"{(runs.All(r => r.ServerCpuPerCompound is not null) ? Median(runs.Select(r => r.ServerCpuPerCompound!.Value)).ToString("0.0", ci) : "-")} | " +
                $"{runs.Sum(r => r.Errors)} | {mean / firstMean:0.000} |"));
        }
        return results.Values.SelectMany(r => r).Any(r => r.Errors > 0) ? 3 : 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
