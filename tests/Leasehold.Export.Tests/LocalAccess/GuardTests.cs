using Leasehold.Export.LocalAccess;
using Leasehold.Testing;
using Microsoft.Extensions.Logging;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>
/// The guard table against the real kernel: one lease per file, the lease type /proc/locks shows, the export's own I/O
/// through the guard (no self-break), Busy and Resource, the signal plumbing. Local processes are children (the probe).
/// </summary>
public sealed class GuardTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private const int F_OWNER_TID = 0;
    private const int F_RDLCK = 0;
    private const int F_WRLCK = 1;

    [Theory]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Write, GuardMode.Read, true)]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Write, GuardMode.Write, false)]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Truncate, GuardMode.Read, true)]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Truncate, GuardMode.Write, false)]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.SetAttributes, GuardMode.Read, false)]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Unlink, GuardMode.Write, false)]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Rename, GuardMode.Read, false)]
    [InlineData(LocalAccessMechanism.LeasesAndFanotify, ChangeKind.Link, GuardMode.Read, false)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.Write, GuardMode.Read, true)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.Write, GuardMode.Write, false)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.Truncate, GuardMode.Write, true)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.SetAttributes, GuardMode.Read, true)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.Unlink, GuardMode.Write, true)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.Rename, GuardMode.Read, true)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.Link, GuardMode.Read, true)]
    [InlineData(LocalAccessMechanism.Delegations, ChangeKind.Create, GuardMode.Read, false)]
    [InlineData(LocalAccessMechanism.None, ChangeKind.Write, GuardMode.Read, false)]
    public void SelfConflicts_say_which_own_changes_run_suspended(LocalAccessMechanism mechanism, ChangeKind kind, GuardMode mode, bool suspended) =>
        Assert.Equal(suspended, SelfConflicts.Breaks(mechanism, kind, mode));

    [Fact]
    public async Task LocalAccess_Off_reports_None_with_its_reason()
    {
        var (directory, _) = await fixture.NewDirectoryAsync();
        var logger = new RecordingLogger();
        using var tree = new LocalDirectoryTree(fixture.Options(o => o.LocalAccess = LocalAccessPolicy.Off), OpenGate.Instance, logger, new RecordingSink());
        FileHandle file = await tree.CreateFileAsync(directory, "off");

        Assert.Equal(LocalAccessMechanism.None, tree.Mechanism);
        Assert.Equal("Export:LocalAccess is Off", tree.UnavailableReason);
        Assert.Equal(GuardStatus.Unavailable, tree.Guard(file, GuardMode.Read, out IDisposable? guard));
        Assert.Null(guard);
        Assert.Equal(1, logger.Count(2011));
        Assert.Equal(0, logger.Count(2010));
        Assert.Null(tree.Watcher); // no thread when nothing is guarded
    }

    [Fact]
    public void A_tree_without_a_sink_guards_nothing()
    {
        Assert.Equal(LocalAccessMechanism.None, fixture.Tree.Mechanism);
        Assert.Contains("sink", fixture.Tree.UnavailableReason, StringComparison.Ordinal);
        Assert.Equal(GuardStatus.Unavailable, fixture.Tree.Guard(fixture.Tree.RootHandle, GuardMode.Read, out _));
    }

    [Fact]
    public void Options_refuse_a_negative_lease_limit_and_an_undefined_policy()
    {
        Assert.Throws<ArgumentException>(() => fixture.Options(o => o.MaxKernelLeases = -1).Validate());
        Assert.Throws<ArgumentException>(() => fixture.Options(o => o.LocalAccess = (LocalAccessPolicy)7).Validate());
        fixture.Options(o => o.LocalAccess = LocalAccessPolicy.Leases).Validate();
    }

    [LocalAccessFact]
    public async Task Start_up_logs_the_mechanism_signal_and_limit_once()
    {
        using var scene = await GuardScene.StartAsync(fixture, o => o.MaxKernelLeases = 77);
        Assert.NotEqual(LocalAccessMechanism.None, scene.Tree.Mechanism);
        Assert.Null(scene.Tree.UnavailableReason);
        var line = Assert.Single(scene.Logger.Entries, e => e.Id == 2010);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Contains("at most 77 guarded files", line.Message, StringComparison.Ordinal);
        Assert.Equal(0, scene.Logger.Count(2011));
    }

    [LocalAccessFact]
    public async Task One_kernel_lease_per_file_released_with_the_last_holder()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, _, ino) = await scene.NewFileAsync();

        var guards = Enumerable.Range(0, 3).Select(_ => scene.GuardOk(file, GuardMode.Read)).ToList();
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
        Assert.Equal(1, scene.Leases.Count);
        Assert.Equal(3, scene.Leases.Describe(ino)!.Holders);

        guards[0].Dispose();
        guards[0].Dispose(); // a second Dispose of one guard releases nothing more
        guards[1].Dispose();
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
        guards[2].Dispose();
        Assert.Empty(KernelView.Leases(ino));
        Assert.Equal(0, scene.Leases.Count);
        Assert.Null(scene.Leases.Describe(ino));
    }

    [LocalAccessFact]
    public async Task A_write_guard_stands_alone()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, _, _) = await scene.NewFileAsync();
        using (scene.GuardOk(file, GuardMode.Write))
        {
            Assert.Equal(GuardStatus.Busy, scene.Tree.Guard(file, GuardMode.Read, out _));
            Assert.Equal(GuardStatus.Busy, scene.Tree.Guard(file, GuardMode.Write, out _));
        }
        using (scene.GuardOk(file, GuardMode.Read))
            Assert.Equal(GuardStatus.Busy, scene.Tree.Guard(file, GuardMode.Write, out _));
        Assert.Equal(3, scene.Logger.Count(2014));
    }

    [LocalAccessFact]
    public async Task Write_guard_drops_the_cached_reader_and_serves_reads_through_its_fd()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, _, ino) = await scene.NewFileAsync("before");
        Assert.Equal("before", scene.Read(file)); // caches an O_RDONLY reader, beside which F_WRLCK would be EAGAIN

        using (scene.GuardOk(file, GuardMode.Write))
        {
            Assert.Equal(["ACTIVE WRITE"], KernelView.Leases(ino));
            Assert.Equal("before", scene.Read(file));
            await scene.WriteAsync(file, "AFTER!");
            Assert.Equal(FsStatus.Ok, scene.Tree.Commit(file).Status);
            var truncated = await scene.Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 5), ChangeContext.Anonymous, default);
            Assert.Equal(FsStatus.Ok, truncated.Status);
            Assert.Equal(5UL, truncated.Value.Size);
            Assert.Equal("AFTER", scene.Read(file));

            var state = scene.Leases.Describe(ino)!;
            Assert.Equal(F_WRLCK, state.Lock); // still held, not breaking: no self-break
            Assert.Equal(["ACTIVE WRITE"], KernelView.Leases(ino));
        }
        Assert.Equal(0, scene.Tree.Watcher!.KernelBreaks);
        Assert.Empty(scene.Sink.Calls);
        Assert.Equal(0, scene.Logger.Count(2018));
        Assert.Empty(KernelView.Leases(ino));
        Assert.Equal("AFTER", scene.Read(file)); // the cache works again once unguarded
    }

    [LocalAccessFact]
    public async Task Holders_own_write_under_a_read_guard_runs_suspended_and_rearms_signal_and_owner()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, _, ino) = await scene.NewFileAsync("one");
        using var guard = scene.GuardOk(file, GuardMode.Read);

        await scene.WriteAsync(file, "two");
        var truncated = await scene.Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 2), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, truncated.Status);
        Assert.Equal("tw", scene.Read(file));

        var state = scene.Leases.Describe(ino)!;
        Assert.True(state.Armed);
        Assert.Equal(0, state.Suspensions);
        Assert.Equal(F_RDLCK, state.Lock);
        // F_UNLCK cleared both; the re-arm set them again, or the next break would signal the whole process (fatal).
        Assert.Equal(F_OWNER_TID, state.OwnerType);
        Assert.Equal(scene.Tree.Watcher!.Tid, state.OwnerTid);
        Assert.Equal(LocalAccessSignal.Choose(out _), state.Signal);
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
        Assert.Equal(0, scene.Logger.Count(2018));
    }

    [LocalAccessFact]
    public async Task Guard_is_Busy_while_a_child_has_it_open_for_write()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        string fd = await child.OkAsync($"open {path} w");

        Assert.Equal(GuardStatus.Busy, scene.Tree.Guard(file, GuardMode.Read, out _));
        Assert.Equal(GuardStatus.Busy, scene.Tree.Guard(file, GuardMode.Write, out _));
        Assert.Empty(KernelView.Leases(ino));
        Assert.Equal(0, scene.Leases.Count);

        await child.OkAsync($"close {fd}");
        using var guard = scene.GuardOk(file, GuardMode.Read);
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
    }

    [LocalAccessFact]
    public async Task Descriptor_limit_gives_Resource_logged_once()
    {
        using var scene = await GuardScene.StartAsync(fixture, o => o.MaxKernelLeases = 2);
        var files = new List<FileHandle>();
        for (int i = 0; i < 4; i++)
            files.Add((await scene.NewFileAsync()).Handle);

        using var first = scene.GuardOk(files[0], GuardMode.Read);
        var second = scene.GuardOk(files[1], GuardMode.Write);
        Assert.Equal(GuardStatus.Resource, scene.Tree.Guard(files[2], GuardMode.Read, out _));
        Assert.Equal(GuardStatus.Resource, scene.Tree.Guard(files[3], GuardMode.Write, out _));
        using var shared = scene.GuardOk(files[0], GuardMode.Read); // a second holder of a guarded file costs nothing
        Assert.Equal(1, scene.Logger.Count(2015));

        second.Dispose();
        using var third = scene.GuardOk(files[2], GuardMode.Read);
    }

    [LocalAccessFact]
    public async Task Bad_handles_and_directories_are_Unavailable()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        Assert.Equal(GuardStatus.Unavailable, scene.Tree.Guard(scene.Directory, GuardMode.Read, out _));
        var (file, path, _) = await scene.NewFileAsync();
        File.Delete(path);
        Assert.Equal(GuardStatus.Unavailable, scene.Tree.Guard(file, GuardMode.Read, out _));
        Assert.Equal(0, scene.Leases.Count);
    }

    [LocalAccessFact]
    public async Task Watcher_blocks_both_signals_and_no_other_thread_does()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        int signal = LocalAccessSignal.Choose(out _);
        int watcher = scene.Tree.Watcher!.Tid;
        Assert.InRange(signal, 40, 63); // SIGRTMIN+6 .. SIGRTMAX-1 under glibc; never 33 or 34

        var blocked = KernelView.Signals("SigBlk", watcher);
        Assert.Contains(signal, blocked);
        Assert.Contains(29, blocked); // SIGIO: the kernel's fallback when the real-time queue is full
        foreach (int tid in KernelView.Threads().Where(t => t != watcher))
        {
            // Another tree's watcher (tests run in parallel) blocks the same signal: it reads only its own leases' signals.
            // A thread-pool thread may exit between listing and reading: then there is nothing left to check. One being
            // started runs with every signal blocked until it sets its own mask (glibc's pthread_create): look again.
            var seen = KernelView.ThreadNameAndSignals(tid, "SigBlk");
            for (int look = 0; look < 100 && seen is { Mask: var mask } && mask.Contains(signal); look++)
            {
                await Task.Delay(20);
                seen = KernelView.ThreadNameAndSignals(tid, "SigBlk");
            }
            if (seen is not var (name, blockedHere))
                continue;
            if (name.StartsWith("Leasehold local", StringComparison.Ordinal))
                continue;
            Assert.DoesNotContain(signal, blockedHere);
        }
        var caught = KernelView.Signals("SigCgt");
        Assert.Contains(signal, caught); // the stray net: a process-directed stray is cancelled, never fatal
        Assert.Contains(29, caught);
    }

    [LocalAccessFact]
    public async Task Stale_signal_for_a_reused_fd_is_ignored()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        // The kernel hands out the lowest free number, but tests running beside this one open and close descriptors too:
        // try again (fresh files) until the second guard gets the number the first one released.
        for (int attempt = 1; ; attempt++)
        {
            var (first, _, firstIno) = await scene.NewFileAsync();
            var (second, _, secondIno) = await scene.NewFileAsync();

            var guard = scene.GuardOk(first, GuardMode.Read);
            int fd = scene.Leases.Describe(firstIno)!.Fd;
            Assert.Null(scene.Leases.TakeBreak(fd, out _)); // armed and not breaking: a signal for it is stale
            guard.Dispose();
            Assert.Null(scene.Leases.TakeBreak(fd, out _)); // unindexed on release

            using var next = scene.GuardOk(second, GuardMode.Read);
            var reused = scene.Leases.Describe(secondIno)!;
            if (reused.Fd != fd && attempt < 50)
                continue;
            Assert.Equal(fd, reused.Fd);
            Assert.Null(scene.Leases.TakeBreak(fd, out _)); // a late signal for the old lease finds a lease that is not breaking
            Assert.Null(scene.Leases.TakeBreak(-1, out _));
            Assert.Empty(scene.Sink.Calls);
            return;
        }
    }
}
