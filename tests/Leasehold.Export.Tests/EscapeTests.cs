using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>Nothing a client sends may reach above the export root.</summary>
public sealed class EscapeTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private LocalDirectoryTree Tree => fixture.Tree;

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("/etc")]
    [InlineData("../..")]
    [InlineData("nul\0byte")]
    public async Task Names_that_are_not_one_plain_component_are_invalid(string name)
    {
        var (dir, _) = await fixture.NewDirectoryAsync();

        Assert.Equal(FsStatus.InvalidName, Tree.Lookup(Caller.Root, dir, name).Status);
        Assert.Equal(FsStatus.InvalidName, Tree.Lookup(Caller.Root, Tree.RootHandle, name).Status);
        var create = await Tree.CreateFileAsync(Caller.Root, dir, name, Octal(644), false, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.InvalidName, create.Status);
        Assert.Equal(FsStatus.InvalidName, await Tree.RemoveAsync(Caller.Root, dir, name, ChangeContext.Anonymous, default));
    }

    [Fact]
    public void A_string_with_a_lone_surrogate_has_no_name_because_it_has_no_UTF8_form()
    {
        string name = "lone" + (char)0xD800 + "surrogate";

        Assert.Throws<ArgumentException>(() => FileName.FromString(name)); // names are bytes: nothing lossy reaches the tree
    }

    [Fact]
    public async Task Names_longer_than_255_bytes_are_too_long()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();

        Assert.Equal(FsStatus.NameTooLong, Tree.Lookup(Caller.Root, dir, new string('a', 256)).Status);
        Assert.Equal(FsStatus.NameTooLong, Tree.Lookup(Caller.Root, dir, new string('é', 128)).Status); // 256 bytes
        Assert.Equal(FsStatus.NotFound, Tree.Lookup(Caller.Root, dir, new string('é', 127)).Status);
    }

    [Fact]
    public void The_root_has_no_parent_in_the_export()
    {
        Assert.Equal(FsStatus.NotFound, Tree.LookupParent(Caller.Root, Tree.RootHandle).Status);
    }

    [Fact]
    public async Task The_parent_of_a_subdirectory_is_its_directory()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var sub = await Tree.CreateDirectoryAsync(Caller.Root, dir, "sub", Octal(755), ChangeContext.Anonymous, default);

        Assert.Equal(dir, Tree.LookupParent(Caller.Root, sub.Value).Value);
        Assert.Equal(Tree.RootHandle, Tree.LookupParent(Caller.Root, dir).Value);
    }

    [Fact]
    public async Task Lookup_returns_a_symlink_to_the_filesystem_root_itself_and_does_not_follow_it()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        await Tree.CreateSymlinkAsync(Caller.Root, dir, "to-root", "/"u8.ToArray(), ChangeContext.Anonymous, default);

        FileHandle link = Tree.LookupOk(dir, "to-root");

        Assert.Equal(FileType.Symlink, Tree.Attributes(link).Type);
        Assert.Equal("/"u8.ToArray(), Tree.ReadLink(Caller.Root, link).Value);
        Assert.Equal(FsStatus.Symlink, Tree.Lookup(Caller.Root, link, "etc").Status);
        Assert.Equal(FsStatus.NotDirectory, Tree.ReadDirectory(Caller.Root, link, 0, 10).Status);
        Assert.Equal(FsStatus.Symlink, Tree.LookupParent(Caller.Root, link).Status);
    }

    [Fact]
    public async Task A_symlink_pointing_outside_cannot_be_traversed_read_or_written_through()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();
        File.WriteAllText(Path.Join(fixture.OutsidePath, "secret"), "secret");
        File.CreateSymbolicLink(Path.Join(path, "out-dir"), fixture.OutsidePath);
        File.CreateSymbolicLink(Path.Join(path, "out-file"), Path.Join(fixture.OutsidePath, "secret"));

        FileHandle outDir = Tree.LookupOk(dir, "out-dir");
        FileHandle outFile = Tree.LookupOk(dir, "out-file");

        Assert.Equal(FsStatus.Symlink, Tree.Lookup(Caller.Root, outDir, "secret").Status);
        var create = await Tree.CreateFileAsync(Caller.Root, outDir, "planted", Octal(644), false, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.NotDirectory, create.Status);
        Assert.Equal(FsStatus.WrongType, Tree.Read(Caller.Root, outFile, 0, new byte[16]).Status);
        var write = await Tree.WriteAsync(Caller.Root, outFile, 0, "x"u8.ToArray(), WriteStability.Unstable, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.WrongType, write.Status);
        var truncate = await Tree.SetAttributesAsync(Caller.Root, outFile, new SetAttributes(Size: 0), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.Invalid, truncate.Status);
        Assert.Equal("secret", File.ReadAllText(Path.Join(fixture.OutsidePath, "secret")));
        Assert.False(File.Exists(Path.Join(fixture.OutsidePath, "planted")));
    }

    [Fact]
    public async Task Creating_over_a_symlink_does_not_follow_it()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();
        string target = Path.Join(fixture.OutsidePath, "made-through-link");
        File.CreateSymbolicLink(Path.Join(path, "dangling"), target);

        var create = await Tree.CreateFileAsync(Caller.Root, dir, "dangling", Octal(644), exclusive: false, ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.Symlink, create.Status);
        Assert.False(File.Exists(target));
    }
}
