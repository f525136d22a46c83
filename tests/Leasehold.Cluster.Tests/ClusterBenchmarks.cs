using System.Diagnostics;
using System.Globalization;
using Leasehold.Cluster.Tests.Etcd;
using Leasehold.Engine;
using Xunit.Abstractions;

namespace Leasehold.Cluster.Tests;

/// <summary>A benchmark run by hand, not a timed unit test: skipped unless LEASEHOLD_BENCH=1 (and etcd-server is installed).</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ClusterBenchmarkAttribute : FactAttribute
{
    public ClusterBenchmarkAttribute()
    {
        if (EtcdClusterFixture.Unavailable is { } reason)
            Skip = reason;
        else if (Environment.GetEnvironmentVariable("LEASEHOLD_BENCH") != "1")
            Skip = "A benchmark: run with LEASEHOLD_BENCH=1 dotnet test tests/Leasehold.Cluster.Tests --filter ClusterBenchmarks --logger \"console;verbosity=detailed\"";
    }
}

/// <summary>What the token protocol costs against three local etcd members, engines in-process (no NFS).</summary>
[Collection(EtcdCollection.Name)]
public sealed class ClusterBenchmarks(ITestOutputHelper output) : EtcdNodeTests
{
    private static string Percentiles(List<double> ms)
    {
        ms.Sort();
        double At(double q) => ms[Math.Min(ms.Count - 1, (int)(q * ms.Count))];
        return string.Create(CultureInfo.InvariantCulture, $"p50 {At(0.5):F2} ms, p99 {At(0.99):F2} ms, max {ms[^1]:F2} ms over {ms.Count}");
    }

    [ClusterBenchmark]
    public async Task Cross_node_recall_and_acquisition()
    {
        var a = await ClusterNode.StartAsync(ClusterNode.Options(Etcd.Endpoints, "a"));
        var b = await ClusterNode.StartAsync(ClusterNode.Options(Etcd.Endpoints, "b"));
        Nodes.AddRange([a, b]);

        // B's write open while A holds a read delegation (returned at once): until A's holder hears the recall, and until B's open proceeds.
        var toRecall = new List<double>();
        var toOpen = new List<double>();
        for (int i = 0; i < 220; i++)
        {
            var file = FileKey.From(0x1000 + (ulong)i);
            Assert.Equal(GrantStatus.Granted, (await a.DelegateAsync(file, GrantMode.Read)).Status);
            int before = a.Holder.Breaks.Count;
            long start = Stopwatch.GetTimestamp();
            var opened = b.Engine.OpenAsync(file, new Owner(2, 1), OpenAccess.Write, BreakMode.Await).AsTask();
            await a.Holder.WaitForAsync(before + 1);
            long recalled = Stopwatch.GetTimestamp();
            Assert.True((await opened).CanProceed);
            long done = Stopwatch.GetTimestamp();
            if (i >= 20)
            {
                toRecall.Add(Stopwatch.GetElapsedTime(start, recalled).TotalMilliseconds);
                toOpen.Add(Stopwatch.GetElapsedTime(start, done).TotalMilliseconds);
            }
        }
        output.WriteLine($"B's open to A's recall notice: {Percentiles(toRecall)}");
        output.WriteLine($"B's open to proceed (recall returned, token moved): {Percentiles(toOpen)}");

        // Uncontended acquisitions on distinct files through one node.
        const int Files = 1000;
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < Files; i++)
            Assert.True((await a.Engine.OpenAsync(FileKey.From(0x100000 + (ulong)i), new Owner(1, 1), OpenAccess.Read, BreakMode.Await)).CanProceed);
        var serial = Stopwatch.GetElapsedTime(t0);
        t0 = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Files).Select(i => a.Engine.OpenAsync(FileKey.From(0x200000 + (ulong)i), new Owner(1, 1), OpenAccess.Read, BreakMode.Await).AsTask()));
        var parallel = Stopwatch.GetElapsedTime(t0);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"token acquisitions on distinct files: {Files / serial.TotalSeconds:F0}/s one at a time, {Files / parallel.TotalSeconds:F0}/s {Files} at once"));

        // OPEN/CLOSE on a node-local file once the token is held: no etcd at all.
        var local = FileKey.From(0x300000);
        Assert.True((await a.Engine.OpenAsync(local, new Owner(1, 1), OpenAccess.Read, BreakMode.Await)).CanProceed);
        long acquisitions = a.Cluster.TokenAcquisitions;
        t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < 100_000; i++)
        {
            await a.Engine.OpenAsync(local, new Owner(3, 1), OpenAccess.ReadWrite, BreakMode.NonBlocking);
            a.Engine.Close(local, new Owner(3, 1), OpenAccess.ReadWrite);
        }
        var elapsed = Stopwatch.GetElapsedTime(t0);
        await using var single = new LeaseEngine(ownerMatcher: OwnerMatchers.SameGroup);
        Assert.True((await single.OpenAsync(local, new Owner(1, 1), OpenAccess.Read, BreakMode.Await)).CanProceed);
        t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < 100_000; i++)
        {
            await single.OpenAsync(local, new Owner(3, 1), OpenAccess.ReadWrite, BreakMode.NonBlocking);
            single.Close(local, new Owner(3, 1), OpenAccess.ReadWrite);
        }
        var alone = Stopwatch.GetElapsedTime(t0);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"node-local OPEN+CLOSE: {100_000 / elapsed.TotalSeconds:F0}/s on a cluster node ({a.Cluster.TokenAcquisitions - acquisitions} etcd writes), {100_000 / alone.TotalSeconds:F0}/s on an engine without tokens"));
    }
}
