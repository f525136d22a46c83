using System.Text;
using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>
/// Pinned files (<see cref="IExportedTree.Pin"/>): a file removed while pinned stays reachable through its handle, as
/// an open descriptor keeps an unlinked file on POSIX, until the last pin goes; then its handle is stale and the
/// descriptor is closed.
/// </summary>
public sealed class PinTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    /// <summary>Each test gets its own tree, so the pin counts it checks are its own.</summary>
    private static LocalDirectoryTree OwnTree(ExportFixture fixture) => fixture.OpenTree();

    [Fact]
    public async Task A_pinned_file_removed_by_a_local_process_keeps_its_data_and_reports_no_links()
    {
        using var tree = OwnTree(fixture);
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "victim");
        await tree.WriteTextAsync(file, "hello");
        var pin = tree.Pin(file);
        Assert.Equal(FsStatus.Ok, pin.Status);

        File.Delete(Path.Join(path, "victim"));

        var attributes = tree.Attributes(file);
        Assert.Equal(0u, attributes.NumLinks);
        Assert.Equal(5ul, attributes.Size);
        Assert.Equal("hello", tree.ReadText(file));
        await tree.WriteTextAsync(file, " world", offset: 5);
        Assert.Equal("hello world", tree.ReadText(file));
        var truncated = await tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 4), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Ok, truncated.Status);
        Assert.Equal(4ul, truncated.Value.Size);
        Assert.Equal(FsStatus.Ok, tree.Commit(file).Status);
        // The name is gone for everyone else.
        Assert.Equal(FsStatus.NotFound, tree.Lookup(Caller.Root, dir, "victim").Status);

        Assert.True(DescriptorsOn(Path.Join(path, "victim")) > 0);
        pin.Value.Dispose();
        // With the pin, the tree's cached descriptors of the file went too: nothing keeps the inode.
        Assert.Equal(0, DescriptorsOn(Path.Join(path, "victim")));
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
        Assert.Equal(FsStatus.Stale, tree.Read(Caller.Root, file, 0, new byte[4]).Status);
        Assert.Equal(0, tree.PinnedCount);
    }

    [Fact]
    public async Task Pins_are_counted_and_the_file_goes_with_the_last_one()
    {
        using var tree = OwnTree(fixture);
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "shared");
        var first = tree.Pin(file).Value;
        var second = tree.Pin(file).Value;
        Assert.Equal(1, tree.PinnedCount); // one descriptor per file, however many pins

        File.Delete(Path.Join(path, "shared"));
        first.Dispose();
        first.Dispose(); // a second dispose of the same pin gives up nothing more
        Assert.Equal(0u, tree.Attributes(file).NumLinks);

        second.Dispose();
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
        Assert.Equal(0, tree.PinnedCount);
    }

    [Fact]
    public async Task A_file_replaced_by_a_rename_stays_reachable_by_its_old_handle_while_pinned()
    {
        using var tree = OwnTree(fixture);
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle victim = await tree.CreateFileAsync(dir, "victim");
        await tree.WriteTextAsync(victim, "old");
        FileHandle other = await tree.CreateFileAsync(dir, "other");
        await tree.WriteTextAsync(other, "new");
        using var pin = tree.Pin(victim).Value;

        Assert.Equal(FsStatus.Ok, await tree.RenameAsync(Caller.Root, dir, "other", dir, "victim", ChangeContext.Anonymous, default));

        Assert.Equal("old", tree.ReadText(victim));
        Assert.Equal(0u, tree.Attributes(victim).NumLinks);
        Assert.Equal(other, tree.LookupOk(dir, "victim"));
        Assert.Equal("new", await File.ReadAllTextAsync(Path.Join(path, "victim"), Encoding.UTF8));
    }

    [Fact]
    public async Task A_pinned_file_whose_names_left_the_export_stays_reachable_until_the_last_pin_but_gets_no_new_name()
    {
        using var tree = OwnTree(fixture);
        tree.ExportCheckInterval = TimeSpan.Zero; // no window in which a cached verification still stands
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle file = await tree.CreateFileAsync(dir, "leaving");
        await tree.WriteTextAsync(file, "kept");
        var pin = tree.Pin(file).Value;
        string outside = Path.Join(fixture.OutsidePath, "pinned-" + Guid.NewGuid().ToString("N"));

        File.Move(Path.Join(path, "leaving"), outside);

        // As an open descriptor keeps the file on POSIX (and knfsd's handle does): the pin holds it, links elsewhere or not.
        Assert.Equal("kept", tree.ReadText(file));
        Assert.Equal(1u, tree.Attributes(file).NumLinks);
        // But it is not brought back into the export under a new name.
        var linked = await tree.LinkAsync(Caller.Root, file, dir, FileName.FromString("back"), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.NotFound, linked.Status);

        pin.Dispose();
        Assert.Equal(FsStatus.Stale, tree.GetAttributes(file).Status);
        File.Delete(outside);
    }

    [Fact]
    public async Task A_stale_handle_cannot_be_pinned_and_disposing_the_tree_closes_every_pin()
    {
        var tree = OwnTree(fixture);
        var (dir, path) = await fixture.NewDirectoryAsync();
        FileHandle gone = await tree.CreateFileAsync(dir, "gone");
        File.Delete(Path.Join(path, "gone"));
        Assert.Equal(FsStatus.Stale, tree.Pin(gone).Status);
        Assert.Equal(0, tree.PinnedCount);

        FileHandle kept = await tree.CreateFileAsync(dir, "kept");
        var pin = tree.Pin(kept).Value;
        Assert.Equal(1, tree.PinnedCount);
        tree.Dispose();
        Assert.Equal(0, tree.PinnedCount);
        pin.Dispose(); // after the tree: nothing left to release, and no error
    }

    /// <summary>How many descriptors of this process name the file at <paramref name="path"/>, deleted or not.</summary>
    internal static int DescriptorsOn(string path)
    {
        int count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                string? target = new FileInfo(fd).LinkTarget;
                if (target == path || target == path + " (deleted)")
                    count++;
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }
        return count;
    }
}
