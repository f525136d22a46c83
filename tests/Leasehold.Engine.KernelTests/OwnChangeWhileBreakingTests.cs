using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// A lease holder's own F_SETLEASE while its lease is being broken and the breaker waits in open(2), against the
/// engine's rule for the same (ConflictRules.ChangeOwnGrant). The kernel refuses with EAGAIN because the waiting
/// opener already counts against the lease (check_conflicting_open); the engine says BreakPending. Either way the
/// lease stays as it was, still being broken, and the breaker keeps waiting. Only the downgrade a downgrade break asks
/// for is accepted. (Where the breaker has gone, the two differ: see DeliberateDifferenceTests.)
/// </summary>
public sealed class OwnChangeWhileBreakingTests
{
    [KernelLeaseFact]
    public async Task Read_lease_asked_for_again_or_upgraded_while_a_writer_waits_is_refused_and_the_writer_still_waits()
    {
        var expected = (Again: ChangeAnswer.Refused, Upgrade: ChangeAnswer.Refused, HolderAsked.Unlock, WriterWaits: true, OpenOutcome.Proceeded);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        var kernelWrite = await b.StartOpenAsync(k.File, OpenAccess.Write);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO");
        var kernelAgain = Observe.Change(await a.SetLeaseAsync(fd, KernelLease.Read));
        var kernelUpgrade = Observe.Change(await a.SetLeaseAsync(fd, KernelLease.Write));
        var kernelAsked = await Observe.KernelAskedAsync(a, fd, KernelLease.Read);
        Assert.Contains(KernelScene.LocksOn(k.File), l => l.Contains("BREAKING  UNLCK", StringComparison.Ordinal));
        bool kernelWaits = !kernelWrite.IsCompleted; // the break time is 45 s: only A's unlock can let B in now
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Unlock)).Ok);
        var kernelOpened = Observe.Kernel(await kernelWrite.WaitAsync(Observe.UnblockTimeout));
        var kernel = (kernelAgain, kernelUpgrade, kernelAsked, kernelWaits, kernelOpened);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var engineWrite = e.StartOpen(EngineScene.B, OpenAccess.Write);
        var engineAgain = Observe.Change(e.TryLease(EngineScene.A, GrantMode.Read, holder));
        var engineUpgrade = Observe.Change(e.TryLease(EngineScene.A, GrantMode.Write, holder));
        var engineAsked = await Observe.EngineAskedAsync(e, grant, holder);
        bool engineWaits = !engineWrite.IsCompleted;
        e.Engine.Release(grant);
        var engineOpened = Observe.Engine(await engineWrite.WaitAsync(Observe.UnblockTimeout));
        var engine = (engineAgain, engineUpgrade, engineAsked, engineWaits, engineOpened);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
        await e.DrainAsync();
        Assert.Single(holder.Events); // one break notice: the refused requests changed nothing and broke nothing
    }

    [KernelLeaseFact]
    public async Task Write_lease_downgraded_while_a_writer_waits_is_refused_and_the_writer_still_waits()
    {
        var expected = (Downgrade: ChangeAnswer.Refused, HolderAsked.Unlock, WriterWaits: true, OpenOutcome.Proceeded);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        var kernelWrite = await b.StartOpenAsync(k.File, OpenAccess.Write);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO");
        var kernelDowngrade = Observe.Change(await a.SetLeaseAsync(fd, KernelLease.Read));
        var kernelAsked = await Observe.KernelAskedAsync(a, fd, KernelLease.Write);
        bool kernelWaits = !kernelWrite.IsCompleted;
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Unlock)).Ok);
        var kernelOpened = Observe.Kernel(await kernelWrite.WaitAsync(Observe.UnblockTimeout));
        var kernel = (kernelDowngrade, kernelAsked, kernelWaits, kernelOpened);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        var engineWrite = e.StartOpen(EngineScene.B, OpenAccess.Write);
        // Both ways a holder downgrades: a second request for Read, and Downgrade.
        var byRequest = Observe.Change(e.TryLease(EngineScene.A, GrantMode.Read, holder));
        var byDowngrade = Observe.Change(e.Engine.Downgrade(grant));
        Assert.Equal(byRequest, byDowngrade);
        Assert.Equal(GrantMode.Write, grant.Mode);
        var engineAsked = await Observe.EngineAskedAsync(e, grant, holder);
        bool engineWaits = !engineWrite.IsCompleted;
        e.Engine.Release(grant);
        var engineOpened = Observe.Engine(await engineWrite.WaitAsync(Observe.UnblockTimeout));
        var engine = (byRequest, engineAsked, engineWaits, engineOpened);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    [KernelLeaseFact]
    public async Task Downgrade_under_an_escalated_break_is_refused_and_lets_neither_the_reader_nor_the_writer_in()
    {
        var expected = (Downgrade: ChangeAnswer.Refused, HolderAsked.Unlock, ReaderWaits: true, WriterWaits: true,
            Reader: OpenOutcome.Proceeded, Writer: OpenOutcome.Proceeded);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        var c = await k.StartAsync("C");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        var kernelRead = await b.StartOpenAsync(k.File, OpenAccess.Read);
        // The reader's open runs in another process: wait for its SIGIO before reading the lease, or F_GETLEASE may
        // come first and see no break yet.
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO for the reader");
        Assert.Equal(HolderAsked.Downgrade, await Observe.KernelAskedAsync(a, fd, KernelLease.Write, expectedSigios: 1));
        var kernelWrite = await c.StartOpenAsync(k.File, OpenAccess.Write);
        Assert.True(await a.WaitForSigiosAsync(2, Observe.NoticeTimeout), "A got no second SIGIO for the writer");
        var kernelDowngrade = Observe.Change(await a.SetLeaseAsync(fd, KernelLease.Read));
        var kernelAsked = await Observe.KernelAskedAsync(a, fd, KernelLease.Write, expectedSigios: 2);
        var kernelWaits = (!kernelRead.IsCompleted, !kernelWrite.IsCompleted);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Unlock)).Ok);
        var kernelOpened = (Observe.Kernel(await kernelRead.WaitAsync(Observe.UnblockTimeout)), Observe.Kernel(await kernelWrite.WaitAsync(Observe.UnblockTimeout)));
        var kernel = (kernelDowngrade, kernelAsked, kernelWaits.Item1, kernelWaits.Item2, kernelOpened.Item1, kernelOpened.Item2);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        var engineRead = e.StartOpen(EngineScene.B, OpenAccess.Read);
        Assert.Equal(HolderAsked.Downgrade, await Observe.EngineAskedAsync(e, grant, holder, expectedBreaks: 1));
        var engineWrite = e.StartOpen(EngineScene.C, OpenAccess.Write);
        var byRequest = Observe.Change(e.TryLease(EngineScene.A, GrantMode.Read, holder));
        Assert.Equal(byRequest, Observe.Change(e.Engine.Downgrade(grant)));
        var engineAsked = await Observe.EngineAskedAsync(e, grant, holder, expectedBreaks: 2);
        var engineWaits = (!engineRead.IsCompleted, !engineWrite.IsCompleted);
        e.Engine.Release(grant);
        var engineOpened = (Observe.Engine(await engineRead.WaitAsync(Observe.UnblockTimeout)), Observe.Engine(await engineWrite.WaitAsync(Observe.UnblockTimeout)));
        var engine = (byRequest, engineAsked, engineWaits.Item1, engineWaits.Item2, engineOpened.Item1, engineOpened.Item2);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    [KernelLeaseFact]
    public async Task Under_a_pending_downgrade_write_again_is_refused_but_read_answers_the_break_and_lets_the_reader_in()
    {
        var expected = (Write: ChangeAnswer.Refused, AskedAfterWrite: HolderAsked.Downgrade, ReaderWaits: true,
            Read: ChangeAnswer.Accepted, AskedAfterRead: HolderAsked.Nothing, OpenOutcome.Proceeded);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        var kernelRead = await b.StartOpenAsync(k.File, OpenAccess.Read);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO");
        var kernelWriteAgain = Observe.Change(await a.SetLeaseAsync(fd, KernelLease.Write));
        var kernelAskedAfterWrite = await Observe.KernelAskedAsync(a, fd, KernelLease.Write);
        bool kernelWaits = !kernelRead.IsCompleted;
        var kernelAnswer = Observe.Change(await a.SetLeaseAsync(fd, KernelLease.Read)); // F_SETLEASE F_RDLCK: how a holder acknowledges a downgrade
        var kernelOpened = Observe.Kernel(await kernelRead.WaitAsync(Observe.UnblockTimeout));
        var kernelAskedAfterRead = await Observe.KernelAskedAsync(a, fd, KernelLease.Read);
        Assert.Contains(KernelScene.LocksOn(k.File), l => l.Contains("ACTIVE    READ", StringComparison.Ordinal));
        var kernel = (kernelWriteAgain, kernelAskedAfterWrite, kernelWaits, kernelAnswer, kernelAskedAfterRead, kernelOpened);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        var engineRead = e.StartOpen(EngineScene.B, OpenAccess.Read);
        var engineWriteAgain = Observe.Change(e.TryLease(EngineScene.A, GrantMode.Write, holder));
        var engineAskedAfterWrite = await Observe.EngineAskedAsync(e, grant, holder);
        bool engineWaits = !engineRead.IsCompleted;
        var answer = e.TryLease(EngineScene.A, GrantMode.Read, holder);
        Assert.Same(grant, answer.Grant);
        var engineOpened = Observe.Engine(await engineRead.WaitAsync(Observe.UnblockTimeout));
        var engineAskedAfterRead = await Observe.EngineAskedAsync(e, grant, holder);
        Assert.Equal((GrantState.Active, GrantMode.Read), (grant.State, grant.Mode));
        var engine = (engineWriteAgain, engineAskedAfterWrite, engineWaits, Observe.Change(answer), engineAskedAfterRead, engineOpened);

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }
}
