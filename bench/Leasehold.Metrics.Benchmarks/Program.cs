using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Leasehold.Metrics.Benchmarks;

/// <summary>
/// Runs <see cref="CompoundMetricsBenchmarks"/>; arguments go to BenchmarkDotNet (e.g. <c>--filter '*'</c>). In this
/// process, as the engine benchmarks run: BenchmarkDotNet 0.14.0 cannot build a net10.0 child project.
/// </summary>
internal static class Program
{
    public static void Main(string[] args)
    {
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(15)
            .WithId("inprocess");
        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median)
            .WithArtifactsPath("BenchmarkDotNet.Artifacts");
        BenchmarkSwitcher.FromTypes([typeof(CompoundMetricsBenchmarks)]).Run(args.Length == 0 ? ["--filter", "*"] : args, config);
    }
}
