using System.Diagnostics;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Target 3, per operation: the time from a writer's <c>BreakAsync(OpenWrite, Await)</c> call until its await resumes,
/// while the lease holder releases from its OnBreak notice. That is two thread-pool hops (the notice, then the
/// writer's continuation) plus the engine work in between. The loop runs on a thread-pool thread, as a server's
/// request handler would, and times each break on its own so the median is a median of operations.
/// </summary>
internal static class RoundTripMeasurement
{
    private static readonly FileKey File = FileKey.From(30);
    private static readonly Owner Holder = new(1, 1);
    private static readonly Owner Writer = new(2, 2);

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(int warmup, int samples)
    {
        await using var engine = new LeaseEngine();
        var holder = new ReleasingHolder(engine);
        await Task.Run(() => LoopAsync(engine, holder, warmup)).ConfigureAwait(false);
        var ticks = await Task.Run(() => LoopAsync(engine, holder, samples)).ConfigureAwait(false);

        var ns = ticks.Select(t => t * 1e9 / Stopwatch.Frequency).Order().ToArray();
        double median = Fmt.Quantile(ns, 0.5), p90 = Fmt.Quantile(ns, 0.9), p99 = Fmt.Quantile(ns, 0.99);
        if (holder.Breaks != warmup + samples)
            throw new InvalidOperationException($"The holder heard {holder.Breaks} breaks, expected {warmup + samples}.");
        return
        [
            new ResultRow("3", "Break round trip (writer awaits, holder releases in OnBreak), median", "≤ 10 µs", Fmt.Ns(median), median <= 10_000,
                $"p90 {Fmt.Ns(p90)}, p99 {Fmt.Ns(p99)}, {samples:N0} breaks after {warmup:N0} warm-up"),
        ];
    }

    private static async Task<long[]> LoopAsync(LeaseEngine engine, ReleasingHolder holder, int count)
    {
        var ticks = new long[count];
        for (int i = 0; i < count; i++)
        {
            engine.GrantNow(new GrantRequest(File, Holder, GrantKind.Lease, GrantMode.Read, holder));
            long start = Stopwatch.GetTimestamp();
            var result = await engine.BreakAsync(File, FileOperation.OpenWrite, Writer, BreakMode.Await);
            ticks[i] = Stopwatch.GetTimestamp() - start;
            if (!result.CanProceed)
                throw new InvalidOperationException($"The writer got {result.Status}.");
        }
        return ticks;
    }
}
