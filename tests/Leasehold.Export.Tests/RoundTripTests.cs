using System.Text;
using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

public sealed class RoundTripTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private LocalDirectoryTree Tree => fixture.Tree;

    [Fact]
    public async Task Created_file_is_found_by_lookup_and_reads_back_what_was_written()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "hello.txt");

        await Tree.WriteTextAsync(file, "hello, ");
        await Tree.WriteTextAsync(file, "world", offset: 7);

        Assert.Equal(file, Tree.LookupOk(dir, "hello.txt"));
        Assert.Equal("hello, world", Tree.ReadText(file));
        FileAttributes attributes = Tree.Attributes(file);
        Assert.Equal(FileType.Regular, attributes.Type);
        Assert.Equal(12UL, attributes.Size);
        Assert.Equal(Octal(644), attributes.Mode);
    }

    [Fact]
    public async Task Read_in_the_middle_reports_no_end_of_file_and_read_past_the_end_reports_it()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");
        await Tree.WriteTextAsync(file, "0123456789");

        var buffer = new byte[4];
        var middle = Tree.Read(Caller.Root, file, 2, buffer);
        Assert.Equal((4, false), middle.Value);
        Assert.Equal("2345", Encoding.UTF8.GetString(buffer));

        var tail = Tree.Read(Caller.Root, file, 8, buffer);
        Assert.Equal((2, true), tail.Value);

        var beyond = Tree.Read(Caller.Root, file, 100, buffer);
        Assert.Equal((0, true), beyond.Value);
    }

    [Theory]
    [InlineData(WriteStability.Unstable)]
    [InlineData(WriteStability.DataSync)]
    [InlineData(WriteStability.FileSync)]
    public async Task Write_reports_the_stability_it_was_asked_for(WriteStability stability)
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");

        var written = await Tree.WriteAsync(Caller.Root, file, 0, "data"u8.ToArray(), stability, ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.Ok, written.Status);
        Assert.Equal((4, stability), written.Value);
        Assert.Equal(FsStatus.Ok, Tree.Commit(file).Status);
    }

    [Fact]
    public async Task Non_exclusive_create_of_an_existing_file_opens_it_and_exclusive_create_is_refused()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");

        var again = await Tree.CreateFileAsync(Caller.Root, dir, "f", Octal(600), exclusive: false, ChangeContext.Anonymous, default);
        var exclusive = await Tree.CreateFileAsync(Caller.Root, dir, "f", Octal(600), exclusive: true, ChangeContext.Anonymous, default);

        Assert.Equal((file, false), again.Value);
        Assert.Equal(FsStatus.Exists, exclusive.Status);
        Assert.Equal(Octal(644), Tree.Attributes(file).Mode);
    }

    [Fact]
    public async Task Read_and_write_refuse_directories_and_symlinks()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var link = await Tree.CreateSymlinkAsync(Caller.Root, dir, "l", "target"u8.ToArray(), ChangeContext.Anonymous, default);
        var buffer = new byte[4];

        Assert.Equal(FsStatus.IsDirectory, Tree.Read(Caller.Root, dir, 0, buffer).Status);
        Assert.Equal(FsStatus.WrongType, Tree.Read(Caller.Root, link.Value, 0, buffer).Status);
        var write = await Tree.WriteAsync(Caller.Root, dir, 0, new byte[1], WriteStability.Unstable, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.IsDirectory, write.Status);
        Assert.Equal(FsStatus.WrongType, Tree.ReadLink(Caller.Root, dir).Status);
    }

    [Fact]
    public async Task Rename_moves_a_file_and_replaces_an_existing_target()
    {
        var (from, _) = await fixture.NewDirectoryAsync();
        var (to, _) = await fixture.NewDirectoryAsync();
        FileHandle moved = await Tree.CreateFileAsync(from, "a");
        await Tree.WriteTextAsync(moved, "moved");
        await Tree.CreateFileAsync(to, "b");

        FsStatus status = await Tree.RenameAsync(Caller.Root, from, "a", to, "b", ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.Ok, status);
        Assert.Equal(FsStatus.NotFound, Tree.Lookup(Caller.Root, from, "a").Status);
        Assert.Equal(moved, Tree.LookupOk(to, "b"));
        Assert.Equal("moved", Tree.ReadText(moved)); // the handle survives the rename
    }

    [Fact]
    public async Task Rename_of_a_directory_onto_a_non_empty_directory_is_refused()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        await Tree.CreateDirectoryAsync(Caller.Root, dir, "a", Octal(755), ChangeContext.Anonymous, default);
        var b = await Tree.CreateDirectoryAsync(Caller.Root, dir, "b", Octal(755), ChangeContext.Anonymous, default);
        await Tree.CreateFileAsync(b.Value, "inside");

        FsStatus status = await Tree.RenameAsync(Caller.Root, dir, "a", dir, "b", ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.NotEmpty, status);
    }

    [Fact]
    public async Task Link_gives_the_file_a_second_name_and_two_links()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "first");

        var linked = await Tree.LinkAsync(Caller.Root, file, dir, "second", ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.Ok, linked.Status);
        Assert.Equal(file, linked.Value);
        Assert.Equal(file, Tree.LookupOk(dir, "second"));
        Assert.Equal(2u, Tree.Attributes(file).NumLinks);
        var toDirectory = await Tree.LinkAsync(Caller.Root, dir, dir, "loop", ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.IsDirectory, toDirectory.Status);
    }

    [Fact]
    public async Task Remove_deletes_files_and_empty_directories_but_not_full_ones()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        await Tree.CreateFileAsync(dir, "f");
        var sub = await Tree.CreateDirectoryAsync(Caller.Root, dir, "sub", Octal(755), ChangeContext.Anonymous, default);
        await Tree.CreateFileAsync(sub.Value, "inside");

        Assert.Equal(FsStatus.Ok, await Tree.RemoveAsync(Caller.Root, dir, "f", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.NotEmpty, await Tree.RemoveAsync(Caller.Root, dir, "sub", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.Ok, await Tree.RemoveAsync(Caller.Root, sub.Value, "inside", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.Ok, await Tree.RemoveAsync(Caller.Root, dir, "sub", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.NotFound, await Tree.RemoveAsync(Caller.Root, dir, "f", ChangeContext.Anonymous, default));
        Assert.Empty(Tree.ListAll(dir, 10));
    }

    [Fact]
    public async Task Symlink_is_stored_as_given_and_read_back()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();

        var link = await Tree.CreateSymlinkAsync(Caller.Root, dir, "l", "../some/where"u8.ToArray(), ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.Ok, link.Status);
        Assert.Equal("../some/where"u8.ToArray(), Tree.ReadLink(Caller.Root, link.Value).Value);
        Assert.Equal(FileType.Symlink, Tree.Attributes(link.Value).Type);
        Assert.Equal(link.Value, Tree.LookupOk(dir, "l"));
    }

    [Fact]
    public async Task SetAttributes_with_a_size_truncates_and_extends_the_file()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");
        await Tree.WriteTextAsync(file, "0123456789");

        var shrunk = await Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 4), ChangeContext.Anonymous, default);
        Assert.Equal(4UL, shrunk.Value.Size);
        Assert.Equal("0123", Tree.ReadText(file));

        var grown = await Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 6), ChangeContext.Anonymous, default);
        Assert.Equal(6UL, grown.Value.Size);
        Assert.Equal("0123\0\0", Tree.ReadText(file));
    }

    [Fact]
    public async Task SetAttributes_sets_mode_and_times()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");
        var atime = new FsTime(1_000_000_000, 5);
        var mtime = new FsTime(1_500_000_000, 123_456_789);

        var set = await Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Mode: Octal(4751), AccessTime: atime, ModifyTime: mtime), ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.Ok, set.Status);
        Assert.Equal(Octal(4751), set.Value.Mode);
        Assert.Equal(atime, set.Value.AccessTime);
        Assert.Equal(mtime, set.Value.ModifyTime);
    }

    [Fact]
    public async Task Change_attribute_moves_after_a_write_and_after_a_chmod()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");
        ulong created = Tree.Attributes(file).Change;

        await Tree.WriteTextAsync(file, "x");
        ulong afterWrite = Tree.Attributes(file).Change;
        await Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Mode: Octal(600)), ChangeContext.Anonymous, default);
        ulong afterChmod = Tree.Attributes(file).Change;

        Assert.NotEqual(created, afterWrite);
        Assert.NotEqual(afterWrite, afterChmod);
        Assert.Equal(afterChmod, Tree.Attributes(file).Change); // and stays put when nothing changes
    }

    [Fact]
    public void Root_attributes_and_file_system_figures_are_available()
    {
        FileAttributes root = Tree.Attributes(Tree.RootHandle);
        var stats = Tree.GetFileSystemStats(Tree.RootHandle);

        Assert.Equal(FileType.Directory, root.Type);
        Assert.Equal(FsStatus.Ok, stats.Status);
        Assert.True(stats.Value.TotalBytes > 0 && stats.Value.FreeBytes <= stats.Value.TotalBytes);
        Assert.NotEqual((0UL, 0UL), Tree.FileSystemId);
    }
}
