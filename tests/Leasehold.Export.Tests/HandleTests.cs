using System.Security.Cryptography;
using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

public sealed class HandleTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private LocalDirectoryTree Tree => fixture.Tree;

    [Fact]
    public async Task Handles_are_small_and_survive_a_restart_of_the_export()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "kept");
        await Tree.WriteTextAsync(file, "still here");
        ulong fileId = Tree.Attributes(file).FileId;
        Assert.InRange(file.Length, 1, FileHandle.MaxSize);

        using (LocalDirectoryTree restarted = fixture.OpenTree())
        {
            Assert.Equal(Tree.RootHandle, restarted.RootHandle);
            Assert.Equal(fileId, restarted.Attributes(file).FileId);
            Assert.Equal("still here", restarted.ReadText(file));
            Assert.Equal(file, restarted.LookupOk(dir, "kept"));
        }
    }

    [Fact]
    public void The_key_file_is_readable_by_its_owner_only()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Join(fixture.StatePath, "handle-key")));
        Assert.Equal(32, HandleSignerKeyBytes().Length);
    }

    [Fact]
    public async Task A_handle_with_any_byte_changed_is_a_bad_handle()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");

        for (int i = 0; i < file.Length; i++)
        {
            byte[] forged = file.Span.ToArray();
            forged[i] ^= 0x01;
            Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(new FileHandle(forged)).Status);
            Assert.Equal(FsStatus.BadHandle, Tree.Lookup(Caller.Root, new FileHandle(forged), "x").Status);
        }
    }

    [Fact]
    public async Task Accepting_received_bytes_checks_them_as_GetAttributes_does_and_reuses_the_cached_handle()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "accepted");
        Assert.Equal(FsStatus.Ok, Tree.GetAttributes(file).Status); // cached now
        byte[] received = file.Span.ToArray();

        var accepted = Tree.Accept(received);
        Assert.Equal(FsStatus.Ok, accepted.Status);
        Assert.Equal(file, accepted.Value);
        Assert.True(System.Runtime.CompilerServices.Unsafe.AreSame(
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(accepted.Value.Span),
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(file.Span)), "a cached handle is taken as the cached instance, not copied");

        byte[] forged = (byte[])received.Clone();
        forged[^1] ^= 1;
        Assert.Equal(FsStatus.BadHandle, Tree.Accept(forged).Status);
        Assert.Equal(FsStatus.BadHandle, Tree.Accept([]).Status);
        Assert.Equal(FsStatus.BadHandle, Tree.Accept(new byte[FileHandle.MaxSize + 1]).Status);

        Assert.Equal(FsStatus.Ok, await Tree.RemoveAsync(Caller.Root, dir, "accepted", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.Stale, Tree.Accept(received).Status);
    }

    [Fact]
    public async Task Truncated_extended_random_and_empty_handles_are_bad_handles()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");
        byte[] bytes = file.Span.ToArray();

        Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(new FileHandle(bytes[..^1])).Status);
        Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(new FileHandle([.. bytes, 0])).Status);
        Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(new FileHandle([1])).Status);
        Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(new FileHandle(new byte[FileHandle.MaxSize])).Status);
        Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(default).Status);
        for (int i = 0; i < 50; i++)
        {
            byte[] random = RandomNumberGenerator.GetBytes(RandomNumberGenerator.GetInt32(1, FileHandle.MaxSize + 1));
            Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(new FileHandle(random)).Status);
        }
    }

    [Fact]
    public async Task A_handle_signed_with_another_state_directorys_key_is_a_bad_handle()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();
        await Tree.CreateFileAsync(dir, "f");
        string otherState = Path.Join(fixture.Base, "other-state");
        using var other = new LocalDirectoryTree(fixture.Options(o => o.StateDirectory = otherState), OpenGate.Instance, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        FileHandle foreignRoot = other.RootHandle;
        FileHandle foreignDir = other.LookupOk(foreignRoot, Path.GetFileName(path));
        FileHandle foreignFile = other.LookupOk(foreignDir, "f");

        Assert.NotEqual(Tree.RootHandle, foreignRoot);
        Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(foreignRoot).Status);
        Assert.Equal(FsStatus.BadHandle, Tree.GetAttributes(foreignFile).Status);
        Assert.Equal(FsStatus.BadHandle, other.GetAttributes(Tree.LookupOk(dir, "f")).Status);
    }

    [Fact]
    public async Task A_file_moved_outside_the_export_is_stale()
    {
        using var tree = fixture.OpenTree();
        var clock = new Leasehold.Testing.ManualTimeProvider();
        tree.Time = clock;
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "leaving");
        var sub = await tree.CreateDirectoryAsync(Caller.Root, dir, "leaving-dir", Octal(755), ChangeContext.Anonymous, default);

        File.Move(Path.Join(path, "leaving"), Path.Join(fixture.OutsidePath, "left-" + Guid.NewGuid().ToString("N")));
        Directory.Move(Path.Join(path, "leaving-dir"), Path.Join(fixture.OutsidePath, "left-dir-" + Guid.NewGuid().ToString("N")));
        // The creates cached both as verified: the move is seen once that verification is older than the interval.
        clock.Advance(tree.ExportCheckInterval + TimeSpan.FromMilliseconds(1));

        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
        Assert.Equal(FsStatus.Stale, tree.Read(Caller.Root, file, 0, new byte[4]).Status);
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(sub.Value).Status);
        Assert.Equal(FsStatus.Stale, tree.Lookup(Caller.Root, sub.Value, "x").Status);
    }

    [Fact]
    public async Task A_recently_verified_handle_is_rechecked_against_the_export_after_the_check_interval()
    {
        using var tree = fixture.OpenTree();
        var clock = new Leasehold.Testing.ManualTimeProvider();
        tree.Time = clock;
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "cached");
        Assert.True(tree.GetAttributes(file).IsOk); // verified and cached

        File.Move(Path.Join(path, "cached"), Path.Join(fixture.OutsidePath, "cached-" + Guid.NewGuid().ToString("N")));

        // Within the interval the cached verification stands (the documented window)...
        Assert.True(tree.GetAttributes(file).IsOk);
        // ...and once it has passed the file is found outside the export.
        clock.Advance(tree.ExportCheckInterval + TimeSpan.FromMilliseconds(1));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
    }

    [Fact]
    public async Task A_file_deleted_after_its_access_was_checked_is_stale_at_once_for_attributes_and_access()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        await tree.CreateFileAsync(dir, "gone");
        FileHandle found = tree.LookupOk(dir, "gone");
        Assert.True(tree.CheckAccess(Caller.Root, found, AccessMask.Read).IsOk);

        File.Delete(Path.Join(path, "gone"));

        Assert.Equal(FsStatus.Stale, tree.GetAttributes(found).Status);
        Assert.Equal(FsStatus.Stale, tree.CheckAccess(Caller.Root, found, AccessMask.Read).Status);
    }

    [Fact]
    public async Task An_export_renamed_while_served_is_served_where_it_now_is()
    {
        using var own = new ExportFixture(); // directories of its own: this test renames the export
        var clock = new Leasehold.Testing.ManualTimeProvider();
        own.Tree.Time = clock;
        var (dir, path) = await own.NewDirectoryAsync();
        FileHandle kept = await own.Tree.CreateFileAsync(dir, "kept");
        FileHandle leaving = await own.Tree.CreateFileAsync(dir, "leaving");
        string moved = Path.Join(own.Base, "export-moved");

        Directory.Move(own.ExportPath, moved);
        clock.Advance(own.Tree.ExportCheckInterval + TimeSpan.FromMilliseconds(1));

        // The root descriptor follows the directory: its files are still inside the export.
        Assert.True(own.Tree.GetAttributes(own.Tree.RootHandle).IsOk);
        Assert.True(own.Tree.GetAttributes(kept).IsOk);
        Assert.Equal(kept, own.Tree.LookupOk(dir, "kept"));
        // And inside still means inside: a file moved out of the moved export is stale.
        File.Move(Path.Join(moved, Path.GetFileName(path), "leaving"), Path.Join(own.OutsidePath, "left"));
        clock.Advance(own.Tree.ExportCheckInterval + TimeSpan.FromMilliseconds(1));
        Assert.Equal(FsStatus.Stale, own.Tree.GetAttributes(leaving).Status);
        Assert.True(own.Tree.GetAttributes(kept).IsOk);
    }

    [Fact]
    public async Task A_deleted_file_is_stale_at_once_even_when_its_handle_is_cached()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "doomed");
        Assert.True(Tree.GetAttributes(file).IsOk);

        File.Delete(Path.Join(path, "doomed"));

        Assert.Equal(FsStatus.Stale, Tree.GetAttributes(file).Status);
    }

    [Fact]
    public async Task A_file_renamed_within_the_export_keeps_its_handle()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (other, otherPath) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");

        File.Move(Path.Join(path, "f"), Path.Join(otherPath, "g"));

        Assert.Equal(FsStatus.Ok, Tree.GetAttributes(file).Status);
        Assert.Equal(file, Tree.LookupOk(other, "g"));
    }

    [Fact]
    public async Task A_deleted_file_or_directory_is_stale_even_while_still_open()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "gone");
        FileHandle openFile = await Tree.CreateFileAsync(dir, "gone-but-open");
        var sub = await Tree.CreateDirectoryAsync(Caller.Root, dir, "gone-dir", Octal(755), ChangeContext.Anonymous, default);
        using var holder = File.OpenRead(Path.Join(path, "gone-but-open"));

        File.Delete(Path.Join(path, "gone"));
        File.Delete(Path.Join(path, "gone-but-open"));
        Directory.Delete(Path.Join(path, "gone-dir"));

        Assert.Equal(FsStatus.Stale, Tree.GetAttributes(file).Status);
        Assert.Equal(FsStatus.Stale, Tree.GetAttributes(openFile).Status);
        Assert.Equal(FsStatus.Stale, Tree.GetAttributes(sub.Value).Status);
    }

    [Fact]
    public async Task A_file_whose_dentry_the_kernel_dropped_still_resolves()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "cold");
        await Tree.WriteTextAsync(file, "cold");

        // Dropping the dentry cache makes open_by_handle_at return a disconnected dentry, whose /proc path reads "/".
        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "2");
        }
        catch (UnauthorizedAccessException)
        {
            return; // not root: nothing to drop, and the test below would be the same as the warm one
        }

        Assert.Equal(FsStatus.Ok, Tree.GetAttributes(file).Status);
        Assert.Equal("cold", Tree.ReadText(file));
    }

    private byte[] HandleSignerKeyBytes() => File.ReadAllBytes(Path.Join(fixture.StatePath, "handle-key"));
    [Fact]
    public async Task Cached_descriptors_dropped_while_other_threads_use_them_never_fail_a_call()
    {
        // The cache of verified handles closes an entry's descriptors when it drops the entry (a re-check, the last
        // CLOSE, an eviction) while another thread may have just looked the entry up. Such a call must fall back to
        // resolving the handle, never fail: a load test once saw NFS4ERR_SERVERFAULT from exactly this race.
        using var tree = fixture.OpenTree();
        var clock = new Leasehold.Testing.ManualTimeProvider();
        tree.Time = clock;
        tree.ExportCheckInterval = TimeSpan.FromMilliseconds(1);
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "busy");
        // Counted, not timed: on a loaded machine the tasks may start late, and every call must still run.
        const long Target = 30_000;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        long calls = 0, drops = 0;
        var users = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            var buffer = new byte[16];
            while (Interlocked.Read(ref calls) < Target && !bound.IsCancellationRequested)
            {
                Assert.Equal(FsStatus.Ok, tree.GetAttributes(file).Status);
                Assert.Equal(FsStatus.Ok, tree.Read(Caller.Root, file, 0, buffer).Status);
                Interlocked.Increment(ref calls);
            }
        })).ToList();
        var usersDone = Task.WhenAll(users);
        var dropper = Task.Run(() =>
        {
            while (!usersDone.IsCompleted)
            {
                clock.Advance(TimeSpan.FromMilliseconds(2)); // every cached entry is now due for its re-check
                Assert.Equal(FsStatus.Ok, tree.GetAttributes(file).Status); // drops it (closing its descriptors), caches anew
                drops++;
            }
        });

        await Task.WhenAll([.. users, dropper]);
        Assert.True(calls >= Target, $"only {calls} calls ran in 60 s");
        Assert.True(drops > 0, "the cache entry was never dropped while the calls ran");
    }
}
