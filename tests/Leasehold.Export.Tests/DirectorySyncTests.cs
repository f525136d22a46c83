using Leasehold.Export;
using Leasehold.Export.Native;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>
/// Issue 10 item 5: a create, link, remove or rename is durable when answered (Export:SyncDirectoryChanges): the
/// changed directories are fsynced, and a new file or directory before its parent; with the setting off nothing is;
/// a failed fsync answers Io though the change was made. <see cref="LocalDirectoryTree.Synced"/> reports each inode
/// whose fsync succeeded, in order.
/// </summary>
public sealed class DirectorySyncTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private static ChangeContext Context => ChangeContext.Anonymous;

    /// <summary>A tree of its own on the fixture's export, recording every sync into <paramref name="synced"/>.</summary>
    private LocalDirectoryTree OpenTree(List<ulong> synced, bool sync = true)
    {
        var tree = fixture.OpenTree(configure: o => o.SyncDirectoryChanges = sync);
        tree.Synced = ino =>
        {
            lock (synced)
                synced.Add(ino);
        };
        return tree;
    }

    private static ulong Ino(IExportedTree tree, FileHandle handle) => tree.Attributes(handle).FileId;

    [Fact]
    public async Task Creating_a_file_syncs_the_file_and_then_its_directory()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced);
        var (dir, _) = await fixture.NewDirectoryAsync();

        FileHandle file = await tree.CreateFileAsync(dir, "f");

        Assert.Equal([Ino(tree, file), Ino(tree, dir)], synced);
    }

    [Fact]
    public async Task Making_a_directory_syncs_it_and_then_its_parent()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced);
        var (dir, path) = await fixture.NewDirectoryAsync();

        var made = await tree.CreateDirectoryAsync(Caller.Root, dir, "sub", Octal(755), Context, default);

        Assert.Equal(FsStatus.Ok, made.Status);
        Assert.True(Directory.Exists(Path.Join(path, "sub")));
        Assert.Equal([Ino(tree, made.Value), Ino(tree, dir)], synced);
    }

    [Fact]
    public async Task A_symlink_or_a_fifo_syncs_only_its_directory()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced);
        var (dir, path) = await fixture.NewDirectoryAsync();

        var link = await tree.CreateSymlinkAsync(Caller.Root, dir, "link", "target"u8.ToArray(), Context, default);
        var fifo = await tree.CreateNodeAsync(Caller.Root, dir, "fifo", FileType.Fifo, Octal(644), 0, 0, Context, default);

        Assert.Equal(FsStatus.Ok, link.Status);
        Assert.Equal(FsStatus.Ok, fifo.Status);
        Assert.Equal("target", new FileInfo(Path.Join(path, "link")).LinkTarget);
        Assert.Equal([Ino(tree, dir), Ino(tree, dir)], synced);
    }

    [Fact]
    public async Task Link_and_remove_sync_the_directory_they_change()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced);
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (other, otherPath) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "f");
        synced.Clear();

        var linked = await tree.LinkAsync(Caller.Root, file, other, "second", Context, default);
        Assert.Equal(FsStatus.Ok, linked.Status);
        Assert.Equal([Ino(tree, other)], synced);
        synced.Clear();

        Assert.Equal(FsStatus.Ok, await tree.RemoveAsync(Caller.Root, dir, "f", Context, default));
        Assert.Equal([Ino(tree, dir)], synced);
        Assert.False(File.Exists(Path.Join(path, "f")));
        Assert.True(File.Exists(Path.Join(otherPath, "second")));
    }

    [Fact]
    public async Task Rename_syncs_its_directory_or_the_target_and_then_the_source()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced);
        var (from, fromPath) = await fixture.NewDirectoryAsync();
        var (to, toPath) = await fixture.NewDirectoryAsync();
        await tree.CreateFileAsync(from, "a");
        synced.Clear();

        Assert.Equal(FsStatus.Ok, await tree.RenameAsync(Caller.Root, from, "a", from, "b", Context, default));
        Assert.Equal([Ino(tree, from)], synced);
        synced.Clear();

        Assert.Equal(FsStatus.Ok, await tree.RenameAsync(Caller.Root, from, "b", to, "c", Context, default));
        Assert.Equal([Ino(tree, to), Ino(tree, from)], synced);
        Assert.Empty(Directory.GetFileSystemEntries(fromPath));
        Assert.True(File.Exists(Path.Join(toPath, "c")));
    }

    [Fact]
    public async Task Opening_an_existing_file_and_refused_changes_sync_nothing()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced);
        var (dir, _) = await fixture.NewDirectoryAsync();
        await tree.CreateFileAsync(dir, "f");
        synced.Clear();

        var opened = await tree.CreateFileAsync(Caller.Root, dir, "f", Octal(644), exclusive: false, Context, default);
        var exclusive = await tree.CreateFileAsync(Caller.Root, dir, "f", Octal(644), exclusive: true, Context, default);
        var missing = await tree.RemoveAsync(Caller.Root, dir, "none", Context, default);
        var notMoved = await tree.RenameAsync(Caller.Root, dir, "none", dir, "other", Context, default);
        var taken = await tree.CreateDirectoryAsync(Caller.Root, dir, "f", Octal(755), Context, default);

        Assert.Equal((FsStatus.Ok, false), (opened.Status, opened.Value.Created));
        Assert.Equal(FsStatus.Exists, exclusive.Status);
        Assert.Equal(FsStatus.NotFound, missing);
        Assert.Equal(FsStatus.NotFound, notMoved);
        Assert.Equal(FsStatus.Exists, taken.Status);
        Assert.Empty(synced);
    }

    [Fact]
    public async Task With_SyncDirectoryChanges_off_the_same_changes_are_made_and_nothing_is_synced()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced, sync: false);
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (other, otherPath) = await fixture.NewDirectoryAsync();

        FileHandle file = await tree.CreateFileAsync(dir, "f");
        Assert.Equal(FsStatus.Ok, (await tree.CreateDirectoryAsync(Caller.Root, dir, "sub", Octal(755), Context, default)).Status);
        Assert.Equal(FsStatus.Ok, (await tree.CreateSymlinkAsync(Caller.Root, dir, "link", "f"u8.ToArray(), Context, default)).Status);
        Assert.Equal(FsStatus.Ok, (await tree.CreateNodeAsync(Caller.Root, dir, "fifo", FileType.Fifo, Octal(600), 0, 0, Context, default)).Status);
        Assert.Equal(FsStatus.Ok, (await tree.LinkAsync(Caller.Root, file, other, "second", Context, default)).Status);
        Assert.Equal(FsStatus.Ok, await tree.RenameAsync(Caller.Root, dir, "f", other, "moved", Context, default));
        Assert.Equal(FsStatus.Ok, await tree.RemoveAsync(Caller.Root, other, "second", Context, default));

        Assert.Empty(synced);
        Assert.Equal(["fifo", "link", "sub"], Directory.GetFileSystemEntries(path).Select(Path.GetFileName).Order());
        Assert.Equal(["moved"], Directory.GetFileSystemEntries(otherPath).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_failed_sync_answers_Io_though_the_change_was_made()
    {
        var synced = new List<ulong>();
        using var tree = OpenTree(synced);
        var (dir, path) = await fixture.NewDirectoryAsync();
        var (other, otherPath) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "kept");
        synced.Clear();
        tree.FailSyncsWith = Errno.EIO;

        Assert.Equal(FsStatus.Io, (await tree.CreateFileAsync(Caller.Root, dir, "new", Octal(644), exclusive: true, Context, default)).Status);
        Assert.Equal(FsStatus.Io, (await tree.CreateDirectoryAsync(Caller.Root, dir, "sub", Octal(755), Context, default)).Status);
        Assert.Equal(FsStatus.Io, (await tree.LinkAsync(Caller.Root, file, other, "second", Context, default)).Status);
        Assert.Equal(FsStatus.Io, await tree.RenameAsync(Caller.Root, dir, "kept", other, "moved", Context, default));
        Assert.Equal(FsStatus.Io, await tree.RemoveAsync(Caller.Root, other, "second", Context, default));

        Assert.Empty(synced);
        Assert.Equal(["new", "sub"], Directory.GetFileSystemEntries(path).Select(Path.GetFileName).Order());
        Assert.Equal(["moved"], Directory.GetFileSystemEntries(otherPath).Select(Path.GetFileName));
        // The file that was made is whole: owned and moded as asked before the sync was tried.
        Assert.Equal(Octal(644), tree.Attributes(tree.LookupOk(dir, "new")).Mode);

        tree.FailSyncsWith = 0;
        Assert.Equal(FsStatus.Ok, await tree.RemoveAsync(Caller.Root, dir, "new", Context, default));
        Assert.Equal([Ino(tree, dir)], synced);
    }
}
