using System.Diagnostics;
using Leasehold.Engine;
using Leasehold.Export.Tests.LocalAccess;
using Leasehold.Nfs4.Client;
using Leasehold.IntegrationTests.Delegations;
using Leasehold.Testing;
using Microsoft.Extensions.Logging;
using static Leasehold.IntegrationTests.LocalAccess.LocalScene;
using static Leasehold.IntegrationTests.Waits;

namespace Leasehold.IntegrationTests.LocalAccess;

/// <summary>
/// Issue 9, "Bad input and faults": a local process killed while it waits for a recall leaves no kernel lease, no grant
/// and no recall window beyond the configured one behind.
/// </summary>
public sealed class LocalWaiterKilledTests(ShortRecallWindowLocalAccessFixture fx) : IClassFixture<ShortRecallWindowLocalAccessFixture>
{
    private const uint Contention = 1;

    [LocalAccessFact]
    public async Task Local_waiter_killed_while_waiting_leaves_nothing_behind()
    {
        var (root, name, _, path, ino) = await NewFileAsync(fx, "killed");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);
        long started; // the recall window starts after this
        await using (var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true))
        {
            started = Stopwatch.GetTimestamp();
            var open = await child.StartCommandAsync($"timedopen {path} w");
            Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
            Assert.False(await Finishes(open, StillWaiting), "the local open for write did not wait for the recall");
            Assert.Equal(["BREAKING UNLCK"], KernelView.Leases(ino));

            await child.KillAsync(); // SIGKILL while parked in open(2)
            await Assert.ThrowsAsync<InvalidOperationException>(() => open);
        }

        // The waiter is gone, but its break is not undone: the lease stays breaking and the delegation recalled until
        // the holder lets go (the kernel never restores a broken lease, and the engine does not either).
        Assert.Equal(["BREAKING UNLCK"], KernelView.Leases(ino));
        Assert.Equal(GrantState.Breaking, Assert.Single(fx.Engine.Snapshot().Grants, g => g.File == FileKey.From(ino)).State);
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());

        Assert.Empty(KernelView.Leases(ino));
        Assert.DoesNotContain(OurLeases().Keys, k => k == ino);
        Assert.DoesNotContain(fx.Engine.Snapshot().Grants, g => g.File == FileKey.From(ino));
        Assert.Equal(0, fx.GuardCount);

        // Within the recall window the file is not delegated again (CONTENTION: it was recalled a moment ago) ...
        await using var b = await DelegationClient.ConnectAsync(fx);
        var early = (await b.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantReadDelegation).Bounded()).ValueOrThrow();
        Assert.True(Elapsed(started, Stopwatch.GetTimestamp()) < ShortRecallWindowLocalAccessFixture.RecallWindow,
            "the test was too slow to see the recall window");
        Assert.Equal(DelegationType.NoneExt, early.Delegation.Type);
        Assert.Equal(Contention, early.Delegation.WhyNone);
        Assert.Equal(NfsStat4.Ok, (await b.Session.CloseAsync(early.FileHandle, early.StateId).Bounded()).Status);

        // ... and nothing the dead waiter left holds a new local process back.
        await using (var next = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true))
        {
            var reopened = await next.SendAsync($"open {path} w nonblock");
            Assert.True(reopened.Ok, reopened.ToString());
            Assert.True((await next.SendAsync($"close {reopened.Value}")).Ok);
        }

        // After the window the file is delegated again, under a kernel lease of its own.
        OpenedFile? again = null;
        while (again is null)
        {
            var opened = (await b.Session.OpenAsync(root, name, ShareAccess.Read | ShareAccess.WantReadDelegation).Bounded()).ValueOrThrow();
            if (opened.Delegation.Type == DelegationType.Read)
                again = opened;
            else
            {
                Assert.Equal(Contention, opened.Delegation.WhyNone);
                Assert.True(Elapsed(started, Stopwatch.GetTimestamp()) < ShortRecallWindowLocalAccessFixture.RecallWindow + Waits.Timeout,
                    "no delegation long after the recall window");
                await Task.Delay(100);
            }
        }
        Assert.True(Elapsed(started, Stopwatch.GetTimestamp()) >= ShortRecallWindowLocalAccessFixture.RecallWindow,
            "delegated again inside the recall window");
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
        Assert.Equal(NfsStat4.Ok, await b.Session.DelegReturnAsync(again.FileHandle, again.Delegation.StateId).Bounded());
        Assert.Empty(KernelView.Leases(ino));
        Assert.DoesNotContain(fx.Log.Entries, e => e.Level >= LogLevel.Warning);
    }
}

