using Leasehold.Testing;

namespace Leasehold.Engine.KernelTests;

/// <summary>
/// Where the engine does not do what the kernel does, on purpose or as a matter of design. Each test shows both
/// behaviours, so a change on either side fails it and someone has to decide again.
/// </summary>
public sealed class DeliberateDifferenceTests
{
    private static readonly TimeSpan BreakTime = TimeSpan.FromSeconds(1);

    /// <summary>
    /// DIFFERENCE (by design). A plain lease has no notion of its holder's identity beyond the open file description:
    /// fs/locks.c only asks lm_breaker_owns_lease for delegations. So a process that opens its own leased file for write
    /// on another descriptor breaks its own lease. The engine spares a breaker that owns the grant (IOwnerMatcher), which
    /// is what NFS needs: a client's own opens must not recall its own delegation. Mapping each kernel descriptor to
    /// its own Owner reproduces the kernel exactly.
    /// </summary>
    [KernelLeaseFact]
    public async Task Kernel_breaks_a_lease_when_its_own_process_opens_for_write_but_the_engine_spares_the_same_owner()
    {
        await using var k = new KernelScene();
        var a = await k.StartAsync("A");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        var kernel = (Observe.Kernel(await a.TryOpenAsync(k.File, OpenAccess.Write)), await Observe.KernelAskedAsync(a, fd, KernelLease.Read));

        // The same owner, as the NFS layer would see a client opening its own delegated file.
        await using var same = new EngineScene();
        var holder = new RecordingHolder("A");
        same.Open(EngineScene.A, OpenAccess.Read);
        var grant = same.Lease(EngineScene.A, GrantMode.Read, holder);
        var sameOwner = (Observe.Engine(same.TryOpen(EngineScene.A, OpenAccess.Write)), await Observe.EngineAskedAsync(same, grant, holder));

        // Another descriptor of the same process is another owner: the kernel's own notion.
        await using var other = new EngineScene();
        var otherHolder = new RecordingHolder("A");
        other.Open(EngineScene.A, OpenAccess.Read);
        var otherGrant = other.Lease(EngineScene.A, GrantMode.Read, otherHolder);
        var otherDescriptor = (Observe.Engine(other.TryOpen(EngineScene.ASecond, OpenAccess.Write)), await Observe.EngineAskedAsync(other, otherGrant, otherHolder));

        Assert.Equal((OpenOutcome.WouldBlock, HolderAsked.Unlock), kernel);
        Assert.Equal((OpenOutcome.Proceeded, HolderAsked.Nothing), sameOwner);
        Assert.Equal(kernel, otherDescriptor);
    }

