using System.Text;
using Leasehold.Export;
using Leasehold.Testing;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>
/// The cache of verified handles: what CLOSE (the last pin), LOOKUP and REMOVE do to it, and that nothing of the
/// export keeps an unlinked file's inode alive once its last pin is gone.
/// </summary>
public sealed class CacheTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    [Fact]
    public async Task A_closed_file_keeps_its_verified_handle_but_not_its_read_descriptor()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "closed");
        await tree.WriteTextAsync(file, "data");
        var pin = tree.Pin(file).Value;
        Assert.Equal("data", tree.ReadText(file));
        Assert.Equal(2, DescriptorsOn(Path.Join(path, "closed"))); // the cached O_PATH descriptor (the pin borrows it) and the reader

        pin.Dispose();

        Assert.True(tree.IsCached(file)); // the next OPEN of it is a cache hit
        Assert.Equal(1, DescriptorsOn(Path.Join(path, "closed"))); // O_PATH only: a CLOSE closes what READ opened
        Assert.Equal(4ul, tree.Attributes(file).Size);
        Assert.Equal("data", tree.ReadText(file));
    }

    [Fact]
    public async Task A_cached_regular_files_id_is_known_without_a_read_and_nothing_else_is()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "known");

        Assert.True(tree.IsCached(file));
        Assert.True(tree.TryGetCachedRegularFileId(file, out ulong id));
        Assert.Equal(tree.Attributes(file).FileId, id);
        Assert.True(tree.IsCached(dir));
        Assert.False(tree.TryGetCachedRegularFileId(dir, out _)); // a directory: its attributes are read as before
        Assert.False(tree.TryGetCachedRegularFileId(new FileHandle([1, 2, 3]), out ulong none)); // never resolved
        Assert.Equal(0ul, none);
    }

    [Fact]
    public async Task A_file_removed_after_its_last_close_is_freed_at_once()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "removed");
        tree.Pin(file).Value.Dispose();
        Assert.True(tree.IsCached(file));

        Assert.Equal(FsStatus.Ok, await tree.RemoveAsync(Caller.Root, dir, "removed", ChangeContext.Anonymous, default));

        Assert.False(tree.IsCached(file));
        Assert.Equal(0, DescriptorsOn(Path.Join(path, "removed")));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
    }

    [Fact]
    public async Task A_file_replaced_by_a_rename_after_its_last_close_is_freed_at_once()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle victim = await tree.CreateFileAsync(dir, "victim");
        await tree.CreateFileAsync(dir, "other");
        tree.Pin(victim).Value.Dispose();

        Assert.Equal(FsStatus.Ok, await tree.RenameAsync(Caller.Root, dir, "other", dir, "victim", ChangeContext.Anonymous, default));

        Assert.False(tree.IsCached(victim));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(victim).Status);
        Assert.Equal(1, DescriptorsOn(Path.Join(path, "victim"))); // the new "victim" (cached by its create), not the old
    }

    [Fact]
    public async Task A_cached_file_removed_while_open_is_freed_when_its_last_pin_goes()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "open");
        await tree.WriteTextAsync(file, "kept");
        Assert.True(tree.IsCached(file));
        var first = tree.Pin(file).Value;
        var second = tree.Pin(file).Value;

        Assert.Equal(FsStatus.Ok, await tree.RemoveAsync(Caller.Root, dir, "open", ChangeContext.Anonymous, default));

        // REMOVE dropped the cache entry; the pins' borrow of its descriptor keeps the file.
        Assert.False(tree.IsCached(file));
        Assert.Equal("kept", tree.ReadText(file));
        Assert.Equal(0u, tree.Attributes(file).NumLinks);
        first.Dispose();
        Assert.Equal("kept", tree.ReadText(file));
        Assert.True(DescriptorsOn(Path.Join(path, "open")) > 0);

        second.Dispose();
        Assert.Equal(0, DescriptorsOn(Path.Join(path, "open")));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
    }

    [Fact]
    public async Task A_file_a_local_process_removed_while_it_was_open_is_freed_when_its_last_pin_goes()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "local");
        var pin = tree.Pin(file).Value;
        Assert.True(tree.IsCached(file));

        File.Delete(Path.Join(path, "local")); // nothing of the export hears of it, and nothing touches the handle before CLOSE
        Assert.True(DescriptorsOn(Path.Join(path, "local")) > 0);

        pin.Dispose();
        // The last pin found the cached descriptor's link count 0: the cache entry went with it, so the inode is free.
        Assert.False(tree.IsCached(file));
        Assert.Equal(0, DescriptorsOn(Path.Join(path, "local")));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
    }

    [Fact]
    public async Task A_pin_keeps_an_unlinked_file_after_the_cache_entry_it_borrowed_from_is_dropped()
    {
        using var tree = fixture.OpenTree();
        var clock = new ManualTimeProvider();
        tree.Time = clock;
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "borrowed");
        await tree.WriteTextAsync(file, "still here");
        Assert.True(tree.IsCached(file));
        var pin = tree.Pin(file).Value; // a cache hit: the pin borrows the cached descriptor
        File.Delete(Path.Join(path, "borrowed"));

        // The entry is past its check interval: the next call drops it (disposing its descriptor) and resolves afresh.
        clock.Advance(tree.ExportCheckInterval + TimeSpan.FromMilliseconds(1));
        Assert.Equal(0u, tree.Attributes(file).NumLinks);
        Assert.False(tree.IsCached(file));

        Assert.Equal("still here", tree.ReadText(file));
        Assert.True(DescriptorsOn(Path.Join(path, "borrowed")) > 0);
        pin.Dispose();
        Assert.Equal(0, DescriptorsOn(Path.Join(path, "borrowed")));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
    }

    [Fact]
    public async Task A_file_deleted_locally_after_its_last_close_is_freed_by_the_sweep_though_its_handle_is_never_used_again()
    {
        using var tree = fixture.OpenTree();
        var clock = new ManualTimeProvider();
        tree.Time = clock;
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "forgotten");
        tree.Pin(file).Value.Dispose(); // an OPEN and its CLOSE: the verified handle stays cached
        Assert.True(tree.IsCached(file));
        File.Delete(Path.Join(path, "forgotten")); // a local process; nothing of the export hears of it
        Assert.True(DescriptorsOn(Path.Join(path, "forgotten")) > 0);

        Assert.Equal(0, tree.SweepStale()); // still inside its check interval: kept
        clock.Advance(tree.ExportCheckInterval + TimeSpan.FromMilliseconds(1));
        Assert.True(tree.SweepStale() >= 1);
        Assert.False(tree.IsCached(file));
        Assert.Equal(0, DescriptorsOn(Path.Join(path, "forgotten")));
    }

    [Fact]
    public async Task A_looked_up_handle_is_cached_and_rechecked_against_the_export_after_the_interval()
    {
        using var tree = fixture.OpenTree();
        var clock = new ManualTimeProvider();
        tree.Time = clock;
        var (dir, path) = await fixture.NewDirectoryAsync();
        await File.WriteAllTextAsync(Path.Join(path, "found"), "x"); // made locally: the tree has not seen it

        FileHandle file = tree.LookupOk(dir, "found");
        Assert.True(tree.IsCached(file));
        File.Move(Path.Join(path, "found"), Path.Join(fixture.OutsidePath, "found-" + Guid.NewGuid().ToString("N")));

        Assert.True(tree.GetAttributes(file).IsOk); // the documented window
        clock.Advance(tree.ExportCheckInterval + TimeSpan.FromMilliseconds(1));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
    }

    [Fact]
    public async Task A_looked_up_handle_is_trusted_no_longer_than_the_directory_it_was_found_in()
    {
        using var tree = fixture.OpenTree();
        var clock = new ManualTimeProvider();
        tree.Time = clock;
        var (dir, path) = await fixture.NewDirectoryAsync();
        await File.WriteAllTextAsync(Path.Join(path, "child"), "x");
        Assert.True(tree.GetAttributes(dir).IsOk); // the directory is found inside the export now

        clock.Advance(tree.ExportCheckInterval - TimeSpan.FromMilliseconds(500));
        FileHandle child = tree.LookupOk(dir, "child"); // through the directory's cached verification
        File.Move(Path.Join(path, "child"), Path.Join(fixture.OutsidePath, "child-" + Guid.NewGuid().ToString("N")));
        clock.Advance(TimeSpan.FromMilliseconds(600));

        // Only 600 ms after the LOOKUP, but the directory's check (which the child's rests on) is older than the interval.
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(child).Status);
    }

    [Fact]
    public async Task Lookup_gives_what_the_name_holds_now_even_when_the_old_file_is_cached()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        await File.WriteAllTextAsync(Path.Join(path, "name"), "old");
        await File.WriteAllTextAsync(Path.Join(path, "new"), "new");
        FileHandle old = tree.LookupOk(dir, "name");
        Assert.True(tree.IsCached(old));

        File.Move(Path.Join(path, "new"), Path.Join(path, "name"), overwrite: true);

        FileHandle now = tree.LookupOk(dir, "name");
        Assert.NotEqual(old, now);
        Assert.True(tree.IsCached(now));
        Assert.Equal("new", tree.ReadText(now));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(old).Status);
    }

    [Fact]
    public async Task A_looked_up_symlink_is_the_link_itself_not_its_target()
    {
        using var tree = fixture.OpenTree();
        var (dir, path) = await fixture.NewDirectoryAsync();
        await File.WriteAllTextAsync(Path.Join(path, "target"), "x");
        File.CreateSymbolicLink(Path.Join(path, "link"), "target");

        FileHandle link = tree.LookupOk(dir, "link");

        Assert.Equal(FileType.Symlink, tree.Attributes(link).Type);
        Assert.NotEqual(tree.LookupOk(dir, "target"), link);
        Assert.Equal("target", Encoding.UTF8.GetString(tree.ReadLink(Caller.Root, link).Value));
    }

    [Fact]
    public async Task Created_entries_are_cached_as_verified()
    {
        using var tree = fixture.OpenTree();
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "file");
        var sub = await tree.CreateDirectoryAsync(Caller.Root, dir, "sub", Octal(755), ChangeContext.Anonymous, default);
        var link = await tree.CreateSymlinkAsync(Caller.Root, dir, "link", Encoding.UTF8.GetBytes("file"), ChangeContext.Anonymous, default);

        Assert.True(tree.IsCached(file));
        Assert.True(tree.IsCached(sub.Value));
        Assert.True(tree.IsCached(link.Value));
        Assert.Equal(FileType.Directory, tree.Attributes(sub.Value).Type);
        Assert.Equal(FileType.Symlink, tree.Attributes(link.Value).Type);
        Assert.Equal(FileType.Regular, tree.Attributes(file).Type);
    }

    private static int DescriptorsOn(string path) => PinTests.DescriptorsOn(path);
}
