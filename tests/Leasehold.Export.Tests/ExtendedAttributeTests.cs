using System.Text;
using Leasehold.Export;
using Leasehold.Export.LocalAccess;
using Leasehold.Export.Native;
using Leasehold.Export.Tests.LocalAccess;
using Leasehold.Testing;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>
/// RFC 8276 extended attributes on the local tree: the user.* namespace, on regular files and directories, with the
/// file's permissions, the change gate and a read-only export. /tmp is ext4 here, which keeps user xattrs (a value up to
/// a block, about 4 KiB, without the ea_inode feature).
/// </summary>
public sealed class ExtendedAttributeTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private static readonly ChangeContext Context = new(1, 2, NonBlocking: true);

    private static readonly Caller Other = new(2000, 2000, []);

    private LocalDirectoryTree Tree => fixture.Tree;

    private IExtendedAttributes Xattrs => fixture.Tree.ExtendedAttributes;

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private async Task<(FileHandle File, string Path)> NewFileAsync(uint mode = 0b110_100_100, Caller? owner = null)
    {
        var (dir, dirPath) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f", mode, owner);
        return (file, Path.Join(dirPath, "f"));
    }

    private async Task SetOkAsync(FileHandle file, string name, string value, XattrSetMode mode = XattrSetMode.Either, Caller? caller = null) =>
        Assert.Equal(FsStatus.Ok, await Xattrs.SetAsync(caller ?? Caller.Root, file, name, Bytes(value), mode, Context, default));

    /// <summary>The value stored on disk under <paramref name="fullName"/>, read by the path (null when there is none).</summary>
    private static unsafe string? OnDisk(string path, string fullName)
    {
        byte[] name = Encoding.UTF8.GetBytes(fullName + "\0");
        byte[] value = new byte[4096];
        fixed (byte* n = name)
        fixed (byte* v = value)
        {
            nint length = LibC.getxattr(path, n, v, (nuint)value.Length);
            return length < 0 ? null : Encoding.UTF8.GetString(value, 0, (int)length);
        }
    }

    private static unsafe int SetOnDisk(string path, string fullName, string value)
    {
        byte[] name = Encoding.UTF8.GetBytes(fullName + "\0");
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        fixed (byte* n = name)
        fixed (byte* v = bytes)
            return LibC.setxattr(path, n, v, (nuint)bytes.Length, 0);
    }

    [Fact]
    public async Task A_value_set_is_stored_under_user_dot_and_read_back_then_removed()
    {
        var (file, path) = await NewFileAsync();

        await SetOkAsync(file, "colour", "blue");

        Assert.Equal("blue", OnDisk(path, "user.colour"));
        FsResult<byte[]> got = Xattrs.Get(Caller.Root, file, "colour");
        Assert.Equal(FsStatus.Ok, got.Status);
        Assert.Equal("blue", Encoding.UTF8.GetString(got.Value));

        Assert.Equal(FsStatus.Ok, await Xattrs.RemoveAsync(Caller.Root, file, "colour", Context, default));
        Assert.Null(OnDisk(path, "user.colour"));
        Assert.Equal(FsStatus.NoXattr, Xattrs.Get(Caller.Root, file, "colour").Status);
        Assert.Equal(FsStatus.NoXattr, await Xattrs.RemoveAsync(Caller.Root, file, "colour", Context, default));
    }

    [Fact]
    public async Task An_empty_value_is_a_value()
    {
        var (file, _) = await NewFileAsync();

        Assert.Equal(FsStatus.Ok, await Xattrs.SetAsync(Caller.Root, file, "empty", ReadOnlyMemory<byte>.Empty, XattrSetMode.Create, Context, default));

        FsResult<byte[]> got = Xattrs.Get(Caller.Root, file, "empty");
        Assert.Equal(FsStatus.Ok, got.Status);
        Assert.Empty(got.Value);
    }

    [Fact]
    public async Task Create_refuses_an_existing_name_and_replace_a_missing_one()
    {
        var (file, _) = await NewFileAsync();

        Assert.Equal(FsStatus.NoXattr, await Xattrs.SetAsync(Caller.Root, file, "a", Bytes("1"), XattrSetMode.Replace, Context, default));
        await SetOkAsync(file, "a", "1", XattrSetMode.Create);
        Assert.Equal(FsStatus.Exists, await Xattrs.SetAsync(Caller.Root, file, "a", Bytes("2"), XattrSetMode.Create, Context, default));
        Assert.Equal("1", Encoding.UTF8.GetString(Xattrs.Get(Caller.Root, file, "a").Value));

        await SetOkAsync(file, "a", "3", XattrSetMode.Replace);
        await SetOkAsync(file, "a", "4", XattrSetMode.Either);
        Assert.Equal("4", Encoding.UTF8.GetString(Xattrs.Get(Caller.Root, file, "a").Value));
    }

    [Fact]
    public async Task Names_are_checked_with_the_prefix_counted()
    {
        var (file, _) = await NewFileAsync();
        string longest = new('n', 255 - "user.".Length);

        Assert.Equal(FsStatus.InvalidName, await Xattrs.SetAsync(Caller.Root, file, "", Bytes("v"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.InvalidName, await Xattrs.SetAsync(Caller.Root, file, "a\0b", Bytes("v"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.NameTooLong, await Xattrs.SetAsync(Caller.Root, file, longest + "n", Bytes("v"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.NameTooLong, Xattrs.Get(Caller.Root, file, longest + "n").Status);
        Assert.Equal(FsStatus.InvalidName, await Xattrs.RemoveAsync(Caller.Root, file, "", Context, default));

        await SetOkAsync(file, longest, "v");
        Assert.Equal("v", Encoding.UTF8.GetString(Xattrs.Get(Caller.Root, file, longest).Value));
    }

    [Fact]
    public async Task A_value_over_the_limit_is_too_big_before_the_gate_is_asked()
    {
        var gate = new RecordingGate();
        using var tree = fixture.OpenTree(gate);
        var (file, _) = await NewFileAsync();

        Assert.Equal(65536, tree.ExtendedAttributes.MaxValueSize);
        FsStatus status = await tree.ExtendedAttributes.SetAsync(Caller.Root, file, "big", new byte[65537], XattrSetMode.Either, Context, default);

        Assert.Equal(FsStatus.XattrTooBig, status);
        Assert.Empty(gate.Calls);
        Assert.Equal(FsStatus.NoXattr, tree.ExtendedAttributes.Get(Caller.Root, file, "big").Status);
    }

    [Fact]
    public async Task Listing_pages_by_cookie_within_the_byte_budget_in_name_order()
    {
        var (file, path) = await NewFileAsync();
        foreach (string name in new[] { "e", "bb", "a", "dddd", "ccc" })
            await SetOkAsync(file, name, "v");

        var all = Xattrs.List(Caller.Root, file, 0, 4096);
        Assert.Equal(FsStatus.Ok, all.Status);
        Assert.Equal(["a", "bb", "ccc", "dddd", "e"], all.Value.Names);
        Assert.Equal(5UL, all.Value.NextCookie);
        Assert.True(all.Value.End);

        // Each name costs 4 + its padded length: 8 bytes for each of these. 17 bytes hold two.
        var first = Xattrs.List(Caller.Root, file, 0, 17);
        Assert.Equal(["a", "bb"], first.Value.Names);
        Assert.Equal(2UL, first.Value.NextCookie);
        Assert.False(first.Value.End);
        var second = Xattrs.List(Caller.Root, file, first.Value.NextCookie, 16);
        Assert.Equal(["ccc", "dddd"], second.Value.Names);
        Assert.False(second.Value.End);
        var last = Xattrs.List(Caller.Root, file, second.Value.NextCookie, 16);
        Assert.Equal(["e"], last.Value.Names);
        Assert.Equal(5UL, last.Value.NextCookie);
        Assert.True(last.Value.End);

        var atEnd = Xattrs.List(Caller.Root, file, 5, 16);
        Assert.Equal(FsStatus.Ok, atEnd.Status);
        Assert.Empty(atEnd.Value.Names);
        Assert.True(atEnd.Value.End);
        Assert.Equal(FsStatus.Invalid, Xattrs.List(Caller.Root, file, 6, 16).Status);
        Assert.Equal(FsStatus.XattrTooBig, Xattrs.List(Caller.Root, file, 0, 7).Status);
    }

    [Fact]
    public async Task A_file_without_attributes_lists_nothing_and_ends()
    {
        var (file, _) = await NewFileAsync();

        var listed = Xattrs.List(Caller.Root, file, 0, 8);

        Assert.Equal(FsStatus.Ok, listed.Status);
        Assert.Empty(listed.Value.Names);
        Assert.Equal(0UL, listed.Value.NextCookie);
        Assert.True(listed.Value.End);
    }

    [Fact]
    public async Task Directories_carry_attributes_and_symlinks_are_the_wrong_type()
    {
        var (dir, dirPath) = await fixture.NewDirectoryAsync();
        var link = await Tree.CreateSymlinkAsync(Caller.Root, dir, "l", "target"u8.ToArray(), Context, default);

        await SetOkAsync(dir, "tag", "d");

        Assert.Equal("d", OnDisk(dirPath, "user.tag"));
        Assert.Equal(["tag"], Xattrs.List(Caller.Root, dir, 0, 64).Value.Names);
        Assert.Equal(FsStatus.WrongType, Xattrs.Get(Caller.Root, link.Value, "tag").Status);
        Assert.Equal(FsStatus.WrongType, await Xattrs.SetAsync(Caller.Root, link.Value, "tag", Bytes("x"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.WrongType, Xattrs.List(Caller.Root, link.Value, 0, 64).Status);
    }

    [Fact]
    public async Task Reading_needs_read_permission_and_changing_needs_write_or_ownership()
    {
        var (readable, _) = await NewFileAsync(Octal(644));
        await SetOkAsync(readable, "k", "v");

        Assert.Equal("v", Encoding.UTF8.GetString(Xattrs.Get(Other, readable, "k").Value));
        Assert.Equal(["k"], Xattrs.List(Other, readable, 0, 64).Value.Names);
        Assert.Equal(FsStatus.AccessDenied, await Xattrs.SetAsync(Other, readable, "k", Bytes("w"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.AccessDenied, await Xattrs.RemoveAsync(Other, readable, "k", Context, default));
        Assert.Equal("v", Encoding.UTF8.GetString(Xattrs.Get(Caller.Root, readable, "k").Value));

        var (secret, _) = await NewFileAsync(Octal(600));
        await SetOkAsync(secret, "k", "v");
        Assert.Equal(FsStatus.AccessDenied, Xattrs.Get(Other, secret, "k").Status);
        Assert.Equal(FsStatus.AccessDenied, Xattrs.List(Other, secret, 0, 64).Status);

        // The owner of a file it cannot write may still change its attributes; anyone who may write it may too.
        var (owned, _) = await NewFileAsync(Octal(444), User);
        await SetOkAsync(owned, "k", "mine", caller: User);
        var (shared, _) = await NewFileAsync(Octal(666));
        await SetOkAsync(shared, "k", "anyone", caller: Other);
        Assert.Equal(FsStatus.Ok, await Xattrs.RemoveAsync(Other, shared, "k", Context, default));
    }

    [Fact]
    public async Task On_a_sticky_directory_only_its_owner_changes_attributes()
    {
        var (parent, _) = await fixture.NewDirectoryAsync();
        var sticky = await Tree.CreateDirectoryAsync(Caller.Root, parent, "tmp", Octal(1777), Context, default);

        Assert.Equal(FsStatus.NotPermitted, await Xattrs.SetAsync(Other, sticky.Value, "k", Bytes("v"), XattrSetMode.Either, Context, default));
        await SetOkAsync(sticky.Value, "k", "v");
    }

    [Fact]
    public async Task Changes_ask_the_gate_about_the_file_and_a_refusal_changes_nothing()
    {
        var gate = new RecordingGate();
        using var tree = fixture.OpenTree(gate);
        var (file, path) = await NewFileAsync();
        ulong id = tree.Attributes(file).FileId;

        Assert.Equal(FsStatus.Ok, await tree.ExtendedAttributes.SetAsync(Caller.Root, file, "k", Bytes("v"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.Ok, await tree.ExtendedAttributes.RemoveAsync(Caller.Root, file, "k", Context, default));
        _ = tree.ExtendedAttributes.Get(Caller.Root, file, "k");
        _ = tree.ExtendedAttributes.List(Caller.Root, file, 0, 64);

        Assert.Equal([(id, ChangeKind.ExtendedAttributes), (id, ChangeKind.ExtendedAttributes)], gate.Calls);
        Assert.Equal(0, gate.Outstanding);

        gate.Refusal = ChangeRefusal.RecallPending;
        Assert.Equal(FsStatus.Delay, await tree.ExtendedAttributes.SetAsync(Caller.Root, file, "k", Bytes("v"), XattrSetMode.Either, Context, default));
        Assert.Null(OnDisk(path, "user.k"));
    }

    [Fact]
    public async Task A_change_moves_the_files_change_attribute()
    {
        var (file, _) = await NewFileAsync();
        ulong before = Tree.Attributes(file).Change;

        await SetOkAsync(file, "k", "v");

        Assert.NotEqual(before, Tree.Attributes(file).Change);
    }

    [Fact]
    public async Task A_read_only_export_refuses_changes_but_reads_and_lists()
    {
        var (file, path) = await NewFileAsync();
        await SetOkAsync(file, "k", "v");
        using var readOnly = fixture.OpenTree(configure: o => o.ReadOnly = true);

        Assert.Equal(FsStatus.ReadOnly, await readOnly.ExtendedAttributes.SetAsync(Caller.Root, file, "k", Bytes("w"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.ReadOnly, await readOnly.ExtendedAttributes.RemoveAsync(Caller.Root, file, "k", Context, default));
        Assert.Equal("v", Encoding.UTF8.GetString(readOnly.ExtendedAttributes.Get(Caller.Root, file, "k").Value));
        Assert.Equal(["k"], readOnly.ExtendedAttributes.List(Caller.Root, file, 0, 64).Value.Names);
        Assert.Equal("v", OnDisk(path, "user.k"));
    }

    [Fact]
    public async Task Attributes_of_other_namespaces_are_not_listed()
    {
        var (file, path) = await NewFileAsync();
        await SetOkAsync(file, "mine", "v");
        Assert.Equal(0, SetOnDisk(path, "trusted.hidden", "x"));

        Assert.Equal(["mine"], Xattrs.List(Caller.Root, file, 0, 64).Value.Names);
    }

    [LocalAccessTheory]
    [InlineData(GuardMode.Read)]
    [InlineData(GuardMode.Write)]
    public async Task The_exports_own_changes_under_a_guard_break_nothing_and_are_not_reported(GuardMode mode)
    {
        using var scene = await GuardScene.StartAsync(fixture);
        var (file, path, ino) = await scene.NewFileAsync("data");
        await using var child = await ProbeProcess.StartAsync(holdLeaseBreakTimeShared: true);
        using var guard = scene.GuardOk(file, mode);
        var xattrs = scene.Tree.ExtendedAttributes;

        Assert.Equal(FsStatus.Ok, await xattrs.SetAsync(Caller.Root, file, "k", Bytes("v"), XattrSetMode.Either, Context, default));
        Assert.Equal(FsStatus.Ok, await xattrs.RemoveAsync(Caller.Root, file, "k", Context, default));

        Assert.Equal([mode == GuardMode.Read ? "ACTIVE READ" : "ACTIVE WRITE"], KernelView.Leases(ino));
        // A local process's change after ours is reported; ours, before it, was not (fanotify keeps the order).
        await child.OkAsync($"utimes {path}");
        await scene.Sink.WaitForAsync(ino, LocalAccessKind.AttributesChanged);
        Assert.Single(scene.Sink.Calls);
        Assert.Equal(0, scene.Tree.Watcher!.KernelBreaks);
    }
}