    /// <summary>
    /// DIFFERENCE (by design, documented in LeaseEngineOptions). With lease-break-time = 0 the kernel never times a
    /// break out (past_time(0) is false), so a blocked breaker waits for the holder for ever. The engine reads a break
    /// time of zero as "take it back at once": the holder hears OnBreakExpired, never OnBreak, and the breaker proceeds.
    /// </summary>
    [KernelLeaseBreakTimeFact]
    public async Task Break_time_zero_makes_the_kernel_wait_for_ever_but_the_engine_revoke_at_once()
    {
        await using var k = new KernelScene();
        k.SetLeaseBreakTime(0);
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        var open = await b.StartOpenAsync(k.File, OpenAccess.Write);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO");
        // "For ever" can only be sampled: two seconds is twice the shortest break time the kernel can be set to.
        await Task.WhenAny(open, Task.Delay(TimeSpan.FromSeconds(2)));
        bool stillBlocked = !open.IsCompleted;
        var locks = KernelScene.LocksOn(k.File);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Unlock)).Ok); // only the holder can end it
        var opened = await open.WaitAsync(Observe.UnblockTimeout);

        Assert.True(stillBlocked, "the kernel's breaker finished without the holder's answer although lease-break-time is 0");
        Assert.Contains(locks, l => l.Contains("BREAKING  UNLCK", StringComparison.Ordinal));
        Assert.True(opened.Ok, opened.ToString());

        var e = new EngineScene(TimeSpan.Zero);
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        var engineOpen = e.StartOpen(EngineScene.B, OpenAccess.Write);
        Assert.True(engineOpen.IsCompletedSuccessfully, "the engine's breaker waited although LeaseBreakTime is 0");
        Assert.Equal(BreakStatus.Proceed, engineOpen.Result.Status);
        Assert.Equal(GrantState.Revoked, grant.State);
        await e.DrainAsync();
        Assert.Empty(holder.Breaks);
        Assert.Equal([BreakTarget.Revoke], holder.Expirations.Select(x => x.Target));
    }

    /// <summary>
    /// DIFFERENCE (by design). The kernel expires an ignored break lazily (time_out_leases runs when someone calls in:
    /// a breaker, F_SETLEASE, F_GETLEASE): with only a non-blocking breaker, the lease still shows as BREAKING in
    /// /proc/locks after its deadline, and goes only when the next open comes. The engine arms a timer and takes the
    /// grant back at the deadline with nobody calling, telling the holder with OnBreakExpired. And what is left differs:
    /// the kernel frees the lease, the engine keeps a Revoked grant until the holder releases it.
    /// </summary>
    [KernelLeaseBreakTimeFact]
    public async Task Kernel_expires_an_ignored_break_when_someone_next_calls_in_but_the_engine_on_its_timer()
    {
        await using var k = new KernelScene();
        k.SetLeaseBreakTime(1);
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        Assert.True((await b.TryOpenAsync(k.File, OpenAccess.Write)).WouldBlock);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout));
        await Task.Delay(BreakTime + TimeSpan.FromMilliseconds(500)); // real time: the kernel's deadline passes, unobserved
        var afterDeadline = KernelScene.LocksOn(k.File);
        var retried = await b.TryOpenAsync(k.File, OpenAccess.Write); // this call's __break_lease expires the lease first
        var afterRetry = KernelScene.LocksOn(k.File);

        Assert.Contains(afterDeadline, l => l.Contains("BREAKING  UNLCK", StringComparison.Ordinal));
        Assert.True(retried.Ok, retried.ToString());
        Assert.Empty(afterRetry);
        Assert.Equal(KernelLease.Unlock, await a.GetLeaseAsync(fd));

        await using var e = new EngineScene(BreakTime);
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.B, OpenAccess.Write).Status);
        e.Clock.Advance(BreakTime); // no engine call: only the file's timer runs
        await holder.WaitForAsync(2, Observe.NoticeTimeout);
        Assert.Equal([BreakTarget.Revoke], holder.Expirations.Select(x => x.Target));
        Assert.Equal(GrantState.Revoked, grant.State);
        Assert.Equal(BreakStatus.Proceed, e.TryOpen(EngineScene.B, OpenAccess.Write).Status);
        Assert.Equal(GrantState.Revoked, Assert.Single(e.Engine.Snapshot().Grants).State); // still listed, inert
        e.Engine.Release(grant);
        Assert.Empty(e.Engine.Snapshot().Grants);
    }

    /// <summary>
    /// DIFFERENCE (questionable; see the report). When a writer meets a write lease whose downgrade is pending, the
    /// kernel sets a fresh fl_break_time (now + lease-break-time) for the unlock, keeping fl_downgrade_time: the
    /// writer waits a whole break time from its own arrival. The engine escalates the pending break to a revoke but
    /// "keeps the deadline already given", so the writer waits only what was left of the reader's break.
    /// </summary>
    [KernelLeaseBreakTimeFact]
    public async Task Kernel_gives_an_escalated_break_a_fresh_deadline_but_the_engine_keeps_the_first()
    {
        var head = TimeSpan.FromMilliseconds(500); // the reader's break has run this long when the writer arrives

        await using var k = new KernelScene();
        k.SetLeaseBreakTime(1);
        var (a, b) = await k.StartAsync("A", "B");
        var c = await k.StartAsync("C");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        Assert.True((await b.TryOpenAsync(k.File, OpenAccess.Read)).WouldBlock);
        await Task.Delay(head);
        long start = TimeProvider.System.GetTimestamp();
        var write = await c.StartOpenAsync(k.File, OpenAccess.Write);
        var written = await write.WaitAsync(BreakTime + Observe.UnblockTimeout);
        var kernelWaited = TimeProvider.System.GetElapsedTime(start);

        Assert.True(written.Ok, written.ToString());
        Assert.True(kernelWaited >= TimeSpan.FromMilliseconds(900),
            $"the kernel's writer waited {kernelWaited.TotalMilliseconds:F0} ms: less than a whole break time from its arrival");

        await using var e = new EngineScene(BreakTime);
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.B, OpenAccess.Read).Status);
        e.Clock.Advance(head);
        var engineWrite = e.StartOpen(EngineScene.C, OpenAccess.Write);
        e.Clock.Advance(BreakTime - head);
        var engineWritten = await engineWrite.WaitAsync(Observe.UnblockTimeout);

        Assert.Equal(BreakStatus.Proceed, engineWritten.Status); // after BreakTime - head = 0.5 s, not 1 s
        Assert.Equal(GrantState.Revoked, grant.State);
        await holder.WaitForAsync(3, Observe.NoticeTimeout);
        Assert.Equal([BreakTarget.Downgrade, BreakTarget.Revoke], holder.Breaks.Select(x => x.Target));
        Assert.Equal(holder.Breaks[0].Deadline, holder.Breaks[1].Deadline);
    }

    /// <summary>
    /// DIFFERENCE (by design). The kernel refuses F_RDLCK on a file that is open for write by anyone, including the
    /// very descriptor asking (check_conflicting_open uses inode_is_open_for_write), yet grants F_WRLCK on that
    /// descriptor. The engine never counts the requester's own opens against it, so it grants both.
    /// </summary>
    [KernelLeaseFact]
    public async Task Kernel_refuses_a_read_lease_on_a_descriptor_open_for_write_but_the_engine_grants_it()
    {
        await using var k = new KernelScene();
        var a = await k.StartAsync("A");
        int fd = await a.OpenAsync(k.File, OpenAccess.ReadWrite);
        var kernelRead = await a.SetLeaseAsync(fd, KernelLease.Read);
        var kernelWrite = await a.SetLeaseAsync(fd, KernelLease.Write);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.ReadWrite);
        var engineRead = e.TryLease(EngineScene.A, GrantMode.Read, holder);
        var engineWrite = e.TryLease(EngineScene.A, GrantMode.Write, holder);

        Assert.Equal(ProbeReply.EAGAIN, kernelRead.Errno);
        Assert.True(kernelWrite.Ok, kernelWrite.ToString());
        Assert.Equal(GrantStatus.Granted, engineRead.Status);
        Assert.Equal(GrantStatus.Granted, engineWrite.Status);
    }

    /// <summary>
    /// DIFFERENCE (by design). A kernel lease lives on its open file description: close it and the lease is gone, so
    /// the next writer proceeds without a break. An engine grant is independent of the owner's opens (an NFS
    /// delegation outlives CLOSE), so whoever maps descriptors to owners must call Release on close itself.
    /// </summary>
    [KernelLeaseFact]
    public async Task Kernel_drops_a_lease_when_its_descriptor_closes_but_the_engine_keeps_the_grant_until_released()
    {
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        await a.CloseAsync(fd);
        var kernel = Observe.Kernel(await b.TryOpenAsync(k.File, OpenAccess.Write));

        Assert.Equal(OpenOutcome.Proceeded, kernel);
        Assert.Empty(KernelScene.LocksOn(k.File));
        Assert.Equal(0, a.Sigios);

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        e.Engine.Close(EngineScene.File, EngineScene.A, OpenAccess.Read);
        var engine = Observe.Engine(e.TryOpen(EngineScene.B, OpenAccess.Write));

        Assert.Equal(OpenOutcome.WouldBlock, engine);
        Assert.Equal(HolderAsked.Unlock, await Observe.EngineAskedAsync(e, grant, holder));
    }

    /// <summary>
    /// DIFFERENCE (the kernel's quirk, the engine is stricter). F_SETLEASE F_WRLCK on a read lease whose unlock is
    /// pending succeeds in the kernel once the non-blocking writer has gone (lease_modify changes the type and
    /// lease_clear_pending clears nothing for F_WRLCK): the call says yes, yet the lease stays BREAKING and F_GETLEASE
    /// still says F_UNLCK. The engine refuses an upgrade of a Breaking grant with BreakPending.
    /// </summary>
    [KernelLeaseFact]
    public async Task Kernel_accepts_an_upgrade_of_a_lease_being_broken_but_the_engine_refuses_it()
    {
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Read)).Ok);
        Assert.True((await b.TryOpenAsync(k.File, OpenAccess.Write)).WouldBlock);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO");
        var kernelUpgrade = await a.SetLeaseAsync(fd, KernelLease.Write);

        Assert.True(kernelUpgrade.Ok, kernelUpgrade.ToString());
        Assert.Equal(KernelLease.Unlock, await a.GetLeaseAsync(fd)); // still being broken
        Assert.Contains(KernelScene.LocksOn(k.File), l => l.Contains("BREAKING  UNLCK", StringComparison.Ordinal));

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Read, holder);
        Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.B, OpenAccess.Write).Status);
        var engineUpgrade = e.TryLease(EngineScene.A, GrantMode.Write, holder);

        Assert.Equal(GrantStatus.BreakPending, engineUpgrade.Status);
        Assert.Equal((GrantMode.Read, GrantState.Breaking), (grant.Mode, grant.State));
    }

    /// <summary>
    /// DIFFERENCE (the kernel's quirk, the engine is stricter; the same quirk as the upgrade above). Once a non-blocking
    /// breaker has gone, nothing counts against the lease in check_conflicting_open, so the kernel accepts its holder's
    /// F_SETLEASE while the lease is being broken (lease_modify changes the type; lease_clear_pending clears only a
    /// pending downgrade, and only for F_RDLCK): a read lease asked for again, a write lease downgraded under a pending
    /// unlock (escalated or not), a write lease asked for again under a pending downgrade. Each call says yes, yet the
    /// lease stays BREAKING and F_GETLEASE still names the break. The engine answers all of them BreakPending
    /// (ConflictRules.ChangeOwnGrant): the breaker is expected back, and a holder must not be told it holds a grant it is
    /// about to lose.
    /// </summary>
    [KernelLeaseFact]
    public async Task Kernel_accepts_a_change_of_a_lease_being_broken_once_its_breaker_has_gone_but_the_engine_refuses_it()
    {
        // (held, who came: reader and/or writer, each with O_NONBLOCK, what the holder then asks for)
        (KernelLease Held, bool Reader, bool Writer, KernelLease Asked)[] cases =
        [
            (KernelLease.Read, false, true, KernelLease.Read),
            (KernelLease.Write, false, true, KernelLease.Read),
            (KernelLease.Write, true, false, KernelLease.Write),
            (KernelLease.Write, true, true, KernelLease.Read), // escalated
        ];
        var kernel = new List<(ChangeAnswer, HolderAsked)>();
        var engine = new List<(ChangeAnswer, HolderAsked)>();

        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        int sigios = 0;
        for (int i = 0; i < cases.Length; i++)
        {
            var (held, reader, writer, asked) = cases[i];
            string file = k.NewFile($"file{i}");
            int fd = await a.OpenAsync(file, OpenAccess.Read);
            Assert.True((await a.SetLeaseAsync(fd, held)).Ok);
            if (reader)
            {
                Assert.True((await b.TryOpenAsync(file, OpenAccess.Read)).WouldBlock);
                Assert.True(await a.WaitForSigiosAsync(++sigios, Observe.NoticeTimeout), $"case {i}: A got no SIGIO for the reader");
            }
            if (writer)
            {
                Assert.True((await b.TryOpenAsync(file, OpenAccess.Write)).WouldBlock);
                Assert.True(await a.WaitForSigiosAsync(++sigios, Observe.NoticeTimeout), $"case {i}: A got no SIGIO for the writer");
            }
            var answer = Observe.Change(await a.SetLeaseAsync(fd, asked));
            kernel.Add((answer, await Observe.KernelAskedAsync(a, fd, held, sigios)));
            Assert.Contains(KernelScene.LocksOn(file), l => l.Contains("BREAKING", StringComparison.Ordinal));
            await a.CloseAsync(fd);

            await using var e = new EngineScene();
            var holder = new RecordingHolder("A");
            e.Open(EngineScene.A, OpenAccess.Read);
            var mode = held == KernelLease.Read ? GrantMode.Read : GrantMode.Write;
            var grant = e.Lease(EngineScene.A, mode, holder);
            if (reader)
                Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.B, OpenAccess.Read).Status);
            if (writer)
                Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.B, OpenAccess.Write).Status);
            var engineAnswer = Observe.Change(e.TryLease(EngineScene.A, asked == KernelLease.Read ? GrantMode.Read : GrantMode.Write, holder));
            engine.Add((engineAnswer, await Observe.EngineAskedAsync(e, grant, holder, (reader ? 1 : 0) + (writer ? 1 : 0))));
            Assert.Equal((GrantState.Breaking, mode), (grant.State, grant.Mode));
        }

        Assert.Equal(
            [(ChangeAnswer.Accepted, HolderAsked.Unlock), (ChangeAnswer.Accepted, HolderAsked.Unlock),
             (ChangeAnswer.Accepted, HolderAsked.Downgrade), (ChangeAnswer.Accepted, HolderAsked.Unlock)],
            kernel);
        Assert.Equal(
            [(ChangeAnswer.Refused, HolderAsked.Unlock), (ChangeAnswer.Refused, HolderAsked.Unlock),
             (ChangeAnswer.Refused, HolderAsked.Downgrade), (ChangeAnswer.Refused, HolderAsked.Unlock)],
            engine);
    }

    /// <summary>
    /// DIFFERENCE (the kernel's quirk, the engine is stricter). A write lease has a reader waiting in open(2) (downgrade
    /// pending) and then meets a non-blocking writer, which escalates the break to an unlock and goes away. F_SETLEASE
    /// F_RDLCK now succeeds (no writer counts against it any more) and wakes the reader, which finds a read lease and
    /// goes in, while the lease stays BREAKING UNLCK. The engine refuses the downgrade (a revoke is answered only by a
    /// release) and keeps the reader waiting until the holder releases the grant or the deadline takes it.
    /// </summary>
    [KernelLeaseFact]
    public async Task Kernel_lets_a_waiting_reader_in_on_a_downgrade_under_an_escalated_break_but_the_engine_keeps_it_waiting()
    {
        await using var k = new KernelScene();
        var (a, b) = await k.StartAsync("A", "B");
        var c = await k.StartAsync("C");
        int fd = await a.OpenAsync(k.File, OpenAccess.Read);
        Assert.True((await a.SetLeaseAsync(fd, KernelLease.Write)).Ok);
        var read = await b.StartOpenAsync(k.File, OpenAccess.Read);
        Assert.True(await a.WaitForSigiosAsync(1, Observe.NoticeTimeout), "A got no SIGIO for the reader");
        Assert.True((await c.TryOpenAsync(k.File, OpenAccess.Write)).WouldBlock);
        Assert.True(await a.WaitForSigiosAsync(2, Observe.NoticeTimeout), "A got no SIGIO for the writer");
        bool kernelReaderWaited = !read.IsCompleted;
        var kernelDowngrade = Observe.Change(await a.SetLeaseAsync(fd, KernelLease.Read));
        var kernelRead = Observe.Kernel(await read.WaitAsync(Observe.UnblockTimeout)); // let in by the downgrade alone
        var kernelAsked = await Observe.KernelAskedAsync(a, fd, KernelLease.Read, expectedSigios: 2);

        Assert.True(kernelReaderWaited);
        Assert.Equal((ChangeAnswer.Accepted, OpenOutcome.Proceeded, HolderAsked.Unlock), (kernelDowngrade, kernelRead, kernelAsked));
        Assert.Contains(KernelScene.LocksOn(k.File), l => l.Contains("BREAKING  UNLCK", StringComparison.Ordinal));

        await using var e = new EngineScene();
        var holder = new RecordingHolder("A");
        e.Open(EngineScene.A, OpenAccess.Read);
        var grant = e.Lease(EngineScene.A, GrantMode.Write, holder);
        var engineRead = e.StartOpen(EngineScene.B, OpenAccess.Read);
        Assert.Equal(BreakStatus.WouldBlock, e.TryOpen(EngineScene.C, OpenAccess.Write).Status);
        var engineDowngrade = Observe.Change(e.Engine.Downgrade(grant));
        Assert.Equal(engineDowngrade, Observe.Change(e.TryLease(EngineScene.A, GrantMode.Read, holder)));
        var engineAsked = await Observe.EngineAskedAsync(e, grant, holder, expectedBreaks: 2);
        bool engineReaderWaits = !engineRead.IsCompleted;
        e.Engine.Release(grant);
        var engineOpened = Observe.Engine(await engineRead.WaitAsync(Observe.UnblockTimeout));

        Assert.Equal((ChangeAnswer.Refused, HolderAsked.Unlock, true, OpenOutcome.Proceeded), (engineDowngrade, engineAsked, engineReaderWaits, engineOpened));
    }
}