/// <summary>
/// <c>Export:MaxKernelLeases</c> (standing in for the descriptor limit): past it no delegation is granted, with one
/// Warning (2015), and no NFS operation fails.
/// </summary>
public sealed class KernelLeaseLimitTests(TwoKernelLeasesFixture fx) : IClassFixture<TwoKernelLeasesFixture>
{
    private const uint Resource = 2;

    [LocalAccessFact]
    public async Task Descriptor_limit_stops_delegations_not_opens()
    {
        var files = new List<(FileHandle Root, string Name, FileHandle File, string Path, ulong Ino)>();
        for (int i = 0; i < 4; i++)
            files.Add(await NewFileAsync(fx, "limit"));
        await using var a = await DelegationClient.ConnectAsync(fx);
        await using var b = await DelegationClient.ConnectAsync(fx);
        await using var c = await DelegationClient.ConnectAsync(fx);
        var heldA = await HoldAsync(a, files[0].Root, files[0].Name, ShareAccess.Read, DelegationType.Read);
        var heldB = await HoldAsync(b, files[1].Root, files[1].Name, ShareAccess.Read, DelegationType.Read);
        Assert.Equal(TwoKernelLeasesFixture.MaxKernelLeases, fx.GuardCount);

        // A third file: the OPEN is OK without a delegation; a stated want hears WND4_RESOURCE.
        var third = (await c.Session.OpenAsync(files[2].Root, files[2].Name, ShareAccess.Read | ShareAccess.WantReadDelegation).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.NoneExt, third.Delegation.Type);
        Assert.Equal(Resource, third.Delegation.WhyNone);
        // A fourth, for read and write and with no want: OK, no delegation (none to explain).
        var fourth = (await c.Session.OpenAsync(files[3].Root, files[3].Name, ShareAccess.Both).Bounded()).ValueOrThrow();
        Assert.Equal(DelegationType.None, fourth.Delegation.Type);

        // Every operation on the undelegated files works.
        var read = (await c.Session.ReadAsync(third.FileHandle, third.StateId, 0, 16).Bounded()).ValueOrThrow();
        Assert.Equal("hello", System.Text.Encoding.UTF8.GetString(read.Data.Span));
        Assert.Equal(NfsStat4.Ok, (await c.Session.WriteAsync(fourth.FileHandle, fourth.StateId, 0, ServerFixture.Bytes("HELLO")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await c.Session.CommitAsync(fourth.FileHandle).Bounded()).Status);
        Assert.Equal(5UL, (await c.Session.GetAttrAsync(fourth.FileHandle).Bounded()).ValueOrThrow().Size);
        Assert.Equal(NfsStat4.Ok, (await c.Session.CloseAsync(fourth.FileHandle, fourth.StateId).Bounded()).Status);
        // And a local process is not held back by a file nothing guards.
        await using (var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true))
        {
            var opened = await child.SendAsync($"open {files[2].Path} w nonblock");
            Assert.True(opened.Ok, opened.ToString());
            Assert.True((await child.SendAsync($"close {opened.Value}")).Ok);
        }

        Assert.Equal(TwoKernelLeasesFixture.MaxKernelLeases, fx.GuardCount);
        var inodes = files.Select(f => f.Ino).ToHashSet();
        Assert.Equal(new[] { files[0].Ino, files[1].Ino }.Order(), OurLeases().Keys.Where(inodes.Contains).Order()); // inode numbers, in no promised order
        var warning = Assert.Single(fx.Log.Entries, e => e.Level >= LogLevel.Warning); // two refusals, one line
        Assert.Equal(2015, warning.EventId);
        Assert.Contains("Export:MaxKernelLeases (2)", warning.Message, StringComparison.Ordinal);

        // One delegation returned: the next one is granted.
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(heldA.FileHandle, heldA.Delegation.StateId).Bounded());
        await using var d = await DelegationClient.ConnectAsync(fx);
        var heldD = await HoldAsync(d, files[2].Root, files[2].Name, ShareAccess.Read, DelegationType.Read);
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(files[2].Ino));
        Assert.Empty(KernelView.Leases(files[0].Ino));

        Assert.Equal(NfsStat4.Ok, await b.Session.DelegReturnAsync(heldB.FileHandle, heldB.Delegation.StateId).Bounded());
        Assert.Equal(NfsStat4.Ok, await d.Session.DelegReturnAsync(heldD.FileHandle, heldD.Delegation.StateId).Bounded());
        Assert.DoesNotContain(OurLeases().Keys, inodes.Contains);
        Assert.Equal(0, fx.GuardCount);
        Assert.Single(fx.Log.Entries, e => e.Level >= LogLevel.Warning);
    }
}

