using System.Diagnostics;
using System.Globalization;
using Leasehold.Cluster;
using Leasehold.Engine;
using Microsoft.Extensions.Logging.Abstractions;

namespace Leasehold.LoadGen;

/// <summary>
/// Token acquisitions through etcd (issue 11). Two cluster nodes in this process, each a <see cref="LeaseEngine"/> joined
/// to the etcd named by <c>--etcd</c> under a prefix of their own (so real nodes sharing the etcd are not disturbed):
/// <list type="number">
/// <item>uncontended: node A's <c>--sessions</c> workers each open a file no node has touched for write and close it,
/// for the window: every open is one token acquisition (one range read and one compare-and-swap transaction);</item>
/// <item>contended: node B opens for write, one file at a time, files A holds every right on: B asks A through A's
/// inbox, A gives back its delegation rights (no delegation to recall), B's transaction succeeds. Timed per file from
/// B's open to its completion.</item>
/// </list>
/// </summary>
internal sealed class TokenBench(LoadGenOptions options, TextWriter output)
{
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        string prefix = $"/leasehold-tokenbench-{Environment.ProcessId}/";
        var time = TimeProvider.System;
        await using var a = await JoinAsync("bench-a", prefix, cancellationToken);
        await using var b = await JoinAsync("bench-b", prefix, cancellationToken);
        await using var engineA = new LeaseEngine(timeProvider: time, authority: a.Authority, tokens: a.Tokens);
        await using var engineB = new LeaseEngine(timeProvider: time, authority: b.Authority, tokens: b.Tokens);
        a.Bind(engineA);
        b.Bind(engineB);
        output.WriteLine($"leasehold-loadgen: tokens through etcd {string.Join(",", options.Etcd!)}: two nodes in this process; " +
            $"{options.Sessions} workers; {options.Warmup.TotalSeconds:0.#} s warm-up + {options.Duration.TotalSeconds:0.#} s measured");

        // 1. Uncontended: each open of a fresh file is one acquisition.
        long next = 0;
        var owner = new Owner(1, 1);
        var latencies = new List<long>[options.Sessions];
        long warmupEnd = Stopwatch.GetTimestamp() + (long)(options.Warmup.TotalSeconds * Stopwatch.Frequency);
        long end = warmupEnd + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        await Parallel.ForAsync(0, options.Sessions, new ParallelOptions { MaxDegreeOfParallelism = options.Sessions, CancellationToken = cancellationToken }, async (w, ct) =>
        {
            var mine = latencies[w] = new List<long>(4096);
            while (true)
            {
                long started = Stopwatch.GetTimestamp();
                if (started >= end)
                    break;
                var file = FileKey.From((ulong)Interlocked.Increment(ref next));
                var opened = await engineA.OpenAsync(file, owner, OpenAccess.Write, BreakMode.Await, ct);
                if (!opened.CanProceed)
                    throw new InvalidOperationException($"node A could not open fresh file {file}: {opened.Status}");
                engineA.Close(file, owner, OpenAccess.Write);
                if (started >= warmupEnd)
                    mine.Add(Stopwatch.GetTimestamp() - started);
            }
        });
        var all = new Latencies(latencies.SelectMany(l => l).ToList());
        double seconds = options.Duration.TotalSeconds;
        var ci = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(ci, $"uncontended: {all.Count / seconds:0} acquisitions/s ({all.Count} opens of fresh files in the {seconds:0.#} s window; " +
            $"{a.TokenAcquisitions} etcd token writes for {next} opens in all); latency (us): {all.Line()}"));

        // 2. Contended: B takes the write right on files A holds everything on, one at a time.
        int contended = Math.Min(500, (int)Math.Min(next, int.MaxValue));
        var handover = new List<long>(contended);
        var bOwner = new Owner(2, 1);
        for (int i = 1; i <= contended; i++)
        {
            var file = FileKey.From((ulong)i);
            long started = Stopwatch.GetTimestamp();
            var opened = await engineB.OpenAsync(file, bOwner, OpenAccess.Write, BreakMode.Await, cancellationToken);
            if (!opened.CanProceed)
                throw new InvalidOperationException($"node B could not take file {file} from node A: {opened.Status}");
            handover.Add(Stopwatch.GetTimestamp() - started);
            engineB.Close(file, bOwner, OpenAccess.Write);
        }
        var h = new Latencies(handover);
        output.WriteLine(string.Create(ci, $"contended (B takes W from A through A's inbox), {h.Count} files one at a time: latency (us): {h.Line()}"));
        output.WriteLine(string.Create(ci, $"| tokens | {options.Sessions} | {all.Count / seconds:0} | {all.Percentile(50):0} | {all.Percentile(99):0} | {h.Percentile(50):0} | {h.Percentile(99):0} |"));
        return 0;
    }

    private async Task<EtcdCluster> JoinAsync(string node, string prefix, CancellationToken ct) =>
        await EtcdCluster.JoinAsync(new ClusterOptions { Etcd = options.Etcd!, Node = node, Prefix = prefix }, TimeProvider.System, NullLoggerFactory.Instance, ct);
}
