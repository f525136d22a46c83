using Leasehold.Export;
using static Leasehold.Export.Tests.TreeSteps;

namespace Leasehold.Export.Tests;

/// <summary>The server runs as root; these check that it judges a non-root caller by the mode bits, not by itself.</summary>
public sealed class PermissionTests(ExportFixture fixture) : IClassFixture<ExportFixture>
{
    private LocalDirectoryTree Tree => fixture.Tree;

    private static readonly Caller Other = new(2000, 2000, []);

    private async Task<FileHandle> PrivateDirectoryAsync()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var made = await Tree.CreateDirectoryAsync(Caller.Root, dir, "private", Octal(700), ChangeContext.Anonymous, default);
        await Tree.CreateFileAsync(made.Value, "inside", Octal(600));
        return made.Value;
    }

    [Fact]
    public async Task A_user_cannot_look_into_list_or_create_in_a_root_only_directory()
    {
        FileHandle dir = await PrivateDirectoryAsync();

        Assert.Equal(FsStatus.AccessDenied, Tree.Lookup(User, dir, "inside").Status);
        Assert.Equal(FsStatus.AccessDenied, Tree.ReadDirectory(User, dir, 0, 10).Status);
        var create = await Tree.CreateFileAsync(User, dir, "mine", Octal(644), false, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.AccessDenied, create.Status);
        var mkdir = await Tree.CreateDirectoryAsync(User, dir, "mine", Octal(755), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.AccessDenied, mkdir.Status);
        Assert.Equal(FsStatus.AccessDenied, await Tree.RemoveAsync(User, dir, "inside", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.AccessDenied, await Tree.RenameAsync(User, dir, "inside", dir, "moved", ChangeContext.Anonymous, default));
        Assert.Equal((AccessMask)0, Tree.CheckAccess(User, dir, AccessMask.Read | AccessMask.Lookup | AccessMask.Modify).Value);
        Assert.Equal(FsStatus.Ok, Tree.Lookup(Caller.Root, dir, "inside").Status);
    }

    [Fact]
    public async Task A_user_cannot_read_or_write_a_root_only_file()
    {
        FileHandle dir = await PrivateDirectoryAsync();
        FileHandle file = Tree.LookupOk(dir, "inside");

        Assert.Equal(FsStatus.AccessDenied, Tree.Read(User, file, 0, new byte[4]).Status);
        var write = await Tree.WriteAsync(User, file, 0, "x"u8.ToArray(), WriteStability.Unstable, ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.AccessDenied, write.Status);
        var truncate = await Tree.SetAttributesAsync(User, file, new SetAttributes(Size: 0), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.AccessDenied, truncate.Status);
        var chmod = await Tree.SetAttributesAsync(User, file, new SetAttributes(Mode: Octal(777)), ChangeContext.Anonymous, default);
        Assert.Equal(FsStatus.NotPermitted, chmod.Status);
        Assert.Equal(Octal(600), Tree.Attributes(file).Mode);
    }

    [Fact]
    public async Task Files_directories_and_symlinks_a_user_creates_are_owned_by_the_user_with_the_exact_mode()
    {
        var (dir, path) = await fixture.NewDirectoryAsync();

        FileHandle file = await Tree.CreateFileAsync(dir, "file", Octal(666), User); // 0666 survives: no server umask
        var sub = await Tree.CreateDirectoryAsync(User, dir, "dir", Octal(775), ChangeContext.Anonymous, default);
        var link = await Tree.CreateSymlinkAsync(User, dir, "link", "file"u8.ToArray(), ChangeContext.Anonymous, default);

        foreach (FileHandle made in new[] { file, sub.Value, link.Value })
        {
            FileAttributes attributes = Tree.Attributes(made);
            Assert.Equal((1000u, 1000u), (attributes.Uid, attributes.Gid));
        }
        Assert.Equal(Octal(666), Tree.Attributes(file).Mode);
        Assert.Equal(Octal(775), Tree.Attributes(sub.Value).Mode);
        Assert.Equal((UnixFileMode)0b110_110_110, File.GetUnixFileMode(Path.Join(path, "file")));
    }

    [Fact]
    public async Task The_owner_may_chmod_but_not_give_the_file_away_and_may_only_chgrp_to_its_groups()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var member = new Caller(1000, 1000, [1001]);
        FileHandle file = await Tree.CreateFileAsync(dir, "f", Octal(644), member);

        var chmod = await Tree.SetAttributesAsync(member, file, new SetAttributes(Mode: Octal(600)), ChangeContext.Anonymous, default);
        var giveAway = await Tree.SetAttributesAsync(member, file, new SetAttributes(Uid: 2000), ChangeContext.Anonymous, default);
        var toOwnGroup = await Tree.SetAttributesAsync(member, file, new SetAttributes(Gid: 1001), ChangeContext.Anonymous, default);
        var toOtherGroup = await Tree.SetAttributesAsync(member, file, new SetAttributes(Gid: 3000), ChangeContext.Anonymous, default);
        var rootGivesAway = await Tree.SetAttributesAsync(Caller.Root, file, new SetAttributes(Uid: 2000, Gid: 2000), ChangeContext.Anonymous, default);

        Assert.Equal(Octal(600), chmod.Value.Mode);
        Assert.Equal(FsStatus.NotPermitted, giveAway.Status);
        Assert.Equal(1001u, toOwnGroup.Value.Gid);
        Assert.Equal(FsStatus.NotPermitted, toOtherGroup.Status);
        Assert.Equal((2000u, 2000u), (rootGivesAway.Value.Uid, rootGivesAway.Value.Gid));
    }

    [Fact]
    public async Task A_writer_may_set_times_to_now_but_only_the_owner_to_a_given_time()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f", Octal(666));

        var now = await Tree.SetAttributesAsync(User, file, new SetAttributes(ModifyTimeNow: true, AccessTimeNow: true), ChangeContext.Anonymous, default);
        var given = await Tree.SetAttributesAsync(User, file, new SetAttributes(ModifyTime: new FsTime(1, 0)), ChangeContext.Anonymous, default);

        Assert.Equal(FsStatus.Ok, now.Status);
        Assert.Equal(FsStatus.NotPermitted, given.Status);
    }

    [Fact]
    public async Task In_a_sticky_directory_only_the_owner_may_remove_or_rename_a_file()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var sticky = await Tree.CreateDirectoryAsync(Caller.Root, dir, "tmp", Octal(1777), ChangeContext.Anonymous, default);
        await Tree.CreateFileAsync(sticky.Value, "users", Octal(666), User);

        Assert.Equal(FsStatus.NotPermitted, await Tree.RemoveAsync(Other, sticky.Value, "users", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.NotPermitted, await Tree.RenameAsync(Other, sticky.Value, "users", sticky.Value, "taken", ChangeContext.Anonymous, default));
        Assert.Equal(FsStatus.Ok, await Tree.RemoveAsync(User, sticky.Value, "users", ChangeContext.Anonymous, default));
    }

    [Fact]
    public async Task Access_answers_follow_owner_group_and_other_bits()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f", Octal(640), new Caller(1000, 500, []));
        var groupMember = new Caller(1500, 1600, [500]);
        AccessMask all = AccessMask.Read | AccessMask.Modify | AccessMask.Extend | AccessMask.Execute | AccessMask.Lookup | AccessMask.Delete;

        Assert.Equal(AccessMask.Read | AccessMask.Modify | AccessMask.Extend, Tree.CheckAccess(User, file, all).Value);
        Assert.Equal(AccessMask.Read, Tree.CheckAccess(groupMember, file, all).Value);
        Assert.Equal((AccessMask)0, Tree.CheckAccess(Other, file, all).Value);
        // Root may read and write anything, but not execute a file with no x bit.
        Assert.Equal(AccessMask.Read | AccessMask.Modify | AccessMask.Extend, Tree.CheckAccess(Caller.Root, file, all).Value);
        Assert.Equal(AccessMask.Read | AccessMask.Lookup | AccessMask.Modify | AccessMask.Extend | AccessMask.Delete, Tree.CheckAccess(User, dir, all).Value);
    }

    [Fact]
    public async Task A_read_only_export_refuses_every_change()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        FileHandle file = await Tree.CreateFileAsync(dir, "f");
        using LocalDirectoryTree readOnly = fixture.OpenTree(configure: o => o.ReadOnly = true);
        var context = ChangeContext.Anonymous;

        Assert.True(readOnly.IsReadOnly);
        Assert.Equal(FsStatus.ReadOnly, (await readOnly.WriteAsync(Caller.Root, file, 0, new byte[1], WriteStability.FileSync, context, default)).Status);
        Assert.Equal(FsStatus.ReadOnly, (await readOnly.CreateFileAsync(Caller.Root, dir, "g", Octal(644), false, context, default)).Status);
        Assert.Equal(FsStatus.ReadOnly, (await readOnly.CreateDirectoryAsync(Caller.Root, dir, "d", Octal(755), context, default)).Status);
        Assert.Equal(FsStatus.ReadOnly, (await readOnly.CreateSymlinkAsync(Caller.Root, dir, "l", "f"u8.ToArray(), context, default)).Status);
        Assert.Equal(FsStatus.ReadOnly, (await readOnly.LinkAsync(Caller.Root, file, dir, "h", context, default)).Status);
        Assert.Equal(FsStatus.ReadOnly, await readOnly.RemoveAsync(Caller.Root, dir, "f", context, default));
        Assert.Equal(FsStatus.ReadOnly, await readOnly.RenameAsync(Caller.Root, dir, "f", dir, "g", context, default));
        Assert.Equal(FsStatus.ReadOnly, (await readOnly.SetAttributesAsync(Caller.Root, file, new SetAttributes(Mode: Octal(600)), context, default)).Status);
        Assert.Equal(AccessMask.Read, readOnly.CheckAccess(Caller.Root, file, AccessMask.Read | AccessMask.Modify).Value);
        Assert.Equal(FsStatus.Ok, readOnly.Lookup(Caller.Root, dir, "f").Status);
        Assert.Single(readOnly.ListAll(dir, 10));
    }

    [Fact]
    public async Task Root_squash_makes_root_an_anonymous_user_who_owns_what_it_creates()
    {
        var (dir, _) = await fixture.NewDirectoryAsync();
        var options = fixture.Options(o => o.RootSquash = true);
        Caller squashed = options.MapCaller(0, 0, [0, 10]);

        Assert.Equal(new Caller(65534, 65534, [65534, 10]).ToString(), squashed.ToString());
        FileHandle made = await Tree.CreateFileAsync(dir, "f", Octal(644), squashed);
        Assert.Equal((65534u, 65534u), (Tree.Attributes(made).Uid, Tree.Attributes(made).Gid));
        FileHandle privateDir = await PrivateDirectoryAsync();
        Assert.Equal(FsStatus.AccessDenied, Tree.Lookup(squashed, privateDir, "inside").Status);
    }
}