/// <summary>
/// The exported tree moved under the watch. Kernel leases and fanotify marks are per inode, so they move with the file:
/// a local open of a delegated file still recalls wherever the file now is. What the export serves follows its root
/// directory, not the path it was started with; a file moved out of the export goes stale once the export check
/// interval (2 s) has passed and nothing pins it.
/// </summary>
public sealed class ExportMovedTests(LocalAccessServerFixture fx) : IClassFixture<LocalAccessServerFixture>
{
    [LocalAccessFact]
    public async Task Delegated_file_moved_out_of_the_export_with_its_directory_still_recalls()
    {
        var root = await fx.RootAsync();
        string dirName = ServerFixture.NewName("sub"), name = ServerFixture.NewName("moved");
        var dir = (await fx.Session.MkdirAsync(root, dirName).Bounded()).ValueOrThrow();
        var made = (await fx.Session.CreateAsync(dir, name).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Ok, (await fx.Session.WriteAsync(made.FileHandle, made.StateId, 0, ServerFixture.Bytes("hello")).Bounded()).Status);
        Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
        ulong ino = Inode.Of(Path.Join(fx.PathOf(dirName), name));
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, dir, name, ShareAccess.Read, DelegationType.Read);
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);

        // Renamed within the export: the file keeps its handle, its delegation and its lease.
        string renamed = ServerFixture.NewName("sub");
        await child.OkAsync($"rename {fx.PathOf(dirName)} {fx.PathOf(renamed)}");
        var renamedDir = (await a.Session.LookupAsync(root, renamed).Bounded()).ValueOrThrow();
        Assert.Equal(held.FileHandle, (await a.Session.LookupAsync(renamedDir, name).Bounded()).ValueOrThrow());
        Assert.Equal("hello", await ReadAsync(a, held));
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));

        // Moved out of the export (on the same filesystem): the lease and the mark go with the inode.
        string outside = Path.Join(fx.Root, ServerFixture.NewName("outside"));
        await child.OkAsync($"rename {fx.PathOf(renamed)} {outside}");
        Assert.Equal(NfsStat4.NoEnt, (await a.Session.LookupAsync(root, renamed).Bounded()).Status);
        await WaitUntilAsync(async () => (await a.Session.GetAttrAsync(renamedDir).Bounded()).Status == NfsStat4.Stale,
            "the directory moved out of the export is stale");
        Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));
        Assert.Equal("hello", await ReadAsync(a, held)); // the holder's open pins the file

        // A local open of the file where it now is still waits for the recall.
        var open = await child.StartCommandAsync($"timedopen {Path.Join(outside, name)} w");
        Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
        Assert.False(await Finishes(open, StillWaiting), "the local open for write of the moved file did not wait for the recall");
        Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
        ParseTimedOpen(await open.WaitAsync(Waits.Timeout));
        Assert.Empty(KernelView.Leases(ino));
        Assert.DoesNotContain(fx.Engine.Snapshot().Grants, g => g.File == FileKey.From(ino));

        // Once closed nothing pins it: outside the export, its handle goes stale.
        Assert.Equal(NfsStat4.Ok, (await a.Session.CloseAsync(held.FileHandle, held.StateId).Bounded()).Status);
        await WaitUntilAsync(async () => (await a.Session.GetAttrAsync(held.FileHandle).Bounded()).Status == NfsStat4.Stale,
            "the file moved out of the export is stale");
    }

    [LocalAccessFact]
    public async Task Export_directory_renamed_by_its_parent_keeps_serving_and_recalling()
    {
        var (root, name, _, _, ino) = await NewFileAsync(fx, "exp");
        await using var a = await DelegationClient.ConnectAsync(fx);
        var held = await HoldAsync(a, root, name, ShareAccess.Read, DelegationType.Read);
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        string moved = Path.Join(fx.Root, ServerFixture.NewName("export-moved"));

        await child.OkAsync($"rename {fx.ExportPath} {moved}");
        try
        {
            Assert.Equal(["ACTIVE READ"], KernelView.Leases(ino));

            // Files the server has not resolved before are checked against the export at once: still inside it.
            string fresh = ServerFixture.NewName("fresh");
            await File.WriteAllTextAsync(Path.Join(moved, fresh), "fresh");
            var freshFile = (await fx.Session.LookupAsync(root, fresh).Bounded()).ValueOrThrow();
            Assert.Equal(5UL, (await fx.Session.GetAttrAsync(freshFile).Bounded()).ValueOrThrow().Size);
            var made = (await fx.Session.CreateAsync(root, ServerFixture.NewName("made")).Bounded()).ValueOrThrow();
            Assert.Equal(NfsStat4.Ok, (await fx.Session.CloseAsync(made.FileHandle, made.StateId).Bounded()).Status);
            Assert.Equal("hello", await ReadAsync(a, held));

            // A file moved out of the moved export is still refused.
            string escaped = ServerFixture.NewName("escaped");
            await File.WriteAllTextAsync(Path.Join(moved, escaped), "out");
            var escapedFile = (await fx.Session.LookupAsync(root, escaped).Bounded()).ValueOrThrow();
            File.Move(Path.Join(moved, escaped), Path.Join(fx.Root, escaped));
            // LOOKUP cached it as verified: the move is seen once that verification is older than the 2 s re-check interval.
            await WaitUntilAsync(async () => (await fx.Session.GetAttrAsync(escapedFile).Bounded()).Status == NfsStat4.Stale,
                "the file moved out of the moved export is stale");

            // A local open of the delegated file at its new path recalls.
            var open = await child.StartCommandAsync($"timedopen {Path.Join(moved, name)} w");
            Assert.Equal(held.Delegation.StateId, (await a.NextRecallAsync()).StateId);
            Assert.False(await Finishes(open, StillWaiting), "the local open for write did not wait for the recall");
            Assert.Equal(NfsStat4.Ok, await a.Session.DelegReturnAsync(held.FileHandle, held.Delegation.StateId).Bounded());
            ParseTimedOpen(await open.WaitAsync(Waits.Timeout));
            Assert.Empty(KernelView.Leases(ino));
            Assert.DoesNotContain(fx.Engine.Snapshot().Grants, g => g.File == FileKey.From(ino));
        }
        finally
        {
            if (Directory.Exists(moved))
                Directory.Move(moved, fx.ExportPath);
        }
    }

    private static async Task<string> ReadAsync(DelegationClient c, OpenedFile held)
    {
        var read = (await c.Session.ReadAsync(held.FileHandle, held.Delegation.StateId, 0, 16).Bounded()).ValueOrThrow();
        return System.Text.Encoding.UTF8.GetString(read.Data.Span);
    }
}
