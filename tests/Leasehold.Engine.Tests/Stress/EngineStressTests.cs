using Leasehold.Testing;
using Xunit.Abstractions;

namespace Leasehold.Engine.Tests.Stress;

/// <summary>
/// Randomized stress of the engine on the real clock: many tasks grant, open, break, release, downgrade, upgrade and
/// cancel on a few files for a few seconds while a checker watches the invariants of <c>FileState</c>. The seed is
/// printed and is part of every failure message; set LEASEHOLD_STRESS_SEED to rerun with it. (The thread interleaving
/// is not reproducible, only the workers' choices are.) All cases are in one class so xUnit runs them one at a time:
/// in parallel they would only compete for the machine's cores and blur the deadline checks.
/// </summary>
public sealed class EngineStressTests(ITestOutputHelper output)
{
    private static readonly TimeSpan WorkTime = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(5);

    private static StressConfig Scenario(int scenario, int seed) => scenario switch
    {
        0 => new StressConfig("exact owners, every kind breakable in time", seed, OwnerMatchers.Exact,
            LeaseBreakTime: Ms(60), DelegationBreakTime: Ms(40), LayoutBreakTime: Ms(100), RecallWindow: Ms(150), WorkTime),
        1 => new StressConfig("owner groups, delegations revoked at once", seed, OwnerMatchers.SameGroup,
            LeaseBreakTime: Ms(30), DelegationBreakTime: TimeSpan.Zero, LayoutBreakTime: Ms(80), RecallWindow: Ms(150), WorkTime),
        2 => new StressConfig("owner groups, leases revoked at once", seed, OwnerMatchers.SameGroup,
            LeaseBreakTime: TimeSpan.Zero, DelegationBreakTime: Ms(50), LayoutBreakTime: Ms(100), RecallWindow: Ms(100), WorkTime),
        _ => throw new ArgumentOutOfRangeException(nameof(scenario)),
    };

    /// <summary>
    /// The pool starts with one thread per core and, when those are busy, adds about one every half second. The test
    /// host's own start-up holds some for a moment, and the first case then measured the pool's warm-up (checker gaps of
    /// 700 ms, every deadline late) instead of the engine. A floor of 16 threads takes that out; it is put back after.
    /// </summary>
    private sealed class ThreadPoolFloor : IDisposable
    {
        private readonly int _workers;
        private readonly int _io;

        public ThreadPoolFloor(int minimum)
        {
            ThreadPool.GetMinThreads(out _workers, out _io);
            ThreadPool.SetMinThreads(Math.Max(minimum, _workers), _io);
        }

        public void Dispose() => ThreadPool.SetMinThreads(_workers, _io);
    }

