using System.Globalization;
using Leasehold.Nfs4.Client;
using Leasehold.Nfs4.Client.Rpc;

namespace Leasehold.IntegrationTests;

/// <summary>
/// AUTH_SYS uid 1000 against directories made on disk by root: mode bits decide, and what the user creates is the
/// user's on disk. (The test process is root; the server acts for the caller, not for itself.)
/// </summary>
public sealed class PermissionTests(ServerFixture fx) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private const uint User = 1000, Group = 1000;
    private const UnixFileMode Mode0755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
    private const UnixFileMode Mode0777 = Mode0755 | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    private Nfs4Session _user = null!;

    public async Task InitializeAsync() => _user = await fx.ConnectAsync(RpcAuth.Sys(User, Group));

    public async Task DisposeAsync() => await _user.DisposeAsync();

    private async Task<(FileHandle Handle, string Path)> RootOwnedDirectoryAsync(UnixFileMode mode)
    {
        string name = ServerFixture.NewName("perm");
        string path = Disk.MakeDirectory(Path.Join(fx.ExportPath, name), mode);
        var root = (await _user.LookupPathAsync("").Bounded()).ValueOrThrow();
        return ((await _user.LookupAsync(root, name).Bounded()).ValueOrThrow(), path);
    }

    [Fact]
    public async Task Creating_in_a_root_owned_0755_directory_is_ACCESS_and_makes_nothing()
    {
        var (dir, path) = await RootOwnedDirectoryAsync(Mode0755);

        Assert.Equal(NfsStat4.Access, (await _user.CreateAsync(dir, "file").Bounded()).Status);
        Assert.Equal(NfsStat4.Access, (await _user.MkdirAsync(dir, "sub").Bounded()).Status);
        Assert.Equal(NfsStat4.Access, (await _user.SymlinkAsync(dir, "link", "target").Bounded()).Status);
        Assert.Empty(Directory.GetFileSystemEntries(path));

        // Reading the directory is allowed (r-x for others).
        Assert.True((await _user.ReadDirAsync(dir).Bounded()).IsOk);
    }

    [Fact]
    public async Task Removing_or_renaming_in_a_root_owned_0755_directory_is_ACCESS()
    {
        var (dir, path) = await RootOwnedDirectoryAsync(Mode0755);
        await File.WriteAllTextAsync(Path.Join(path, "roots"), "root's file");

        Assert.Equal(NfsStat4.Access, (await _user.RemoveAsync(dir, "roots").Bounded()).Status);
        Assert.Equal(NfsStat4.Access, (await _user.RenameAsync(dir, "roots", dir, "mine").Bounded()).Status);
        Assert.True(File.Exists(Path.Join(path, "roots")));
    }

    [Fact]
    public async Task Opening_a_root_owned_0644_file_for_write_is_ACCESS()
    {
        var (dir, path) = await RootOwnedDirectoryAsync(Mode0755);
        string file = Path.Join(path, "readonly");
        await File.WriteAllTextAsync(file, "root's");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        Assert.Equal(NfsStat4.Access, (await _user.OpenAsync(dir, "readonly", ShareAccess.Write).Bounded()).Status);
        var reader = (await _user.OpenAsync(dir, "readonly", ShareAccess.Read).Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Access, (await _user.WriteAsync(reader.FileHandle, StateId.Anonymous, 0, ServerFixture.Bytes("x")).Bounded()).Status);
        Assert.True((await _user.CloseAsync(reader.FileHandle, reader.StateId).Bounded()).IsOk);
        Assert.Equal("root's", await File.ReadAllTextAsync(file));
    }

    [Fact]
    public async Task Files_and_directories_made_by_uid_1000_in_a_0777_directory_are_owned_by_1000_on_disk()
    {
        var (dir, path) = await RootOwnedDirectoryAsync(Mode0777);

        var f = (await _user.CreateAsync(dir, "mine", new SetAttributes { Mode = Convert.ToUInt32("640", 8) }).Bounded()).ValueOrThrow();
        Assert.True((await _user.WriteAsync(f.FileHandle, f.StateId, 0, ServerFixture.Bytes("user data")).Bounded()).IsOk);
        Assert.True((await _user.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);
        var sub = (await _user.MkdirAsync(dir, "mydir").Bounded()).ValueOrThrow();

        var file = Disk.Stat(Path.Join(path, "mine"));
        Assert.Equal((User, Group), (file.Uid, file.Gid));
        Assert.Equal(Convert.ToUInt32("640", 8), file.Mode & 0xFFF); // exactly as asked: the server's umask does not apply
        var directory = Disk.Stat(Path.Join(path, "mydir"));
        Assert.Equal((User, Group), (directory.Uid, directory.Gid));
        var attrs = (await _user.GetAttrAsync(sub, AttrBitmap.Of(FileAttr.Owner, FileAttr.OwnerGroup)).Bounded()).ValueOrThrow();
        Assert.Equal(User.ToString(CultureInfo.InvariantCulture), attrs.Owner);

        // Another user, neither owner nor in the group, may not read the 0640 file.
        await using var other = await fx.ConnectAsync(RpcAuth.Sys(2000, 2000));
        Assert.Equal(NfsStat4.Access, (await other.OpenAsync(dir, "mine", ShareAccess.Read).Bounded()).Status);
    }

    [Fact]
    public async Task A_user_may_not_give_a_file_away_or_chmod_a_file_of_someone_else()
    {
        var (dir, path) = await RootOwnedDirectoryAsync(Mode0777);
        var f = (await _user.CreateAsync(dir, "owned").Bounded()).ValueOrThrow();
        Assert.True((await _user.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);

        Assert.Equal(NfsStat4.Perm, (await _user.SetAttrAsync(f.FileHandle, new SetAttributes { Owner = "0" }).Bounded()).Status);
        await File.WriteAllTextAsync(Path.Join(path, "roots"), "x");
        var roots = (await _user.LookupAsync(dir, "roots").Bounded()).ValueOrThrow();
        Assert.Equal(NfsStat4.Perm, (await _user.SetAttrAsync(roots, new SetAttributes { Mode = Convert.ToUInt32("777", 8) }).Bounded()).Status);
        Assert.Equal(User, Disk.Stat(Path.Join(path, "owned")).Uid);
    }

    [Fact]
    public async Task In_a_sticky_1777_directory_a_user_may_not_remove_or_rename_another_users_file()
    {
        var (dir, path) = await RootOwnedDirectoryAsync(Mode0777 | UnixFileMode.StickyBit);
        var f = (await _user.CreateAsync(dir, "users").Bounded()).ValueOrThrow();
        Assert.True((await _user.CloseAsync(f.FileHandle, f.StateId).Bounded()).IsOk);

        await using var other = await fx.ConnectAsync(RpcAuth.Sys(2000, 2000));
        var remove = await other.RemoveAsync(dir, "users").Bounded();
        var rename = await other.RenameAsync(dir, "users", dir, "stolen").Bounded();
        Assert.Contains(remove.Status, new[] { NfsStat4.Access, NfsStat4.Perm });
        Assert.Contains(rename.Status, new[] { NfsStat4.Access, NfsStat4.Perm });
        Assert.True(File.Exists(Path.Join(path, "users")));

        // The owner may.
        Assert.True((await _user.RemoveAsync(dir, "users").Bounded()).IsOk);
    }
}
