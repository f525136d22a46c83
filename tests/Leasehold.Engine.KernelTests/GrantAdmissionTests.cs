using System.Globalization;
using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// When a lease is granted at all: against other processes' opens (fs/locks.c check_conflicting_open) and other
/// leases, and when its holder changes it. The kernel refuses with EAGAIN; the engine names the reason.
/// </summary>
public sealed class GrantAdmissionTests
{
    [KernelLeaseFact]
    public async Task Read_lease_is_refused_while_another_process_has_the_file_open_for_write()
    {
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        await b.OpenAsync(k.File, OpenAccess.Write);
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        var kernel = await a.SetLeaseAsync(fd, KernelLease.Read);

        await using var e = new EngineScene();
        e.Open(EngineScene.B, OpenAccess.Write);
        e.Open(EngineScene.A, OpenAccess.Read);
        var engine = e.TryLease(EngineScene.A, GrantMode.Read, new RecordingHolder("A"));

        Assert.Equal(ProbeReply.EAGAIN, kernel.Errno);
        Assert.Equal(GrantStatus.ConflictingOpen, engine.Status);
    }

    [KernelLeaseFact]
    public async Task Write_lease_is_refused_while_another_process_has_the_file_open_even_only_for_read()
    {
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        await b.OpenAsync(k.File, OpenAccess.Read);
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        var kernelWrite = await a.SetLeaseAsync(fd, KernelLease.Write);
        var kernelRead = await a.SetLeaseAsync(fd, KernelLease.Read);

        await using var e = new EngineScene();
        e.Open(EngineScene.B, OpenAccess.Read);
        e.Open(EngineScene.A, OpenAccess.Read);
        var holder = new RecordingHolder("A");
        var engineWrite = e.TryLease(EngineScene.A, GrantMode.Write, holder);
        var engineRead = e.TryLease(EngineScene.A, GrantMode.Read, holder);

        Assert.Equal(ProbeReply.EAGAIN, kernelWrite.Errno);
        Assert.Equal(GrantStatus.ConflictingOpen, engineWrite.Status);
        // A reader does not stand in the way of a read lease.
        Assert.True(kernelRead.Ok, kernelRead.ToString());
        Assert.Equal(GrantStatus.Granted, engineRead.Status);
    }

    [KernelLeaseFact]
    public async Task Read_leases_of_different_processes_coexist()
    {
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fdA = await a.OpenAsync(k.File, OpenAccess.Read);
        int fdB = await b.OpenAsync(k.File, OpenAccess.Read);
        var kernel = (await a.SetLeaseAsync(fdA, KernelLease.Read)).Ok && (await b.SetLeaseAsync(fdB, KernelLease.Read)).Ok;
        var kernelLeases = KernelScene.LocksOn(k.File).Count(l => l.Contains("LEASE  ACTIVE    READ", StringComparison.Ordinal));

        await using var e = new EngineScene();
        e.Open(EngineScene.A, OpenAccess.Read);
        e.Open(EngineScene.B, OpenAccess.Read);
        var engine = e.TryLease(EngineScene.A, GrantMode.Read, new RecordingHolder("A")).IsGranted
            && e.TryLease(EngineScene.B, GrantMode.Read, new RecordingHolder("B")).IsGranted;
        var engineLeases = e.Engine.Snapshot().Grants.Count(g => g is { Mode: GrantMode.Read, State: GrantState.Active });

        Assert.Equal((true, 2), (kernel, kernelLeases));
        Assert.Equal((true, 2), (engine, engineLeases));
    }

