using Leasehold.Export.LocalAccess;
using Leasehold.Testing;

namespace Leasehold.Export.Tests.LocalAccess;

/// <summary>
/// A local process (a child: the probe) against guarded files: opens that wait in the kernel until the guard is
/// released, and changes a lease does not stop, reported after the fact by fanotify. The export's own changes are never
/// reported.
/// </summary>
public sealed class LocalProcessTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    /// <summary>How long a waiting open must stay parked to count as "waits" (docs/local-access-design.md §6).</summary>
    private static readonly TimeSpan StillWaiting = TimeSpan.FromMilliseconds(300);

    private static readonly TimeSpan Completes = TimeSpan.FromSeconds(10);

    [LocalAccessFact]
    public async Task Child_open_for_write_reaches_the_sink_as_OpenWrite_and_waits_until_release()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        var guard = scene.GuardOk(file, GuardMode.Read);

        Task<ProbeReply> open = await child.StartCommandAsync($"open {path} w");
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.OpenWrite);
        Assert.Equal(["BREAKING UNLCK"], KernelView.Leases(ino));
        Assert.False(await Finishes(open, StillWaiting), "the child's open did not wait for the guard");

        guard.Dispose();
        ProbeReply reply = await open.WaitAsync(Completes);
        Assert.True(reply.Ok, reply.ToString());
        Assert.Empty(KernelView.Leases(ino));
        Assert.Equal(1, scene.Tree.Watcher!.KernelBreaks);
        Assert.All(scene.Sink.Calls, c => Assert.Equal(ino, c.FileId));
    }

    [LocalAccessFact]
    public async Task Child_reader_of_a_write_guard_is_OpenRead_and_reads_the_holders_data()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync("old");
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        var guard = scene.GuardOk(file, GuardMode.Write);
        await scene.WriteAsync(file, "new"); // the holder's write, through the guard's descriptor

        Task<ProbeReply> open = await child.StartCommandAsync($"open {path} r");
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.OpenRead);
        Assert.Equal(["BREAKING READ"], KernelView.Leases(ino));
        Assert.False(await Finishes(open, StillWaiting));

        guard.Dispose();
        ProbeReply reply = await open.WaitAsync(Completes);
        Assert.True(reply.Ok, reply.ToString());
        Assert.Equal("new", await child.OkAsync($"read {reply.Value} 16"));
    }

    [LocalAccessFact]
    public async Task Child_truncate_waits_for_the_release()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync("holders data");
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        var guard = scene.GuardOk(file, GuardMode.Read);

        Task<ProbeReply> truncate = await child.StartCommandAsync($"truncate {path} 0");
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.OpenWrite);
        Assert.False(await Finishes(truncate, StillWaiting));
        Assert.Equal(12, new FileInfo(path).Length);

        guard.Dispose();
        Assert.True((await truncate.WaitAsync(Completes)).Ok);
        Assert.Equal(0, new FileInfo(path).Length);
    }

    [LocalAccessFact]
    public async Task Nonblocking_child_open_gets_EAGAIN_and_reaches_the_sink()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        using var guard = scene.GuardOk(file, GuardMode.Read);

        ProbeReply reply = await child.SendAsync($"open {path} w nonblock");
        Assert.Equal(ProbeReply.EAGAIN, reply.Errno);
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.OpenWrite); // the break started all the same
    }

    [LocalAccessTheory]
    [InlineData("chmod {0} 600", LocalAccessKind.AttributesChanged)]
    [InlineData("utimes {0}", LocalAccessKind.AttributesChanged)]
    [InlineData("link {0} {0}.second", LocalAccessKind.AttributesChanged)]
    [InlineData("unlink {0}", LocalAccessKind.AttributesChanged)]
    [InlineData("rename {0} {0}.moved", LocalAccessKind.Moved)]
    [InlineData("open {0} rtrunc", LocalAccessKind.Modified)]
    public async Task Child_changes_a_lease_does_not_stop_are_reported_after_the_fact(string command, LocalAccessKind expected)
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync("data");
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        using var guard = scene.GuardOk(file, GuardMode.Read);

        await child.OkAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, command, path)); // done at once: no lease stops it
        await scene.Sink.WaitForAsync(ino, expected);
        Assert.Equal(0, scene.Tree.Watcher!.KernelBreaks);
    }

    [LocalAccessFact]
    public async Task Resume_after_a_child_writer_reports_Modified()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync("data");
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        using var guard = scene.GuardOk(file, GuardMode.Read);

        var suspension = scene.Leases.Suspend(ino); // as around the holder's own write
        Assert.Empty(KernelView.Leases(ino));
        string fd = await child.OkAsync($"open {path} w"); // no lease: the child gets in at once
        await child.OkAsync($"write {fd} XY");
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.Modified); // fanotify, after the fact

        scene.Sink.Clear();
        suspension.Dispose(); // the re-arm meets the child's writer: EAGAIN
        var report = Assert.Single(scene.Sink.Calls);
        Assert.Equal((ino, LocalAccessKind.Modified), (report.FileId, report.Access));
        Assert.False(scene.Leases.Describe(ino)!.Armed);
        Assert.Empty(KernelView.Leases(ino));
    }

    [LocalAccessFact]
    public async Task Own_changes_are_not_reported()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync("data");
        var (other, _, _) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        using var guard = scene.GuardOk(file, GuardMode.Read);

        await scene.WriteAsync(file, "own write");
        var changed = await scene.Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Mode: 0b110_000_000, Size: 3, ModifyTimeNow: true), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, changed.Status);
        var linked = await scene.Tree.LinkAsync(Caller.Root, file, scene.Directory, "own-link", ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, linked.Status);
        Assert.Equal(FsStatus.Ok, await scene.Tree.RenameAsync(Caller.Root, scene.Directory, "own-link", scene.Directory, "own-link-2", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.Ok, await scene.Tree.RemoveAsync(Caller.Root, scene.Directory, "own-link-2", ChangeContext.Anonymous, default));

        // A sentinel: the child's chmod is queued after every event our own changes made; once it is reported, any
        // report of ours would have been too.
        await child.OkAsync($"chmod {path} 644");
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.AttributesChanged);
        var only = Assert.Single(scene.Sink.Calls);
        Assert.Equal(LocalAccessKind.AttributesChanged, only.Access);
        Assert.True(scene.Leases.Describe(ino)!.Armed);
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
        _ = other;
    }

    [LocalAccessFact]
    public async Task Exec_child_holds_no_guard_descriptor()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var paths = new List<string>();
        var guards = new List<IDisposable>();
        for (int i = 0; i < 20; i++)
        {
            var (file, path, _) = await scene.NewFileAsync();
            paths.Add(path);
            guards.Add(scene.GuardOk(file, i % 2 == 0 ? GuardMode.Read : GuardMode.Write));
        }
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        var targets = Directory.EnumerateFileSystemEntries($"/proc/{child.Pid}/fd")
            .Select(link => new FileInfo(link).LinkTarget)
            .ToHashSet();
        Assert.DoesNotContain(targets, t => t is not null && paths.Contains(t));
        guards.ForEach(g => g.Dispose());
    }

    [LocalAccessFact]
    public async Task Dispose_releases_every_lease_and_lets_waiting_children_in()
    {
        var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        _ = scene.GuardOk(file, GuardMode.Write); // never disposed by its holder

        Task<ProbeReply> open = await child.StartCommandAsync($"open {path} r");
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.OpenRead);
        scene.Dispose();
        Assert.True((await open.WaitAsync(Completes)).Ok);
        Assert.Empty(KernelView.Leases(ino));
    }

    [LocalAccessFact]
    public async Task Watcher_failure_releases_every_guard_and_refuses_new_ones()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        using var guard = scene.GuardOk(file, GuardMode.Write);
        Assert.Equal(["ACTIVE WRITE"], KernelView.Leases(ino));

        scene.Tree.Watcher!.InjectFailure();
        // The child does not sit out lease-break-time: the failed watcher released the lease.
        Assert.True((await (await child.StartCommandAsync($"open {path} r")).WaitAsync(Completes)).Ok);
        Assert.Empty(KernelView.Leases(ino));
        var critical = Assert.Single(scene.Logger.Entries, e => e.Id == 2019);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Critical, critical.Level);
        Assert.Equal(GuardStatus.Unavailable, scene.Tree.Guard(file, GuardMode.Read, out _));
        Assert.Equal(LocalAccessMechanism.None, scene.Tree.Mechanism);
        Assert.NotNull(scene.Tree.UnavailableReason);
    }

    [LocalAccessFact]
    public async Task Stray_process_directed_signals_are_caught_logged_and_scanned()
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync();
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        using var guard = scene.GuardOk(file, GuardMode.Read);
        int signal = LocalAccessSignal.Choose(out _);

        // What a lease without F_SETOWN_EX would send: process-directed signals. Under SIG_DFL they would end the
        // process. Each is taken by the runtime's handler (the stray net) or by a watcher's signalfd: either counts it,
        // logs 2017 and scans.
        long before = LocalAccessSignal.Strays;
        Assert.Equal(0, Kill(Environment.ProcessId, signal));
        Assert.Equal(0, Kill(Environment.ProcessId, 29 /* SIGIO */));
        await WaitUntilAsync(() => LocalAccessSignal.Strays >= before + 2);

        // The scan it asks for finds a pending break (the child's nonblocking open started it).
        Assert.Equal(ProbeReply.EAGAIN, (await child.SendAsync($"open {path} w nonblock")).Errno);
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.OpenWrite);
        scene.Tree.Watcher!.RequestScan();
        await WaitUntilAsync(() => scene.Sink.Calls.Count(c => c.Access == LocalAccessKind.OpenWrite) >= 2);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        while (!condition())
        {
            Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(start) < Completes, "the condition did not become true in time");
            await Task.Delay(10);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static async Task<bool> Finishes(Task task, TimeSpan within) =>
        await Task.WhenAny(task, Task.Delay(within)) == task;
}
