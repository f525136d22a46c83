using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Leasehold.Engine.Benchmarks;

/// <summary>The BenchmarkDotNet half of the run: its configuration, and the rows it contributes to the results table.</summary>
internal static class BdnRun
{
    public static readonly Type[] Classes =
    [
        typeof(GrantReleaseBenchmarks),
        typeof(ConflictCheckBenchmarks),
        typeof(BreakRoundTripBenchmarks),
        typeof(FanOutBreakBenchmarks),
    ];

    /// <summary>Diagnostic classes, reachable through <c>bdn -- --filter</c> only.</summary>
    public static readonly Type[] Diagnostics = [typeof(PrimitiveCostBenchmarks)];

    /// <summary>
    /// BenchmarkDotNet 0.14.0 (the only version on our package mirror) predates net10.0 and cannot generate and build a
    /// child project for it, so benchmarks run in this process through the emitting in-process toolchain. A short job
    /// (3 warm-up and 12 measured iterations, one launch) keeps the whole run to a few minutes.
    /// </summary>
    public static IConfig Config(string artifacts, bool quick)
    {
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(quick ? 1 : 3)
            .WithIterationCount(quick ? 3 : 12)
            .WithId(quick ? "quick-inprocess" : "short-inprocess");
        return ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median, StatisticColumn.P95)
            .WithArtifactsPath(artifacts);
    }

    public static IReadOnlyList<ResultRow> Run(string artifacts, bool quick)
    {
        var summaries = BenchmarkRunner.Run(Classes, Config(artifacts, quick));
        var reports = summaries.SelectMany(s => s.Reports).ToList();

        BenchmarkReport Report(string method) =>
            reports.SingleOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method && r.ResultStatistics is not null)
            ?? throw new InvalidOperationException($"BenchmarkDotNet produced no result for {method}; see the log above.");
        double Mean(string method) => Report(method).ResultStatistics!.Mean;
        double Median(string method) => Report(method).ResultStatistics!.Median;
        long Allocated(string method)
        {
            var r = Report(method);
            return r.GcStats.GetBytesAllocatedPerOperation(r.BenchmarkCase) ?? -1;
        }

        double kernel = Mean(nameof(GrantReleaseBenchmarks.KernelPair));
        double idle = Mean(nameof(GrantReleaseBenchmarks.EngineIdleFile));
        double tracked = Mean(nameof(GrantReleaseBenchmarks.EngineTrackedFile));
        double untrackedCheck = Mean(nameof(ConflictCheckBenchmarks.UntrackedFileOpenWrite));
        double openedCheck = Mean(nameof(ConflictCheckBenchmarks.OpenedFileOpenWrite));
        long untrackedAlloc = Allocated(nameof(ConflictCheckBenchmarks.UntrackedFileOpenWrite));
        long openedAlloc = Allocated(nameof(ConflictCheckBenchmarks.OpenedFileOpenWrite));

        return
        [
            new ResultRow("1a", "Grant+release of a read lease, idle file (state created and retired each time) vs kernel pair", "≥ 10× kernel",
                $"{kernel / idle:F1}× ({Fmt.Ns(idle)}/pair = {Fmt.Rate(1e9 / idle)})", kernel / idle >= 10,
                $"{Allocated(nameof(GrantReleaseBenchmarks.EngineIdleFile))} B allocated per pair"),
            new ResultRow("1b", "Grant+release of a read lease, file kept open by another owner, vs kernel pair", "≥ 10× kernel",
                $"{kernel / tracked:F1}× ({Fmt.Ns(tracked)}/pair = {Fmt.Rate(1e9 / tracked)})", kernel / tracked >= 10,
                $"{Allocated(nameof(GrantReleaseBenchmarks.EngineTrackedFile))} B allocated per pair"),
            new ResultRow("1k", "Kernel fcntl(F_SETLEASE, F_RDLCK) + fcntl(F_SETLEASE, F_UNLCK), same run", "baseline",
                $"{Fmt.Ns(kernel)}/pair = {Fmt.Rate(1e9 / kernel)}", null, "P/Invoke on a read-only fd of a temp file on ext4"),
            new ResultRow("2a", "Conflict check: BreakAsync(OpenWrite, NonBlocking) on an untracked file", "≤ 50 ns, 0 B",
                $"{Fmt.Ns(untrackedCheck)}, {untrackedAlloc} B", untrackedCheck <= 50 && untrackedAlloc == 0),
            new ResultRow("2b", "Conflict check: BreakAsync(OpenWrite, NonBlocking) on a file with only opens (2 owners)", "≤ 50 ns, 0 B",
                $"{Fmt.Ns(openedCheck)}, {openedAlloc} B", openedCheck <= 50 && openedAlloc == 0),
            new ResultRow("3b", "Grant + awaited break + release, as BenchmarkDotNet times it (mean per op)", "context",
                Fmt.Ns(Mean(nameof(BreakRoundTripBenchmarks.GrantThenAwaitBreak))), null,
                $"median of iteration means {Fmt.Ns(Median(nameof(BreakRoundTripBenchmarks.GrantThenAwaitBreak)))}; includes the grant and a blocked-thread wake-up per op"),
            new ResultRow("4b", "Writer breaks 10,000 read delegations, as BenchmarkDotNet times it (median)", "context",
                Fmt.Ns(Median(nameof(FanOutBreakBenchmarks.BreakAll))), null,
                $"mean {Fmt.Ns(Mean(nameof(FanOutBreakBenchmarks.BreakAll)))}"),
        ];
    }
}