    [KernelLeaseFact]
    public async Task Only_opener_upgrades_its_read_lease_to_write_and_downgrades_it_back()
    {
        var expected = (Upgraded: true, After: GrantMode.Write, Downgraded: true, Finally: GrantMode.Read);

        await using var k = new KernelScene();
        var a = await k.StartAsync("A");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        bool kernelUp = (await a.SetLeaseAsync(fd, KernelLease.Write)).Ok;
        var kernelAfter = await a.GetLeaseAsync(fd) == KernelLease.Write ? GrantMode.Write : GrantMode.Read;
        bool kernelDown = (await a.SetLeaseAsync(fd, KernelLease.Read)).Ok;
        var kernelFinally = await a.GetLeaseAsync(fd) == KernelLease.Read ? GrantMode.Read : GrantMode.Write;

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        // A second request by the same owner changes the grant it has, as a second F_SETLEASE on the same descriptor does.
        var up = e.TryLease(EngineScene.A, GrantMode.Write, holder);
        Assert.Same(grant, up.Grant);
        var engineAfter = grant.Mode;
        var down = e.TryLease(EngineScene.A, GrantMode.Read, holder);
        Assert.Same(grant, down.Grant);

        Assert.Equal(expected, (kernelUp, kernelAfter, kernelDown, kernelFinally));
        Assert.Equal(expected, (up.IsGranted, engineAfter, down.IsGranted, grant.Mode));
        Assert.Single(e.Engine.Snapshot().Grants);
    }

    [KernelLeaseFact]
    public async Task Upgrade_to_write_is_refused_while_another_process_holds_a_read_lease()
    {
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fdA = await a.OpenAsync(k.File, OpenAccess.Read);
        int fdB = await b.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fdA, KernelLease.Read)).Ok);
        Assert.True((await b.SetLeaseAsync(fdB, KernelLease.Read)).Ok);
        var kernel = await a.SetLeaseAsync(fdA, KernelLease.Write);
        var kernelKept = await a.GetLeaseAsync(fdA);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        e.Open(EngineScene.B, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        e.Lease(EngineScene.B, GrantMode.Read, new RecordingHolder("B"));
        var engine = e.TryLease(EngineScene.A, GrantMode.Write, holder);

        Assert.Equal(ProbeReply.EAGAIN, kernel.Errno);
        Assert.Equal(KernelLease.Read, kernelKept);
        // B's open is found first; without it (the engine does not require one) B's lease would refuse it as ConflictingGrant.
        Assert.Equal(GrantStatus.ConflictingOpen, engine.Status);
        Assert.Equal(GrantMode.Read, grant.Mode);
    }

    [KernelLeaseFact]
    public async Task New_read_lease_is_refused_while_a_writer_waits_for_a_break()
    {
        // The blocked writer already counts as an open for write in the kernel (get_write_access comes before
        // break_lease in do_dentry_open); the engine refuses any grant a parked breaker would conflict with.
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        var c = await k.StartAsync("C");
        int fdA = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fdA, KernelLease.Read)).Ok);
        var write = await b.StartOpenAsync(k.File, OpenAccess.Write);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO");
        var readReply = await c.TryOpenAsync(k.File, OpenAccess.Read); // a reader does not break a read lease
        var kernelRead = Observe.Kernel(readReply);
        int fdC = int.Parse(readReply.Value, CultureInfo.InvariantCulture);
        var kernelLease = await c.SetLeaseAsync(fdC, KernelLease.Read);
        Assert.True((await a.SetLeaseAsync(fdA, KernelLease.Unlock)).Ok);
        Assert.True((await write.WaitAsync(Observe.UnblockTimeout)).Ok);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var engineWrite = e.StartOpen(EngineScene.B, OpenAccess.Write);
        var engineRead = Observe.Engine(e.TryOpen(EngineScene.C, OpenAccess.Read));
        var engineLease = e.TryLease(EngineScene.C, GrantMode.Read, new RecordingHolder("C"));
        e.Engine.Release(grant);
        Assert.Equal(BreakStatus.Proceed, (await engineWrite.WaitAsync(Observe.UnblockTimeout)).Status);

        Assert.Equal(OpenOutcome.Proceeded, kernelRead);
        Assert.Equal(OpenOutcome.Proceeded, engineRead);
        Assert.Equal(ProbeReply.EAGAIN, kernelLease.Errno);
        Assert.Equal(GrantStatus.BreakPending, engineLease.Status);
    }
}
