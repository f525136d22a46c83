using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// A holder that ignores a break loses the lease at the deadline. The kernel runs with lease-break-time = 1 s
/// (restored afterwards); the engine with LeaseBreakTime = 1 s on a manual clock.
/// </summary>
public sealed class DeadlineTests
{
    private static readonly TimeSpan BreakTime = TimeSpan.FromSeconds(1);

    /// <summary>Lower bound for a kernel wait of one break time: jiffies and wake-ups can only make it longer.</summary>
    private static readonly TimeSpan AlmostBreakTime = TimeSpan.FromMilliseconds(900);

    [KernelLeaseBreakTimeFact]
    public async Task Ignored_read_lease_is_taken_away_at_the_break_deadline_and_the_blocked_writer_proceeds()
    {
        var expected = (WaitedTheBreakTime: true, OpenOutcome.Proceeded, HolderLeft: "none");

        await using var k = new KernelScene();
        k.SetLeaseBreakTime(1);
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        long start = TimeProvider.System.GetTimestamp();
        var open = await b.StartOpenAsync(k.File, OpenAccess.Write);
        var opened = await open.WaitAsync(BreakTime + Observe.UnblockTimeout); // A never answers
        var waited = TimeProvider.System.GetElapsedTime(start);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout));
        var kernelLeft = await a.GetLeaseAsync(fd) == KernelLease.Unlock && KernelScene.LocksOn(k.File).Count == 0 ? "none" : "some";
        var kernel = (waited >= AlmostBreakTime, Observe.Kernel(opened), kernelLeft);

        await using var e = new EngineScene(BreakTime);
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var engineOpen = e.StartOpen(EngineScene.B, OpenAccess.Write);
        e.Clock.Advance(BreakTime - TimeSpan.FromTicks(1));
        bool notYet = !engineOpen.IsCompleted;
        e.Clock.Advance(TimeSpan.FromTicks(1));
        var engineOpened = await engineOpen.WaitAsync(Observe.UnblockTimeout);
        await holder.WaitForAsync(2, Observe.NoticeTimeout); // the break, then the revocation
        Assert.Equal([BreakTarget.Revoke], holder.Expirations.Select(x => x.Target));
        var engineLeft = grant.State == GrantState.Revoked ? "none" : "some"; // revoked: inert until A releases it
        var engine = (notYet, Observe.Engine(engineOpened), engineLeft);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    [KernelLeaseBreakTimeFact]
    public async Task Ignored_write_lease_is_downgraded_at_the_break_deadline_and_the_blocked_reader_proceeds()
    {
        var expected = (WaitedTheBreakTime: true, OpenOutcome.Proceeded, HolderKeeps: GrantMode.Read);

        await using var k = new KernelScene();
        k.SetLeaseBreakTime(1);
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        long start = TimeProvider.System.GetTimestamp();
        var open = await b.StartOpenAsync(k.File, OpenAccess.Read);
        var opened = await open.WaitAsync(BreakTime + Observe.UnblockTimeout);
        var waited = TimeProvider.System.GetElapsedTime(start);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout));
        var kernelKeeps = await a.GetLeaseAsync(fd) switch
        {
            KernelLease.Read => GrantMode.Read,
            KernelLease.Write => GrantMode.Write,
            var other => throw new Xunit.Sdk.XunitException($"A has {other} after the deadline"),
        };
        Assert.Contains(KernelScene.LocksOn(k.File), l => l.Contains("ACTIVE    READ", StringComparison.Ordinal));
        var kernel = (waited >= AlmostBreakTime, Observe.Kernel(opened), kernelKeeps);

        await using var e = new EngineScene(BreakTime);
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        var engineOpen = e.StartOpen(EngineScene.B, OpenAccess.Read);
        e.Clock.Advance(BreakTime - TimeSpan.FromTicks(1));
        bool notYet = !engineOpen.IsCompleted;
        e.Clock.Advance(TimeSpan.FromTicks(1));
        var engineOpened = await engineOpen.WaitAsync(Observe.UnblockTimeout);
        await holder.WaitForAsync(2, Observe.NoticeTimeout);
        Assert.Equal([BreakTarget.Downgrade], holder.Expirations.Select(x => x.Target));
        Assert.Equal(GrantState.Active, grant.State);
        var engine = (notYet, Observe.Engine(engineOpened), grant.Mode);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }
}
