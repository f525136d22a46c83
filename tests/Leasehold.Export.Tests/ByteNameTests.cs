using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>
/// Names are byte strings through the tree (<see cref="FileName"/>): whatever bytes a directory holds, the listing
/// gives them back exactly and every name-taking call accepts them. Also the file size limit and reads past the end.
/// </summary>
public sealed class ByteNameTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private LocalDirectoryTree Tree => fixture.Tree;

    private static ChangeContext Context => ChangeContext.Anonymous;

    [Fact]
    public async Task A_name_that_is_not_UTF8_is_created_listed_looked_up_renamed_and_removed_as_its_bytes()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var name = FileName.FromBytes([0xFF]);

        FileHandle file = await Tree.CreateFileAsync(dir, name);
        var entry = Assert.Single(Tree.ListAll(dir, pageSize: 10));
        Assert.Equal(name, entry.Name);
        Assert.Equal(file, Tree.LookupOk(dir, entry.Name));

        var renamed = FileName.FromBytes([0xC3, 0x28]);
        Assert.Equal(FsStatus.Ok, await Tree.RenameAsync(Caller.Root, dir, entry.Name, dir, renamed, Context, default));
        Assert.Equal(FsStatus.NotFound, Tree.Lookup(Caller.Root, dir, name).Status);
        Assert.Equal(FsStatus.Ok, await Tree.RemoveAsync(Caller.Root, dir, renamed, Context, default));
        Assert.Empty(Tree.ListAll(dir, pageSize: 10));
    }

    [Fact]
    public async Task Names_a_lossy_decoding_would_merge_stay_apart()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileName[] names = [FileName.FromBytes([0xFF]), FileName.FromBytes([0xFE]), "\uFFFD"];
        foreach (var name in names)
            await Tree.CreateFileAsync(dir, name);

        var listed = Tree.ListAll(dir, pageSize: 10);

        Assert.Equal(names.Order(), listed.Select(e => e.Name).Order());
        Assert.Equal(3, listed.Select(e => e.Attributes.FileId).Distinct().Count());
        foreach (var entry in listed) // by the tree: System.IO (the fixture's cleanup) cannot name them
            Assert.Equal(FsStatus.Ok, await Tree.RemoveAsync(Caller.Root, dir, entry.Name, Context, default));
    }

    [Fact]
    public async Task A_symlink_target_is_stored_and_read_back_as_bytes()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        byte[] target = [0xFF, (byte)'/', 0xE9];

        var link = await Tree.CreateSymlinkAsync(Caller.Root, dir, "l", target, Context, default);

        Assert.Equal(FsStatus.Ok, link.Status);
        Assert.Equal(target, Tree.ReadLink(Caller.Root, link.Value).Value);
        Assert.Equal(FsStatus.Invalid, (await Tree.CreateSymlinkAsync(Caller.Root, dir, "nul", "a\0b"u8.ToArray(), Context, default)).Status);
        Assert.Equal(FsStatus.NameTooLong, (await Tree.CreateSymlinkAsync(Caller.Root, dir, "big", Enumerable.Repeat((byte)'t', 4096).ToArray(), Context, default)).Status);
    }

    [Fact]
    public void A_file_name_compares_and_prints_by_its_bytes()
    {
        Assert.Equal(FileName.FromBytes("abc"u8), (FileName)"abc");
        Assert.NotEqual(FileName.FromBytes([0xFF]), FileName.FromBytes([0xFE]));
        Assert.Equal(@"a\xFFb", FileName.FromBytes([(byte)'a', 0xFF, (byte)'b']).ToString());
        Assert.Equal(@"a\\xFFb", ((FileName)@"a\xFFb").ToString()); // a literal backslash never prints like an escaped byte
        Assert.Equal("é", ((FileName)"é").ToString());
        Assert.True(FileName.FromBytes([0x7F]) < FileName.FromBytes([0x80])); // byte order, as strcmp
    }

    [Fact]
    public async Task Max_file_size_is_the_filesystems_a_write_may_end_there_and_not_one_byte_later()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "big");
        ulong max = Tree.MaxFileSize;
        Assert.InRange(max, 1UL << 32, (ulong)long.MaxValue);

        var last = await Tree.WriteAsync(Caller.Root, file, (long)max - 1, "z"u8.ToArray(), WriteStability.Unstable, Context, default);
        Assert.Equal(FsStatus.Ok, last.Status); // the kernel takes it: the probe is not too high
        Assert.Equal(max, Tree.Attributes(file).Size);

        var beyond = await Tree.WriteAsync(Caller.Root, file, (long)max - 1, "zz"u8.ToArray(), WriteStability.Unstable, Context, default);
        Assert.Equal(FsStatus.FileTooBig, beyond.Status);
        Assert.Equal(max, Tree.Attributes(file).Size); // nothing of the refused write landed
        Assert.Equal(FsStatus.Ok, (await Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Size: 0), Context, default)).Status);
    }

    [Theory]
    [InlineData(10L, 1)]
    [InlineData(long.MaxValue - 5, 100)]
    [InlineData(long.MaxValue, 1)]
    [InlineData(long.MaxValue, 0)]
    public async Task A_read_at_or_past_the_end_is_no_data_and_end_of_file(long offset, int count)
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "ten");
        await Tree.WriteTextAsync(file, "0123456789");

        var read = Tree.Read(Caller.Root, file, offset, new byte[count]);

        Assert.Equal(FsStatus.Ok, read.Status);
        Assert.Equal((0, true), read.Value);
    }
}
