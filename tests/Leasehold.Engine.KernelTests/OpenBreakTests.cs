using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// Opens by another process against a lease, in the kernel and in the engine. Each test runs the scenario on both
/// sides, turns what it saw into the same words, and checks both against the outcome the kernel is known to give.
/// </summary>
public sealed class OpenBreakTests
{
    [KernelLeaseFact]
    public async Task Read_lease_survives_another_process_opening_for_read()
    {
        var expected = (OpenOutcome.Proceeded, HolderAsked.Nothing);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        var opened = await b.TryOpenAsync(k.File, OpenAccess.Read);
        var kernel = (Observe.Kernel(opened), await Observe.KernelAskedAsync(a, fd, KernelLease.Read));

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var result = e.TryOpen(EngineScene.B, OpenAccess.Read);
        var engine = (Observe.Engine(result), await Observe.EngineAskedAsync(e, grant, holder));

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
        Assert.Equal(0, a.Sigios);
        await e.DrainAsync();
        Assert.Empty(holder.Events);
    }

    [KernelLeaseFact]
    public async Task Read_lease_holder_is_told_to_unlock_when_another_process_opens_for_write()
    {
        var expected = (OpenOutcome.WouldBlock, HolderAsked.Unlock);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        var opened = await b.TryOpenAsync(k.File, OpenAccess.Write);
        var kernel = (Observe.Kernel(opened), await Observe.KernelAskedAsync(a, fd, KernelLease.Read));

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var result = e.TryOpen(EngineScene.B, OpenAccess.Write);
        var engine = (Observe.Engine(result), await Observe.EngineAskedAsync(e, grant, holder));

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    [KernelLeaseFact]
    public async Task Write_lease_holder_is_told_to_downgrade_when_another_process_opens_for_read_and_the_reader_gets_in_once_it_does()
    {
        var expected = (HolderAsked.Downgrade, ReaderWaitedForTheHolder: true, OpenOutcome.Proceeded, HolderKeeps: GrantMode.Read);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        var kernelOpen = await b.StartOpenAsync(k.File, OpenAccess.Read);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO");
        var kernelAsked = await Observe.KernelAskedAsync(a, fd, KernelLease.Write);
        bool kernelWaited = !kernelOpen.IsCompleted; // the break time is 45 s: only A's answer can let B in now
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        var kernelOpened = await kernelOpen.WaitAsync(Observe.UnblockTimeout);
        var kernelKeeps = await a.GetLeaseAsync(fd) == KernelLease.Read ? GrantMode.Read : GrantMode.Write;
        Assert.Contains(KernelScene.LocksOn(k.File), l => l.Contains("ACTIVE    READ", StringComparison.Ordinal));
        var kernel = (kernelAsked, kernelWaited, Observe.Kernel(kernelOpened), kernelKeeps);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        var engineOpen = e.StartOpen(EngineScene.B, OpenAccess.Read);
        var engineAsked = await Observe.EngineAskedAsync(e, grant, holder);
        bool engineWaited = !engineOpen.IsCompleted;
        Assert.True(e.Engine.Downgrade(grant));
        var engineOpened = await engineOpen.WaitAsync(Observe.UnblockTimeout);
        var engine = (engineAsked, engineWaited, Observe.Engine(engineOpened), grant.Mode);
        Assert.Equal(GrantState.Active, grant.State);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    [KernelLeaseFact]
    public async Task Write_lease_holder_is_told_to_unlock_when_another_process_opens_for_write()
    {
        var expected = (OpenOutcome.WouldBlock, HolderAsked.Unlock);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        var opened = await b.TryOpenAsync(k.File, OpenAccess.Write);
        var kernel = (Observe.Kernel(opened), await Observe.KernelAskedAsync(a, fd, KernelLease.Write));

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        var result = e.TryOpen(EngineScene.B, OpenAccess.Write);
        var engine = (Observe.Engine(result), await Observe.EngineAskedAsync(e, grant, holder));

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    [KernelLeaseFact]
    public async Task Holder_is_signalled_once_when_a_second_writer_meets_a_pending_unlock()
    {
        // Both sides: a lease already being taken away is not broken again, so its holder hears of it once.
        var expected = (OpenOutcome.WouldBlock, OpenOutcome.WouldBlock, HolderAsked.Unlock, Notices: 1);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        var c = await k.StartAsync("C");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        var first = Observe.Kernel(await b.TryOpenAsync(k.File, OpenAccess.Write));
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO for the first writer");
        var second = Observe.Kernel(await c.TryOpenAsync(k.File, OpenAccess.Write));
        // Absence of a signal can only be shown by waiting: half a second is ages for a signal that, when it is
        // sent, is sent from inside the open(2) that just returned.
        Assert.False(await a.WaitForSigiosAsync(2, TimeSpan.FromMilliseconds(500)), "A got a second SIGIO");
        var kernel = (first, second, await Observe.KernelAskedAsync(a, fd, KernelLease.Read), a.Sigios);

        var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var engineFirst = Observe.Engine(e.TryOpen(EngineScene.B, OpenAccess.Write));
        var engineSecond = Observe.Engine(e.TryOpen(EngineScene.C, OpenAccess.Write));
        var engineAsked = await Observe.EngineAskedAsync(e, grant, holder);
        await e.DrainAsync(); // every notice queued so far has now been delivered: the count is final
        var engine = (engineFirst, engineSecond, engineAsked, holder.Breaks.Count);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    [KernelLeaseFact]
    public async Task Pending_downgrade_is_escalated_to_unlock_with_a_second_signal_when_a_writer_arrives()
    {
        // fs/locks.c sets FL_UNLOCK_PENDING on a lease that is only FL_DOWNGRADE_PENDING and calls lm_break again.
        var expected = (HolderAsked.Downgrade, HolderAsked.Unlock, Notices: 2);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        var c = await k.StartAsync("C");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        Assert.True((await b.TryOpenAsync(k.File, OpenAccess.Read)).WouldBlock);
        var kernelFirst = await Observe.KernelAskedAsync(a, fd, KernelLease.Write, expectedSigios: 1);
        Assert.True((await c.TryOpenAsync(k.File, OpenAccess.Write)).WouldBlock);
        var kernelSecond = await Observe.KernelAskedAsync(a, fd, KernelLease.Write, expectedSigios: 2);
        var kernel = (kernelFirst, kernelSecond, a.Sigios);

        var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.B, OpenAccess.Read).Status);
        var engineFirst = await Observe.EngineAskedAsync(e, grant, holder, expectedBreaks: 1);
        Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.C, OpenAccess.Write).Status);
        var engineSecond = await Observe.EngineAskedAsync(e, grant, holder, expectedBreaks: 2);
        await e.DrainAsync();
        var engine = (engineFirst, engineSecond, holder.Breaks.Count);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }
}
