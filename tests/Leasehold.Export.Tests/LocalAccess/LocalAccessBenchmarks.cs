using System.Diagnostics;
using System.Globalization;
using Leasehold.Export.LocalAccess;
using Leasehold.Testing;
using Xunit.Abstractions;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>A benchmark run by hand, not a timed unit test: skipped unless LEASEHOLD_BENCH=1 (and local access can be guarded).</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class LocalAccessBenchmarkAttribute : FactAttribute
{
    public LocalAccessBenchmarkAttribute()
    {
        if (LocalAccessSupport.Unavailable is { } reason)
            Skip = reason;
        else if (Environment.GetEnvironmentVariable("LEASEHOLD_BENCH") != "1")
            Skip = "A benchmark: run with LEASEHOLD_BENCH=1 dotnet test tests/Leasehold.Export.Tests --filter LocalAccessBenchmarks --logger \"console;verbosity=detailed\"";
    }
}

/// <summary>
/// How long a local open waits for a guard whose holder lets go at once, and what a guard costs. Both processes read
/// CLOCK_MONOTONIC (Stopwatch), so the child's timestamps around open(2) and the sink's arrival time compare directly.
/// </summary>
public sealed class LocalAccessBenchmarks(ExportFixture fixture, ITestOutputHelper output) : IClassFixture<ExportFixture>
{
    [LocalAccessBenchmark]
    public async Task Local_open_wait()
    {
        const int Tries = 1000;
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        var toSink = new List<double>();
        var disposeToReturn = new List<double>();
        var whole = new List<double>();
        for (int i = 0; i < Tries + 20; i++)
        {
            scene.Sink.Clear();
            var guard = scene.GuardOk(file, GuardMode.Read);
            Task<ProbeReply> open = await child.StartCommandAsync($"timedopen {path} w");
            var report = await scene.Sink.WaitForAsync(ino, LocalAccessKind.OpenWrite);
            long released = Stopwatch.GetTimestamp();
            guard.Dispose();
            ProbeReply reply = await open.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(reply.Ok, reply.ToString());
            string[] f = reply.Value.Split(' ');
            long before = long.Parse(f[1], CultureInfo.InvariantCulture), after = long.Parse(f[2], CultureInfo.InvariantCulture);
            await child.OkAsync($"close {f[0]}");
            if (i < 20)
                continue; // warm-up: JIT, first signals
            toSink.Add(Stopwatch.GetElapsedTime(before, report.At).TotalMicroseconds);
            disposeToReturn.Add(Stopwatch.GetElapsedTime(released, after).TotalMicroseconds);
            whole.Add(Stopwatch.GetElapsedTime(before, after).TotalMicroseconds);
        }
        output.WriteLine($"{Tries} tries, guard released as soon as the sink was called (includes the test's own reaction):");
        output.WriteLine($"  child open() -> OnLocalAccess:   {Percentiles(toSink)}");
        output.WriteLine($"  guard Dispose -> open() returns: {Percentiles(disposeToReturn)}");
        output.WriteLine($"  open() wait in all:              {Percentiles(whole)}");
    }

    [LocalAccessBenchmark]
    public async Task Cost_of_guards()
    {
        const int Files = 10_000;
        using var scene = await GuardScene.StartAsync(fixture, o => o.MaxKernelLeases = Files);
        var handles = new List<FileHandle>(Files);
        for (int i = 0; i < Files; i++)
            handles.Add((await scene.NewFileAsync("")).Handle);
        int fdsBefore = Directory.GetFiles("/proc/self/fd").Length;
        var slabBefore = Slabs();
        GC.Collect();
        long managedBefore = GC.GetTotalMemory(forceFullCollection: true);

        var guards = new List<IDisposable>(Files);
        long start = Stopwatch.GetTimestamp();
        foreach (FileHandle handle in handles)
            guards.Add(scene.GuardOk(handle, GuardMode.Read));
        TimeSpan take = Stopwatch.GetElapsedTime(start);

        int fdsHeld = Directory.GetFiles("/proc/self/fd").Length - fdsBefore;
        var slabHeld = Slabs();
        long managedHeld = GC.GetTotalMemory(forceFullCollection: true) - managedBefore;

        start = Stopwatch.GetTimestamp();
        foreach (var guard in guards)
            guard.Dispose();
        TimeSpan release = Stopwatch.GetElapsedTime(start);

        output.WriteLine($"{Files} read guards: take {take.TotalMicroseconds / Files:F1} µs each (handle resolve + open + F_SETSIG + F_SETOWN_EX + F_SETLEASE + fanotify mark), release {release.TotalMicroseconds / Files:F1} µs each");
        output.WriteLine($"  descriptors held: {fdsHeld}; managed bytes held: {managedHeld} ({(double)managedHeld / Files:F0} per guard)");
        foreach (var (name, count) in slabHeld)
            output.WriteLine($"  slab {name}: +{count - slabBefore.GetValueOrDefault(name)} objects");
        Assert.Equal(0, scene.Leases.Count);
    }

    private static string Percentiles(List<double> microseconds)
    {
        microseconds.Sort();
        double At(double p) => microseconds[Math.Min(microseconds.Count - 1, (int)(p * microseconds.Count))];
        return string.Create(CultureInfo.InvariantCulture, $"p50 {At(0.50):F0} µs, p90 {At(0.90):F0} µs, p99 {At(0.99):F0} µs, max {microseconds[^1]:F0} µs");
    }

    private static Dictionary<string, long> Slabs()
    {
        var counts = new Dictionary<string, long>();
        foreach (string line in File.ReadAllLines("/proc/slabinfo"))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 1 && f[0] is "file_lease_cache" or "filp" or "fanotify_mark" or "fsnotify_mark_connector" or "fanotify_fid_event")
                counts[f[0]] = long.Parse(f[1], CultureInfo.InvariantCulture);
        }
        return counts;
    }
}