    private static TimeSpan Ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static int NewSeed() =>
        int.TryParse(Environment.GetEnvironmentVariable("LEASEHOLD_STRESS_SEED"), out int seed) ? seed : Random.Shared.Next();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Random_workload_keeps_invariants_and_leaves_nothing_behind(int scenario)
    {
        using var floor = new ThreadPoolFloor(16);
        var run = new StressRun(Scenario(scenario, NewSeed()));
        output.WriteLine(run.Config.ToString());

        using (var stop = new CancellationTokenSource(run.Config.WorkTime))
        {
            var checker = run.CheckLoopAsync(stop.Token);
            var workers = run.RunWorkersAsync(stop.Token);
            await WithinAsync(run, workers, run.Config.WorkTime + StopBound, "the workers to stop");
            await WithinAsync(run, checker, StopBound, "the checker to stop");
        }
        await run.WaitForLeftBreakingAsync();
        await run.CheckQuietBreaksAsync();
        await run.DrainHolderTasksAsync(StopBound);
        run.CheckSnapshot();
        await run.DrainAsync();
        await WithinAsync(run, run.Engine.DisposeAsync().AsTask(), StopBound, "DisposeAsync");
        if (run.Clock.LiveTimers != 0 || run.Clock.ChangesAfterDispose != 0)
            run.Violation($"after disposal {run.Clock.LiveTimers} timers are alive; {run.Clock.ChangesAfterDispose} changes hit a disposed timer");
        run.CheckBreakLogs();

        // The workload must have reached the paths under test, or a passing run proves nothing.
        RequireAtLeast(run, "checker.pass", 50);
        RequireAtLeast(run, "grant.Granted", 100);
        RequireAtLeast(run, "grant.ConflictingGrant", 1);
        RequireAtLeast(run, "grant.ConflictingOpen", 1);
        RequireAtLeast(run, "grant.BreakPending", 1);
        RequireAtLeast(run, "holder.expired.Revoke", 1);
        if (run.Config.LeaseBreakTime > TimeSpan.Zero)
            RequireAtLeast(run, "holder.break.Downgrade", 3);
        RequireAtLeast(run, "nonblocking.WouldBlock", 10);
        RequireAtLeast(run, "await.waited.Proceed", 10);
        RequireAtLeast(run, "await.cancelled", 1);
        RequireAtLeast(run, "breaks.checked", 10);
        RequireAtLeast(run, "quiet.checked", 6);
        RequireAtLeast(run, "downgrade.refused-while-breaking", 3); // holders did try to change grants under a revoke

        output.WriteLine(run.Report());
        Assert.True(run.ViolationCount == 0, run.Report());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Disposing_mid_flight_ends_every_call_cleanly(int scenario)
    {
        using var floor = new ThreadPoolFloor(16);
        int seed = NewSeed();
        // Long delegation breaks keep breakers parked, so the disposal finds some waiting.
        var run = new StressRun(new StressConfig($"dispose mid-flight #{scenario}", seed,
            scenario == 0 ? OwnerMatchers.Exact : OwnerMatchers.SameGroup,
            LeaseBreakTime: Ms(50), DelegationBreakTime: Ms(1000), LayoutBreakTime: Ms(80), RecallWindow: Ms(200),
            WorkTime: TimeSpan.FromSeconds(10)));
        output.WriteLine(run.Config.ToString());
        run.ExpectDispose();
        var engine = run.Engine;

        using var stop = new CancellationTokenSource();
        var checker = run.CheckLoopAsync(stop.Token);
        var workers = run.RunWorkersAsync(stop.Token);
        await Task.Delay(new Random(seed).Next(400, 1200));

        // One breaker certain to be parked when the engine goes: a delegation that nobody answers, on a file of its own.
        var file = FileKey.From(1000);
        var silent = new RecordingHolder("silent");
        var grant = engine.GrantAsync(new GrantRequest(file, new Owner(9, 1), GrantKind.Delegation, GrantMode.Write, silent)).Now().Grant!;
        var parked = engine.BreakAsync(file, FileOperation.Unlink, new Owner(8, 1), BreakMode.Await).AsTask();
        Assert.False(parked.IsCompleted, $"the unlink should wait for the delegation ({run.Config})");

        var disposedAt = run.Now;
        await WithinAsync(run, engine.DisposeAsync().AsTask(), StopBound, "DisposeAsync");
        await Assert.ThrowsAsync<ObjectDisposedException>(() => parked.WaitAsync(StopBound));

        // Nobody tells the workers to stop: each must end by meeting the disposed engine (and nothing else) soon.
        await WithinAsync(run, workers, StopBound, "the workers to end");
        await WithinAsync(run, checker, StopBound, "the checker to end");
        await stop.CancelAsync();
        await run.DrainHolderTasksAsync(StopBound);
        if (run.Clock.LiveTimers != 0 || run.Clock.ChangesAfterDispose != 0)
            run.Violation($"after disposal {run.Clock.LiveTimers} timers are alive; {run.Clock.ChangesAfterDispose} changes hit a disposed timer");

        // After disposal every call that asks for something fails; giving things back is a harmless no-op.
        var request = new GrantRequest(file, new Owner(9, 2), GrantKind.Lease, GrantMode.Read, silent);
        Assert.Throws<ObjectDisposedException>(() => engine.Snapshot());
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.GrantAsync(request));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.OpenAsync(file, new Owner(8, 1), OpenAccess.Read, BreakMode.Await));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.BreakAsync(file, FileOperation.Truncate, new Owner(8, 1), BreakMode.NonBlocking));
        Assert.Throws<ObjectDisposedException>(() => engine.Downgrade(grant));
        engine.Release(grant);
        engine.Close(file, new Owner(8, 1), OpenAccess.Read);

        run.CheckBreakLogs(disposedAt);
        RequireAtLeast(run, "worker.ended-by-dispose", run.Config.Workers);
        RequireAtLeast(run, "grant.Granted", 5);
        output.WriteLine($"tracked files after disposal: {engine.TrackedFiles}");
        output.WriteLine(run.Report());
        Assert.True(run.ViolationCount == 0, run.Report());
    }

    private static async Task WithinAsync(StressRun run, Task task, TimeSpan bound, string what)
    {
        try
        {
            await task.WaitAsync(bound);
        }
        catch (TimeoutException)
        {
            run.Violation($"timed out after {bound.TotalSeconds} s waiting for {what}");
        }
    }

    private static void RequireAtLeast(StressRun run, string counter, long minimum)
    {
        long value = run.Counter(counter);
        if (value < minimum)
            run.Violation($"the workload reached '{counter}' {value} times, fewer than {minimum}: the run did not exercise what it should");
    }
}
