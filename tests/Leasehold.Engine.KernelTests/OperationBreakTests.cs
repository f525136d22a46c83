using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>Operations other than open against leases: truncate breaks them; unlink and rename do not.</summary>
public sealed class OperationBreakTests
{
    [KernelLeaseFact]
    public async Task Truncate_by_another_process_waits_until_every_read_lease_holder_lets_go()
    {
        var expected = (AskedA: HolderAsked.Unlock, AskedB: HolderAsked.Unlock, WaitingAfterFirstRelease: true, OpenOutcome.Proceeded);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        var c = await k.StartAsync("C");
        int fdA = await a.OpenAsync(k.File, OpenAccess.Read);
        int fdB = await b.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fdA, KernelLease.Read)).Ok);
        Assert.True((await b.SetLeaseAsync(fdB, KernelLease.Read)).Ok);
        var truncate = await c.StartCommandAsync($"truncate {k.File} 0");
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout) && await b.WaitForSigiosAsync(1, Observe.NoticeTimeout), "a holder got no SIGIO");
        var kernelA = await Observe.KernelAskedAsync(a, fdA, KernelLease.Read);
        var kernelB = await Observe.KernelAskedAsync(b, fdB, KernelLease.Read);
        Assert.True((await a.SetLeaseAsync(fdA, KernelLease.Unlock)).Ok);
        // B still holds its lease: a finished truncate now would be a bug. Give a wrongly woken truncate time to show.
        await Task.WhenAny(truncate, Task.Delay(TimeSpan.FromMilliseconds(300)));
        bool kernelWaiting = !truncate.IsCompleted;
        Assert.True((await b.SetLeaseAsync(fdB, KernelLease.Unlock)).Ok);
        var kernelDone = await truncate.WaitAsync(Observe.UnblockTimeout);
        Assert.Equal(0, new FileInfo(k.File).Length);
        var kernel = (kernelA, kernelB, kernelWaiting, Observe.Kernel(kernelDone));

        await using var e = new EngineScene();
        var holderA = new RecordingHolder("A");
        var holderB = new RecordingHolder("B");
        e.Open(EngineScene.A, OpenAccess.Read);
        e.Open(EngineScene.B, OpenAccess.Read);
        var grantA = e.Lease(EngineScene.A, GrantMode.Read, holderA);
        var grantB = e.Lease(EngineScene.B, GrantMode.Read, holderB);
        var engineTruncate = e.Engine.BreakAsync(EngineScene.File, FileOperation.Truncate, EngineScene.C, BreakMode.Await).AsTask();
        var engineA = await Observe.EngineAskedAsync(e, grantA, holderA);
        var engineB = await Observe.EngineAskedAsync(e, grantB, holderB);
        e.Engine.Release(grantA);
        bool engineWaiting = !engineTruncate.IsCompleted; // the engine completes a waiter inside Release, so this is exact
        e.Engine.Release(grantB);
        var engineDone = await engineTruncate.WaitAsync(Observe.UnblockTimeout);
        var engine = (engineA, engineB, engineWaiting, Observe.Engine(engineDone));

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);
    }

    /// <summary>
    /// fs/locks.c breaks only delegations (FL_DELEG, nfsd's) on unlink, rename and link; a plain F_SETLEASE lease is
    /// left alone, and the engine's <see cref="GrantKind.Lease"/> agrees. Its <see cref="GrantKind.Delegation"/>
    /// differs on purpose: an NFSv4 delegation must be recalled before a name it covers changes (RFC 8881 §10.4).
    /// </summary>
    [KernelLeaseFact]
    public async Task Unlink_and_rename_by_another_process_leave_a_read_lease_alone()
    {
        var expected = (Rename: OpenOutcome.Proceeded, Unlink: OpenOutcome.Proceeded, HolderAsked.Nothing);

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        string moved = Path.Combine(k.Directory, "moved");
        var renamed = await b.SendAsync($"rename {k.File} {moved}");
        var unlinked = await b.SendAsync($"unlink {moved}");
        var kernel = (Observe.Kernel(renamed), Observe.Kernel(unlinked), await Observe.KernelAskedAsync(a, fd, KernelLease.Read));
        Assert.Equal(0, a.Sigios);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var engineRenamed = e.Engine.BreakAsync(EngineScene.File, FileOperation.Rename, EngineScene.B, BreakMode.NonBlocking).Now();
        var engineUnlinked = e.Engine.BreakAsync(EngineScene.File, FileOperation.Unlink, EngineScene.B, BreakMode.NonBlocking).Now();
        var engine = (Observe.Engine(engineRenamed), Observe.Engine(engineUnlinked), await Observe.EngineAskedAsync(e, grant, holder));

        Assert.Equal(expected, kernel);
        Assert.Equal(expected, engine);

        // The deliberate difference: the same rename recalls a delegation.
        await using var d = new EngineScene();
        var client = new RecordingHolder("A's client");
        var delegation = d.Lease(EngineScene.A, GrantMode.Read, client, GrantKind.Delegation);
        var recalled = d.Engine.BreakAsync(EngineScene.File, FileOperation.Rename, EngineScene.B, BreakMode.NonBlocking).Now();
        Assert.Equal(BreakStatus.WouldBlock, recalled.Status);
        Assert.Equal(HolderAsked.Unlock, await Observe.EngineAskedAsync(d, delegation, client));
    }
}
