using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Leasehold.Engine.Benchmarks;

/// <summary>
/// Target 6: grant+release loops on independent files, one thread against two. Each thread has a file of its own
/// and a dedicated OS thread; rounds alternate one and two threads so background load on the machine hits both
/// alike, and the best round of each is compared (the least disturbed; medians are reported too).
/// </summary>
/// <remarks>
/// On a shared two-core machine a second thread only helps if nothing else wants the other core, so each round also
/// reads every worker's own CPU time (CLOCK_THREAD_CPUTIME_ID). "On-CPU" is the share of the round the workers actually
/// ran; "per CPU-second" throughput divides by that time instead of the wall clock. If the engine scaled perfectly,
/// two threads would do as much per CPU-second as one: the ratio of those two rates, times two, is the speedup the
/// engine would give two free cores (it still includes the cost of cache lines and locks the threads share, as far as
/// they ran at the same time).
/// </remarks>
internal static partial class ScalingMeasurement
{
    private static readonly Owner Holder = new(1, 1);
    private static readonly Owner Reader = new(2, 2);

    public static IReadOnlyList<ResultRow> Run(TimeSpan roundLength, int rounds)
    {
        var rows = new List<ResultRow>();
        foreach (bool tracked in new[] { false, true })
        {
            var one = new List<Round>();
            var two = new List<Round>();
            Measure(1, tracked, TimeSpan.FromMilliseconds(300)); // warm up the JIT
            for (int r = 0; r < rounds; r++)
            {
                one.Add(Measure(1, tracked, roundLength));
                two.Add(Measure(2, tracked, roundLength));
            }
            double best1 = one.Max(x => x.PerSecond), best2 = two.Max(x => x.PerSecond);
            double med1 = Fmt.Quantile([.. one.Select(x => x.PerSecond).Order()], 0.5), med2 = Fmt.Quantile([.. two.Select(x => x.PerSecond).Order()], 0.5);
            double cpu1 = Fmt.Quantile([.. one.Select(x => x.PerCpuSecond).Order()], 0.5), cpu2 = Fmt.Quantile([.. two.Select(x => x.PerCpuSecond).Order()], 0.5);
            double onCpu1 = one.Average(x => x.OnCpu), onCpu2 = two.Average(x => x.OnCpu);
            double gc1 = one.Average(x => x.GcPerSecond), gc2 = two.Average(x => x.GcPerSecond);
            double ratio = best2 / best1;
            rows.Add(new ResultRow(
                tracked ? "6b" : "6a",
                tracked
                    ? "Two threads vs one, grant+release on independent files kept open by another owner"
                    : "Two threads vs one, grant+release on independent idle files",
                "≥ 1.7×",
                $"{ratio:F2}× ({Fmt.Rate(best1)} → {Fmt.Rate(best2)})",
                ratio >= 1.7,
                $"best of {rounds} rounds of {roundLength.TotalSeconds:F1} s; medians {Fmt.Rate(med1)} → {Fmt.Rate(med2)} ({med2 / med1:F2}×); " +
                $"workers on CPU {onCpu1:P0} / {onCpu2:P0} of the round; per CPU-second {Fmt.Rate(cpu1)} → {Fmt.Rate(cpu2)}, " +
                $"i.e. {2 * cpu2 / cpu1:F2}× if both ran all the time; gen0 GCs {gc1:F0}/s / {gc2:F0}/s"));
        }
        return rows;
    }

    /// <param name="PerSecond">Grant+release pairs per wall-clock second, all threads together.</param>
    /// <param name="PerCpuSecond">Pairs per second of the workers' CPU time (one thread-second of CPU is one unit whatever the thread count).</param>
    /// <param name="OnCpu">The workers' CPU time over (threads × wall time).</param>
    /// <param name="GcPerSecond">Gen0 collections per second: each one stops every worker.</param>
    private readonly record struct Round(double PerSecond, double PerCpuSecond, double OnCpu, double GcPerSecond);

    private static Round Measure(int threads, bool tracked, TimeSpan length)
    {
        using var engine = new LeaseEngine();
        var files = Enumerable.Range(0, threads).Select(t => FileKey.From(50_000 + (ulong)t * 7919)).ToArray();
        if (tracked)
        {
            foreach (var file in files)
                engine.OpenAsync(file, Reader, OpenAccess.Read, BreakMode.NonBlocking).Now();
        }

        var counts = new long[threads];
        var cpuNs = new long[threads];
        bool stop = false;
        using var start = new Barrier(threads + 1);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var request = new GrantRequest(files[t], Holder, GrantKind.Lease, GrantMode.Read, UnbrokenHolder.Instance);
            long n = 0;
            start.SignalAndWait();
            long cpuStart = ThreadCpuNanoseconds();
            while (!Volatile.Read(ref stop))
            {
                engine.Release(engine.GrantNow(request));
                n++;
            }
            cpuNs[t] = ThreadCpuNanoseconds() - cpuStart;
            counts[t] = n;
        }) { IsBackground = true, Name = $"bench-worker-{t}" }).ToArray();
        foreach (var w in workers)
            w.Start();

        start.SignalAndWait();
        int gcBefore = GC.CollectionCount(0);
        long begin = Stopwatch.GetTimestamp();
        Thread.Sleep(length); // the harness's own clock; the workers never sleep
        Volatile.Write(ref stop, true);
        foreach (var w in workers)
            w.Join();
        double seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
        double cpuSeconds = cpuNs.Sum() / 1e9;
        return new Round(counts.Sum() / seconds, counts.Sum() / cpuSeconds, cpuSeconds / (threads * seconds), (GC.CollectionCount(0) - gcBefore) / seconds);
    }

    private static long ThreadCpuNanoseconds()
    {
        const int CLOCK_THREAD_CPUTIME_ID = 3;
        if (ClockGetTime(CLOCK_THREAD_CPUTIME_ID, out var ts) != 0)
            throw new InvalidOperationException($"clock_gettime failed with errno {Marshal.GetLastPInvokeError()}.");
        return ts.Seconds * 1_000_000_000 + ts.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime", SetLastError = true)]
    private static partial int ClockGetTime(int clock, out TimeSpec time);
}
